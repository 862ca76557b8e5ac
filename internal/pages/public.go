package pages

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/pubcache"
)

// The home page and campaign pages are the same bytes for every visitor of a language: they are
// rendered once per language into the public cache (shared with the JSON API's, and dropped with
// it when a campaign changes), so a warm hit loads no time zone, parses no template and reads no
// store. What differs per visitor lives outside the body: the attribution cookie is set on the
// response, the countdown and the visitor's time zone are the script's.

// pageRenderer renders a cached page in loc from the route's argument (a slug, or "" for the
// home page). It returns the view, the id of the campaign the page shows (to count its visits;
// "" for none) and the cache tags the page depends on.
type pageRenderer func(ctx context.Context, loc locale.Locale, arg string) (v view, subject string, tags []string, err error)

// movedError is a render's answer that the page lives at another address (a campaign asked for
// by id). It is not cached: ids are not what people share.
type movedError struct{ href string }

func (e *movedError) Error() string { return "moved to " + e.href }

// pageCacheControl lets a CDN hold a page as long as an instance would (s-maxage, at least a
// second), while browsers revalidate each time (cheap: a 304 from the cache), so a backer back
// from pledging sees the page move.
func pageCacheControl(ttl time.Duration) string {
	return "public, max-age=0, s-maxage=" + strconv.Itoa(max(1, int((ttl+time.Second-1)/time.Second)))
}

// cached serves a page from the public cache; param names the route parameter the page takes.
func (p *Pages) cached(kind, param string, render pageRenderer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if lang := c.Query(LanguageCookie); lang != "" {
			return p.switchLanguage(c, lang)
		}
		loc := Negotiate(c)
		// The region is part of the key: fr-CH and fr-FR write amounts differently.
		var buf [160]byte
		key := append(append(append(append(buf[:0], "page:"...), kind...), ':'), loc.FormatName()...)
		key = append(key, ':')
		if param != "" {
			key = append(key, c.Params(param)...)
		}
		resp, ok := p.public.Fresh(key)
		var err error
		if !ok {
			arg := ""
			if param != "" {
				// Cloned: the loader may outlive the request (see pubcache.Loader).
				arg = strings.Clone(c.Params(param))
			}
			resp, err = p.public.Get(c.UserContext(), string(key), func(ctx context.Context) (pubcache.Response, []string, error) {
				return p.renderCached(ctx, loc, arg, render)
			})
		}
		if err != nil {
			if moved, ok := errors.AsType[*movedError](err); ok {
				return c.Redirect(moved.href, http.StatusMovedPermanently)
			}
			return p.fail(p.newRequest(c), err)
		}
		src, remembered := p.remember(c)
		if resp.Subject != "" && resp.Status == 0 && p.visits != nil {
			p.visits.Visit(resp.Subject, src)
		}
		c.Set(fiber.HeaderContentSecurityPolicy, p.csp)
		c.Set(fiber.HeaderVary, "Accept-Language, Cookie")
		c.Set(fiber.HeaderContentLanguage, loc.Lang)
		c.Set(fiber.HeaderETag, resp.ETag)
		if remembered {
			// The body is everyone's, but this response carries one visitor's cookie: no shared
			// cache may keep it.
			c.Set(fiber.HeaderCacheControl, "private, no-cache")
		} else {
			c.Set(fiber.HeaderCacheControl, p.cacheControl)
		}
		if resp.Status == 0 && pubcache.ETagMatches(c.Get(fiber.HeaderIfNoneMatch), resp.ETag) {
			return c.SendStatus(http.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, resp.ContentType)
		status := http.StatusOK
		if resp.Status != 0 {
			status = resp.Status
		}
		return c.Status(status).Send(resp.Body)
	}
}

// renderCached renders a page for the cache. An unknown slug renders the 404 page and is
// remembered too, tagged like a list: asking for it again costs no store read until the TTL or
// any campaign's change (which may have given it that slug) drops it.
func (p *Pages) renderCached(ctx context.Context, loc locale.Locale, arg string, render pageRenderer) (pubcache.Response, []string, error) {
	v, subject, tags, err := render(ctx, loc, arg)
	if e, ok := errors.AsType[*backstitch.Error](err); ok && e.Code == backstitch.CodeNotFound {
		b := cachedBase(loc)
		b.Title = loc.T("notfound.title")
		v, subject, tags, err = view{status: http.StatusNotFound, name: "not_found", data: struct{ base }{b}}, "", []string{pubcache.TagLists}, nil
	}
	if err != nil {
		return pubcache.Response{}, nil, err
	}
	body, err := p.engine.Render(loc.Lang, v.name, v.data)
	if err != nil {
		return pubcache.Response{}, nil, err
	}
	r := pubcache.NewResponse(fiber.MIMETextHTMLCharsetUTF8, body)
	r.Subject = subject
	if v.status != http.StatusOK && v.status != 0 {
		r.Status = v.status
	}
	return r, tags, nil
}

// cachedBase is the common data of a cached page: its language switch carries no query (the
// page's bytes must not depend on one; switchLanguage sends the visitor back to the bare path).
func cachedBase(loc locale.Locale) base { return baseFor(loc, LanguageSwitch(loc, nil)) }

// The attribution cookie remembers where a visitor came from (a share link's ?ref=, a
// designer's utm_ links) for 30 days, so the pledge they make later, on another page or another
// day, is credited to that source. Last source wins. First-party, HttpOnly, SameSite=Lax.
const (
	sourceCookie = "src"
	sourceMaxAge = 30 * 24 * time.Hour
)

// querySource is the source an address names, cleaned.
func querySource(c *fiber.Ctx) pledge.Source {
	return pledge.Source{Ref: c.Query("ref"), UTMSource: c.Query("utm_source"),
		UTMMedium: c.Query("utm_medium"), UTMCampaign: c.Query("utm_campaign")}.Clean()
}

// remember sets the attribution cookie when the address names a source, and returns the
// visit's source (the address's, else the cookie's) and whether a cookie was set.
func (p *Pages) remember(c *fiber.Ctx) (pledge.Source, bool) {
	src := querySource(c)
	if src.Empty() {
		return p.attribution(c), false
	}
	v := url.Values{}
	for k, s := range map[string]string{"ref": src.Ref, "utm_source": src.UTMSource, "utm_medium": src.UTMMedium, "utm_campaign": src.UTMCampaign} {
		if s != "" {
			v.Set(k, s)
		}
	}
	c.Cookie(&fiber.Cookie{Name: sourceCookie, Value: v.Encode(), Path: "/", MaxAge: int(sourceMaxAge.Seconds()),
		HTTPOnly: true, Secure: p.secureCookies, SameSite: fiber.CookieSameSiteLaxMode})
	return src, true
}

// attribution is the source this visitor's cookie remembers (empty when none), cleaned again: a
// cookie is whatever the client sends. The pledge form's POST puts it on the pledge it creates.
func (p *Pages) attribution(c *fiber.Ctx) pledge.Source {
	v, err := url.ParseQuery(c.Cookies(sourceCookie))
	if err != nil {
		return pledge.Source{}
	}
	return pledge.Source{Ref: v.Get("ref"), UTMSource: v.Get("utm_source"), UTMMedium: v.Get("utm_medium"), UTMCampaign: v.Get("utm_campaign")}.Clean()
}
