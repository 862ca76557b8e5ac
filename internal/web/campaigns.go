package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
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
}

type tierView struct {
	ID                string            `json:"id"`
	Title             string            `json:"title"`
	Description       string            `json:"description"`
	Kind              campaign.TierKind `json:"kind"`
	Price             money.Money       `json:"price"`
	Limit             *int64            `json:"limit"`
	Remaining         *int64            `json:"remaining,omitempty"`
	BackersCount      int64             `json:"backers_count"`
	Ships             bool              `json:"ships"`
	EstimatedDelivery string            `json:"estimated_delivery,omitempty"`
}

func viewTier(t campaign.Tier) tierView {
	return tierView{ID: t.ID, Title: t.Title, Description: t.Description, Kind: t.Kind, Price: t.Price,
		Limit: t.Limit, Remaining: t.Remaining, BackersCount: t.Claimed, Ships: t.Ships, EstimatedDelivery: t.EstimatedDelivery}
}

// viewCampaign shows a campaign. History and rejection reasons are for the owner and admins only.
func viewCampaign(c campaign.Campaign, tiers []campaign.Tier, private bool) campaignView {
	v := campaignView{
		ID: c.ID, Slug: c.Slug, DesignerID: c.DesignerID, Title: c.Title, Blurb: c.Blurb, Story: c.Story,
		Goal: c.Goal, Currency: c.Goal.Currency, FundingModel: c.FundingModel, Deadline: c.Deadline,
		Timezone: c.Timezone, Status: c.Status, LaunchedAt: c.LaunchedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Pledged: money.Money{Amount: c.Pledged, Currency: c.Goal.Currency}, BackersCount: c.BackersCount,
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
	if private {
		v.RejectionReason = c.RejectionReason
		v.History = c.History
	}
	return v
}

func actorOf(sess account.Session) string { return string(sess.Role) + ":" + sess.UserID }

func (s *Server) createCampaign(c *fiber.Ctx) error {
	var in campaign.Fields
	if err := decode(c, &in); err != nil {
		return err
	}
	sess, _ := session(c)
	camp, err := campaign.New(in, sess.UserID, s.now(), s.rules)
	if err != nil {
		return err
	}
	camp, err = s.store.CreateCampaign(c.UserContext(), camp)
	if err != nil {
		return err
	}
	zerolog.Ctx(c.UserContext()).Info().Str("campaign_id", camp.ID).Msg("campaign created")
	return reply(c, http.StatusCreated, viewCampaign(camp, []campaign.Tier{}, true))
}

// findForRead finds a campaign by id or slug that the caller may see: anyone sees public
// campaigns; only the owner and admins see the others, and to everyone else they do not exist.
func (s *Server) findForRead(c *fiber.Ctx) (campaign.Campaign, bool, error) {
	ref := c.Params("id")
	var camp campaign.Campaign
	var err error
	if backstitch.IsID("cam", ref) {
		camp, err = s.store.FindCampaign(c.UserContext(), ref)
	} else {
		camp, err = s.store.FindCampaignBySlug(c.UserContext(), ref)
	}
	if err != nil {
		return camp, false, err
	}
	sess, _ := session(c)
	private := sess.Role == account.RoleAdmin || (sess.UserID != "" && sess.UserID == camp.DesignerID)
	if !private && !camp.Status.Public() {
		return camp, false, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
	}
	return camp, private, nil
}

// findForWrite finds a campaign the caller may change. Others' drafts stay invisible (404);
// changing someone else's public campaign is forbidden (403).
func (s *Server) findForWrite(c *fiber.Ctx, allowAdmin bool) (campaign.Campaign, error) {
	sess, _ := session(c)
	camp, err := s.store.FindCampaign(c.UserContext(), c.Params("id"))
	if err != nil {
		return camp, err
	}
	if camp.DesignerID == sess.UserID || (allowAdmin && sess.Role == account.RoleAdmin) {
		return camp, nil
	}
	if camp.Status.Public() || sess.Role == account.RoleAdmin {
		return camp, backstitch.Errorf(backstitch.CodeForbidden, "Only the campaign's designer may do this.")
	}
	return camp, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
}

func (s *Server) showCampaign(c *fiber.Ctx) error {
	camp, private, err := s.findForRead(c)
	if err != nil {
		return err
	}
	tiers, err := s.store.FindTiers(c.UserContext(), camp.ID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewCampaign(camp, tiers, private))
}

func (s *Server) editCampaign(c *fiber.Ctx) error {
	var in campaign.Fields
	if err := decode(c, &in); err != nil {
		return err
	}
	camp, err := s.findForWrite(c, false)
	if err != nil {
		return err
	}
	sess, _ := session(c)
	next, err := camp.Edit(in, actorOf(sess), s.now(), s.rules)
	if err != nil {
		return err
	}
	if next, err = s.store.ReplaceCampaign(c.UserContext(), camp, next); err != nil {
		return err
	}
	return s.replyCampaign(c, next)
}

func (s *Server) replyCampaign(c *fiber.Ctx, camp campaign.Campaign) error {
	tiers, err := s.store.FindTiers(c.UserContext(), camp.ID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewCampaign(camp, tiers, true))
}

type transitionInput struct {
	Reason string `json:"reason"`
}

// transition runs a state change. Submit and launch are the designer's; approve and reject are
// admin routes (the router checks the role); cancel is open to the designer and to admins.
func (s *Server) transition(a campaign.Action) fiber.Handler {
	isAdminAction := a == campaign.ActionApprove || a == campaign.ActionReject
	return func(c *fiber.Ctx) error {
		var in transitionInput
		if len(c.Body()) > 0 {
			if err := decode(c, &in); err != nil {
				return err
			}
		}
		sess, _ := session(c)
		var camp campaign.Campaign
		var err error
		if isAdminAction {
			camp, err = s.store.FindCampaign(c.UserContext(), c.Params("id"))
		} else {
			camp, err = s.findForWrite(c, a == campaign.ActionCancel)
		}
		if err != nil {
			return err
		}
		next, err := camp.Do(a, actorOf(sess), in.Reason, s.now(), s.rules)
		if err != nil {
			return err
		}
		if next, err = s.store.ReplaceCampaign(c.UserContext(), camp, next); err != nil {
			return err
		}
		log := zerolog.Ctx(c.UserContext())
		log.Info().Str("campaign_id", camp.ID).Str("from", string(camp.Status)).Str("to", string(next.Status)).Msg("campaign " + string(a))
		if sess.Role == account.RoleAdmin {
			entry := backstitch.AuditEntry{
				At: s.now(), Actor: sess.UserID, Action: "campaign." + string(a), Target: camp.ID, Reason: in.Reason,
				Before: map[string]string{"status": string(camp.Status)}, After: map[string]string{"status": string(next.Status)},
			}
			if err := s.store.AppendAudit(c.UserContext(), entry); err != nil {
				// The change itself is done and in the campaign's history; a missing audit line must
				// still be noticed, so it is logged as an error for operators.
				log.Error().Err(err).Str("campaign_id", camp.ID).Msg("audit entry not written")
			}
		}
		return s.replyCampaign(c, next)
	}
}

// page reads ?limit and ?cursor for the list named list. A limit over the maximum is capped, not
// refused.
func (s *Server) page(c *fiber.Ctx, list string) (limit int, after *campaign.Campaign, err error) {
	limit = s.cfg.DefaultPageSize
	if v := c.Query("limit"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 {
			return 0, nil, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid parameters.",
				Fields: []backstitch.FieldError{{Field: "limit", Code: "invalid", Message: "limit must be a whole number of at least 1"}}}
		}
		limit = min(n, s.cfg.MaxPageSize)
	}
	if cur := c.Query("cursor"); cur != "" {
		if after, err = s.decodeCursor(c.UserContext(), list, cur); err != nil {
			return 0, nil, err
		}
	}
	return limit, after, nil
}

type listView struct {
	Data       []campaignView `json:"data"`
	NextCursor *string        `json:"next_cursor"`
}

func (s *Server) list(c *fiber.Ctx, f campaign.ListFilter, private bool) error {
	// A cursor is good for the list it came from only.
	list := c.Route().Path + "\x00" + f.DesignerID
	for _, st := range f.Statuses {
		list += "\x00" + string(st)
	}
	var err error
	if f.Limit, f.After, err = s.page(c, list); err != nil {
		return err
	}
	found, err := s.store.ListCampaigns(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := listView{Data: []campaignView{}}
	if len(found) > f.Limit {
		found = found[:f.Limit]
		next, err := s.encodeCursor(c.UserContext(), list, found[len(found)-1])
		if err != nil {
			return err
		}
		out.NextCursor = &next
	}
	for _, camp := range found {
		out.Data = append(out.Data, viewCampaign(camp, nil, private))
	}
	return reply(c, http.StatusOK, out)
}

func statusFilter(c *fiber.Ctx, def campaign.Status, allowed func(campaign.Status) bool) ([]campaign.Status, error) {
	st := campaign.Status(c.Query("status", string(def)))
	if !allowed(st) {
		return nil, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid parameters.",
			Fields: []backstitch.FieldError{{Field: "status", Code: "invalid", Message: fmt.Sprintf("this list does not offer status %q", st)}}}
	}
	return []campaign.Status{st}, nil
}

// listCampaigns is the public list: live campaigns by default, or other public statuses.
func (s *Server) listCampaigns(c *fiber.Ctx) error {
	statuses, err := statusFilter(c, campaign.StatusLive, campaign.Status.Public)
	if err != nil {
		return err
	}
	return s.list(c, campaign.ListFilter{Statuses: statuses}, false)
}

// adminListCampaigns is the review queue: campaigns in review by default, any status on request.
func (s *Server) adminListCampaigns(c *fiber.Ctx) error {
	statuses, err := statusFilter(c, campaign.StatusInReview, func(st campaign.Status) bool {
		return st.Public() || st == campaign.StatusDraft || st == campaign.StatusInReview || st == campaign.StatusApproved || st == campaign.StatusCancelled
	})
	if err != nil {
		return err
	}
	return s.list(c, campaign.ListFilter{Statuses: statuses}, true)
}

// myCampaigns lists the signed-in designer's campaigns in every status, newest first.
func (s *Server) myCampaigns(c *fiber.Ctx) error {
	sess, _ := session(c)
	return s.list(c, campaign.ListFilter{DesignerID: sess.UserID}, true)
}
