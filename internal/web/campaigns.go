package web

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pubcache"
)

type campaignView struct {
	ID              string                  `json:"id"`
	Slug            string                  `json:"slug"`
	DesignerID      string                  `json:"designer_id"`
	Title           string                  `json:"title"`
	Blurb           string                  `json:"blurb"`
	Story           string                  `json:"story,omitempty"`
	Goal            money.Money             `json:"goal"`
	Currency        string                  `json:"currency"`
	FundingModel    campaign.FundingModel   `json:"funding_model"`
	Deadline        time.Time               `json:"deadline"`
	DeadlineLocal   string                  `json:"deadline_local"`
	Timezone        string                  `json:"timezone"`
	Status          campaign.Status         `json:"status"`
	RejectionReason string                  `json:"rejection_reason,omitempty"`
	LaunchedAt      *time.Time              `json:"launched_at"`
	CreatedAt       time.Time               `json:"created_at"`
	UpdatedAt       time.Time               `json:"updated_at"`
	Pledged         money.Money             `json:"pledged"`
	BackersCount    int64                   `json:"backers_count"`
	Tiers           []tierView              `json:"tiers,omitzero"`
	History         []campaign.HistoryEntry `json:"history,omitempty"`
	Cancellation    *cancellationView       `json:"cancellation,omitempty"`
	Cover           *imageView              `json:"cover"`
	// SurveyDays is how long backers have to answer the survey after success.
	SurveyDays int `json:"survey_days"`
}

// cancellationView tells everyone why a campaign that ran was cancelled and where the money is.
type cancellationView struct {
	At          time.Time    `json:"at"`
	Reason      string       `json:"reason"`
	WindingDown bool         `json:"winding_down"`
	Refunded    money.Money  `json:"refunded"`
	FeesOwed    *money.Money `json:"stripe_fees_owed_by_designer,omitempty"`
}

type tierView struct {
	ID                string                  `json:"id"`
	Title             string                  `json:"title"`
	Description       string                  `json:"description"`
	Kind              campaign.TierKind       `json:"kind"`
	Price             money.Money             `json:"price"`
	Limit             *int64                  `json:"limit"`
	Remaining         *int64                  `json:"remaining,omitempty"`
	BackersCount      int64                   `json:"backers_count"`
	Ships             bool                    `json:"ships"`
	EstimatedDelivery string                  `json:"estimated_delivery,omitempty"`
	Options           []campaign.Option       `json:"options,omitempty"`
	Stock             []stockView             `json:"stock,omitempty"`
	ShippingRates     []campaign.ShippingRate `json:"shipping_rates,omitempty"`
	Sessions          []tierSessionView       `json:"sessions,omitempty"`
	Image             *imageView              `json:"image"`
	// SessionChangeCutoffHours is set when the designer chose a cut-off other than 48 hours.
	SessionChangeCutoffHours *int64 `json:"session_change_cutoff_hours,omitempty"`
}

// tierSessionView is a date of an experience reward with its places left. An online session's link
// is for its backers only, and is not shown here.
type tierSessionView struct {
	campaign.Session
	Remaining int64 `json:"remaining"`
}

func viewSession(t campaign.Tier, s campaign.Session) tierSessionView {
	return tierSessionView{Session: s, Remaining: max(0, t.StockLeft[s.ID])}
}

// stockView is one stocked combination of a tier's options, with what is left of it.
type stockView struct {
	ID        string            `json:"id"`
	Options   map[string]string `json:"options"`
	Limit     int64             `json:"limit"`
	Remaining int64             `json:"remaining"`
}

func viewTier(t campaign.Tier) tierView {
	v := tierView{ID: t.ID, Title: t.Title, Description: t.Description, Kind: t.Kind, Price: t.Price,
		Limit: t.Limit, Remaining: t.Remaining, BackersCount: t.Claimed, Ships: t.Ships, EstimatedDelivery: t.EstimatedDelivery,
		Options: t.Options, ShippingRates: t.ShippingRates, Image: viewImage(t.Image), SessionChangeCutoffHours: t.SessionChangeCutoffHours}
	for _, se := range t.Sessions {
		v.Sessions = append(v.Sessions, viewSession(t, se))
	}
	for _, st := range t.Stock {
		v.Stock = append(v.Stock, stockView{ID: st.ID, Options: st.Options, Limit: st.Limit, Remaining: t.StockLeft[st.ID]})
	}
	return v
}

// viewCampaign shows a campaign. History and rejection reasons are for the owner and admins only.
func viewCampaign(c campaign.Campaign, tiers []campaign.Tier, private bool) campaignView {
	v := campaignView{
		ID: c.ID, Slug: c.Slug, DesignerID: c.DesignerID, Title: c.Title, Blurb: c.Blurb, Story: c.Story,
		Goal: c.Goal, Currency: c.Goal.Currency, FundingModel: c.FundingModel, Deadline: c.Deadline,
		Timezone: c.Timezone, Status: c.Status, LaunchedAt: c.LaunchedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Pledged: money.Money{Amount: c.Pledged, Currency: c.Goal.Currency}, BackersCount: c.BackersCount,
		Cover:      viewImage(c.Cover),
		SurveyDays: cmp.Or(c.SurveyDays, campaign.DefaultSurveyDays),
	}
	if loc, err := time.LoadLocation(c.Timezone); err == nil {
		v.DeadlineLocal = c.Deadline.In(loc).Format(time.RFC3339)
	}
	if tiers != nil {
		v.Tiers = make([]tierView, 0, len(tiers))
		for _, t := range tiers {
			v.Tiers = append(v.Tiers, viewTier(t))
		}
	}
	if cc := c.Cancellation; cc != nil {
		v.Cancellation = &cancellationView{At: cc.At, Reason: cc.Reason, WindingDown: cc.WindingDown,
			Refunded: money.Money{Amount: cc.Refunded, Currency: c.Goal.Currency}}
		if private && cc.StripeFeesOwed > 0 {
			v.Cancellation.FeesOwed = &money.Money{Amount: cc.StripeFeesOwed, Currency: c.Goal.Currency}
		}
	}
	if private {
		v.RejectionReason = c.RejectionReason
		v.History = c.History
	}
	return v
}

// actor is who the session belongs to, as the campaign service knows them; the zero Actor when
// nobody is signed in.
func actor(c *fiber.Ctx) campaign.Actor {
	sess, _ := session(c)
	return campaign.Actor{UserID: sess.UserID, Role: sess.Role}
}

func (s *Server) createCampaign(c *fiber.Ctx) error {
	var in campaign.Fields
	if err := decode(c, &in); err != nil {
		return err
	}
	camp, err := s.campaigns.Create(c.UserContext(), actor(c), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, viewCampaign(camp, []campaign.Tier{}, true))
}

func (s *Server) showCampaign(c *fiber.Ctx) error {
	if anonymous(c) {
		var buf [128]byte
		key := append(append(buf[:0], "api/campaign\x00"...), c.Params("id")...)
		return s.servePublic(c, key, func() pubcache.Loader {
			// Cloned: the loader may outlive the request (see pubcache.Loader).
			return s.publicCampaign(strings.Clone(c.Params("id")))
		})
	}
	d, err := s.campaigns.Show(c.UserContext(), actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	return replyDetail(c, d)
}

func (s *Server) editCampaign(c *fiber.Ctx) error {
	var in campaign.Fields
	if err := decode(c, &in); err != nil {
		return err
	}
	d, err := s.campaigns.Edit(c.UserContext(), actor(c), c.Params("id"), in)
	if err != nil {
		return err
	}
	return replyDetail(c, d)
}

func replyDetail(c *fiber.Ctx, d campaign.Detail) error {
	return reply(c, http.StatusOK, viewCampaign(d.Campaign, d.Tiers, d.Private))
}

type transitionInput struct {
	Reason string `json:"reason"`
}

// transition runs a review step or a cancellation; the campaign service says who may.
func (s *Server) transition(do func(svc *campaign.Service, ctx context.Context, by campaign.Actor, id, reason string) (campaign.Detail, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in transitionInput
		if len(c.Body()) > 0 {
			if err := decode(c, &in); err != nil {
				return err
			}
		}
		d, err := do(s.campaigns, c.UserContext(), actor(c), c.Params("id"), in.Reason)
		if err != nil {
			return err
		}
		return replyDetail(c, d)
	}
}

// pageQuery reads ?limit and ?status (list reads ?cursor). A limit over the maximum is capped,
// not refused.
func (s *Server) pageQuery(c *fiber.Ctx, scope campaign.ListScope) (campaign.ListQuery, error) {
	q := campaign.ListQuery{Scope: scope, Limit: s.cfg.DefaultPageSize, Status: campaign.Status(c.Query("status"))}
	if v := c.Query("limit"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 {
			return q, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid parameters.",
				Fields: []backstitch.FieldError{{Field: "limit", Code: "invalid", Message: "limit must be a whole number of at least 1"}}}
		}
		q.Limit = min(n, s.cfg.MaxPageSize)
	}
	return q, nil
}

type listView struct {
	Data       []campaignView `json:"data"`
	NextCursor *string        `json:"next_cursor"`
}

func (s *Server) list(c *fiber.Ctx, scope campaign.ListScope) error {
	q, err := s.pageQuery(c, scope)
	if err != nil {
		return err
	}
	// A cursor is good for the list it came from only: this route, this designer, this status.
	by := actor(c)
	list := c.Route().Path + "\x00" + by.UserID + "\x00" + string(q.Status)
	cur := c.Query("cursor")
	if cur == "" && scope == campaign.ListPublic && anonymous(c) {
		// The first page is what nearly every visitor asks for; later pages go to the store.
		// The status is cloned: the loader may outlive the request (see pubcache.Loader).
		q.Status = campaign.Status(strings.Clone(string(q.Status)))
		key := "api/list\x00" + list + "\x00" + strconv.Itoa(q.Limit)
		return s.servePublic(c, []byte(key), func() pubcache.Loader {
			return func(ctx context.Context) (pubcache.Response, []string, error) {
				out, err := s.listPage(ctx, by, q, list)
				if err != nil {
					return pubcache.Response{}, nil, err
				}
				return renderJSON(out, tagLists)
			}
		})
	}
	if cur != "" {
		if q.After, err = s.decodeCursor(c.UserContext(), list, cur); err != nil {
			return err
		}
	}
	out, err := s.listPage(c.UserContext(), by, q, list)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, out)
}

// listPage reads one page of a list and signs the cursor to the next.
func (s *Server) listPage(ctx context.Context, by campaign.Actor, q campaign.ListQuery, list string) (listView, error) {
	page, err := s.campaigns.List(ctx, by, q)
	if err != nil {
		return listView{}, err
	}
	out := listView{Data: make([]campaignView, 0, len(page.Campaigns))}
	if page.Last != nil {
		next, err := s.encodeCursor(ctx, list, *page.Last)
		if err != nil {
			return listView{}, err
		}
		out.NextCursor = &next
	}
	for _, camp := range page.Campaigns {
		out.Data = append(out.Data, viewCampaign(camp, nil, page.Private))
	}
	return out, nil
}

// listCampaigns is the public list: live campaigns by default, or other public statuses.
func (s *Server) listCampaigns(c *fiber.Ctx) error { return s.list(c, campaign.ListPublic) }

// adminListCampaigns is the review queue: campaigns in review by default, any status on request.
func (s *Server) adminListCampaigns(c *fiber.Ctx) error { return s.list(c, campaign.ListReview) }

// myCampaigns lists the signed-in designer's campaigns in every status, newest first.
func (s *Server) myCampaigns(c *fiber.Ctx) error { return s.list(c, campaign.ListMine) }
