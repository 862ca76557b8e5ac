// Package update holds a designer's updates to her backers: what a valid update is, who may post
// and read one, and the state of its delivery to backers (the fan-out, which the notify package
// runs). Persistence and HTTP live elsewhere.
package update

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// Visibility says who may read an update. Every update is emailed to the backers either way.
type Visibility string

const (
	// Public updates show on the campaign page and in its Atom feed.
	Public Visibility = "public"
	// Backers updates are read by the backers in their mail (and by the owner and admins).
	Backers Visibility = "backers"
)

// Limits, in characters.
const (
	MaxTitle = 200
	MaxBody  = 20_000
	// MaxList is how many updates a list shows, newest first.
	MaxList = 100
)

// Update is one post of a designer to her campaign's backers.
type Update struct {
	ID         string     `bson:"_id"`
	CampaignID string     `bson:"campaign_id"`
	AuthorID   string     `bson:"author_id"`
	Title      string     `bson:"title"`
	Body       string     `bson:"body"` // Markdown, rendered by the markdown package
	Visibility Visibility `bson:"visibility"`
	CreatedAt  time.Time  `bson:"created_at"`
	FanOut     FanOut     `bson:"fanout"`
}

// FanOut is how far writing an update's messages to the outbox has come. It is claimed by one
// instance at a time (Claim until ClaimUntil) and advanced batch by batch; whoever claims it
// after a crash resumes after Cursor.
type FanOut struct {
	Done bool `bson:"done"`
	// Cursor is the id of the last pledge whose backer's message is written.
	Cursor     string    `bson:"cursor,omitempty"`
	Claim      string    `bson:"claim,omitempty"`
	ClaimUntil time.Time `bson:"claim_until"`
	// Written counts messages written (a resumed batch may count a message again: the outbox
	// keeps one).
	Written int64 `bson:"written"`
}

// Fields is what a designer sends to post an update; nothing else can be set.
type Fields struct {
	Title      string `json:"title"`
	Body       string `json:"body"`
	Visibility string `json:"visibility"`
}

// New checks f and makes the update of campaign c by author.
func New(f Fields, c campaign.Campaign, author string, now time.Time) (Update, error) {
	var errs backstitch.FieldErrors
	u := Update{ID: backstitch.NewID("upd"), CampaignID: c.ID, AuthorID: author, CreatedAt: now,
		Title: backstitch.CheckLine(&errs, "title", f.Title, 1, MaxTitle),
		Body:  backstitch.CheckBlock(&errs, "body", f.Body, 1, MaxBody),
		// Delivery starts at once: the first relay tick finds it unclaimed.
		FanOut: FanOut{ClaimUntil: now}}
	switch Visibility(f.Visibility) {
	case Public, Backers:
		u.Visibility = Visibility(f.Visibility)
	default:
		errs.Add("visibility", "invalid", `visibility must be "public" or "backers"`)
	}
	return u, errs.Err()
}

// Store keeps updates.
type Store interface {
	CreateUpdate(ctx context.Context, u Update) error
	// FindUpdates lists a campaign's updates newest first, only public ones when publicOnly.
	FindUpdates(ctx context.Context, campaignID string, publicOnly bool, limit int) ([]Update, error)
}

// Campaigns is what updates ask of the campaign service: who may see and change a campaign.
type Campaigns interface {
	Show(ctx context.Context, by campaign.Actor, ref string) (campaign.Detail, error)
	FindForOwner(ctx context.Context, by campaign.Actor, id string) (campaign.Campaign, error)
}

// Service posts and lists updates.
type Service struct {
	store     Store
	campaigns Campaigns
	now       backstitch.Clock
	changes   campaign.ChangeNotifier
}

// NewService builds the service.
func NewService(store Store, campaigns Campaigns, now backstitch.Clock) *Service {
	return &Service{store: store, campaigns: campaigns, now: now}
}

// NotifyChanges sets who hears that a campaign's public view changed (a public update shows on
// its page); set before serving.
func (s *Service) NotifyChanges(n campaign.ChangeNotifier) { s.changes = n }

// Post publishes an update of the campaign with this id, by its designer only (admins review
// campaigns, they do not speak for their designers). A campaign nobody can back yet has no one
// to tell: it must have launched.
func (s *Service) Post(ctx context.Context, by campaign.Actor, campaignID string, f Fields) (Update, error) {
	c, err := s.campaigns.FindForOwner(ctx, by, campaignID)
	if err != nil {
		return Update{}, err
	}
	if c.LaunchedAt == nil {
		return Update{}, backstitch.Errorf(backstitch.CodeCampaignNotLive, "Updates can be posted once the campaign has launched.")
	}
	u, err := New(f, c, by.UserID, s.now())
	if err != nil {
		return Update{}, err
	}
	if err := s.store.CreateUpdate(ctx, u); err != nil {
		return Update{}, err
	}
	zerolog.Ctx(ctx).Info().Str("campaign_id", c.ID).Str("update_id", u.ID).Str("visibility", string(u.Visibility)).Msg("update posted")
	if u.Visibility == Public && s.changes != nil {
		s.changes.CampaignChanged(c.ID)
	}
	return u, nil
}

// List is the updates of a campaign (by id or slug) the actor may read: all of them for its
// designer and admins, the public ones for everyone else. A campaign the actor may not see is
// not found.
func (s *Service) List(ctx context.Context, by campaign.Actor, ref string) (campaign.Campaign, []Update, error) {
	d, err := s.campaigns.Show(ctx, by, ref)
	if err != nil {
		return campaign.Campaign{}, nil, err
	}
	us, err := s.store.FindUpdates(ctx, d.Campaign.ID, !d.Private, MaxList)
	return d.Campaign, us, err
}

// Public lists a campaign's public updates, for its page and feed.
func (s *Service) Public(ctx context.Context, campaignID string, limit int) ([]Update, error) {
	return s.store.FindUpdates(ctx, campaignID, true, limit)
}
