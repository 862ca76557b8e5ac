package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pubcache"
)

// Public reads (the campaign JSON, the public list's first page, and the pages that render the
// same data) are served from a cache of rendered bytes for anonymous visitors: a campaign that
// goes viral is read thousands of times a second and changes a few times. Signed-in callers
// always go to the store: they may see history, and their list cursors are bound to them.

const (
	// tagLists is carried by every cached list: any campaign's change may reorder or change them.
	tagLists = pubcache.TagLists
	// Bounds of the public cache: a campaign's JSON is a few KiB, a page of a list under 100 KiB.
	publicCacheEntries = 10_000
	publicCacheBytes   = 64 << 20
)

// NewPublicCache makes the cache of rendered public responses the JSON API and the pages share,
// so one invalidation drops a campaign's copies in both.
func NewPublicCache(ttl time.Duration, now func() time.Time) *pubcache.Cache {
	return pubcache.New(pubcache.Options{TTL: ttl, MaxEntries: publicCacheEntries, MaxBytes: publicCacheBytes, Now: now})
}

// publicCacheControl lets browsers and a CDN hold a public response as long as an instance
// would (BACKSTITCH_PUBLIC_CACHE_TTL, at least a second), then revalidate with its ETag.
func publicCacheControl(ttl time.Duration) string {
	return "public, max-age=" + strconv.Itoa(max(1, int((ttl+time.Second-1)/time.Second)))
}

// CampaignChanged drops what the public cache holds of a campaign, and every list. The campaign,
// pledge and settlement services call it after each write that may change a public view.
func (s *Server) CampaignChanged(campaignID string) { s.public.Invalidate(campaignID, tagLists) }

// ProfileChanged drops the cached copies of every campaign of a designer whose profile changed:
// her name and "about the designer" are on their pages, cards and share images. The account
// service calls it after the write; a failure to list them leaves copies that expire with the
// TTL, so it is logged, not returned (the profile is saved).
func (s *Server) ProfileChanged(ctx context.Context, userID string) {
	q := campaign.ListQuery{Scope: campaign.ListMine, Limit: 100}
	for {
		page, err := s.campaigns.List(ctx, campaign.Actor{UserID: userID, Role: account.RoleDesigner}, q)
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("drop cached pages of a changed profile")
			s.public.Invalidate(tagLists)
			return
		}
		for _, c := range page.Campaigns {
			s.public.Invalidate(c.ID)
		}
		if page.Last == nil {
			break
		}
		q.After = page.Last
	}
	s.public.Invalidate(tagLists)
}

// anonymous reports whether the request comes from nobody signed in, and so may be served from the
// public cache.
func anonymous(c *fiber.Ctx) bool {
	_, signedIn := session(c)
	return !signedIn
}

// servePublic answers from the public cache, loading on a miss. key names everything the bytes
// depend on (route, campaign reference, query, language): two requests with the same key must be
// answered with the same bytes. loader is called only when the cache has no fresh copy, so a
// warm hit makes no closure.
func (s *Server) servePublic(c *fiber.Ctx, key []byte, loader func() pubcache.Loader) error {
	r, ok := s.public.Fresh(key)
	if !ok {
		var err error
		if r, err = s.public.Get(c.UserContext(), string(key), loader()); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderCacheControl, s.cacheControl)
	// A shared cache must not hand this to a signed-in owner, who sees more.
	c.Set(fiber.HeaderVary, fiber.HeaderAuthorization)
	c.Set(fiber.HeaderETag, r.ETag)
	if pubcache.ETagMatches(c.Get(fiber.HeaderIfNoneMatch), r.ETag) {
		c.Status(http.StatusNotModified)
		return nil
	}
	c.Set(fiber.HeaderContentType, r.ContentType)
	return c.Send(r.Body)
}

// renderJSON is a loader's rendering of a JSON body.
func renderJSON(v any, tags ...string) (pubcache.Response, []string, error) {
	b, err := jsonMarshal(v)
	if err != nil {
		return pubcache.Response{}, nil, err
	}
	return pubcache.NewResponse(fiber.MIMEApplicationJSONCharsetUTF8, b), tags, nil
}

// anonymousActor is nobody signed in: the campaign service shows it public views only.
var anonymousActor = campaign.Actor{}

// publicCampaign loads the anonymous view of a campaign for the cache.
func (s *Server) publicCampaign(ref string) pubcache.Loader {
	return func(ctx context.Context) (pubcache.Response, []string, error) {
		d, err := s.campaigns.Show(ctx, anonymousActor, ref)
		if err != nil {
			return pubcache.Response{}, nil, err
		}
		return renderJSON(viewCampaign(d.Campaign, d.Tiers, false), d.Campaign.ID)
	}
}
