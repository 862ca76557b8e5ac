package console

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/settlement"
)

func init() {
	AdminRoutes = append(AdminRoutes, "GET /admin/campaigns", "GET /admin/campaigns/:id/settle", "POST /admin/campaigns/:id/settle")
}

const (
	// campaignsPage is how many campaigns one page of the admins' list shows.
	campaignsPage = 25
	// settleFormTTL is how long a "settle now" confirmation is remembered: the same form sent
	// again within it settles nothing more.
	settleFormTTL = 24 * time.Hour
)

// campaignStatuses are the statuses the admins' list filters by, in a campaign's order of life;
// live first, since that is where campaigns come due.
var campaignStatuses = []campaign.Status{
	campaign.StatusLive, campaign.StatusSucceeded, campaign.StatusFailed, campaign.StatusCancelled,
	campaign.StatusDraft, campaign.StatusInReview, campaign.StatusApproved,
}

func (k *Console) mountAdminCampaigns(r fiber.Router) {
	r.Get("/admin/campaigns", k.page(k.admin(k.campaignsList)))
	r.Get("/admin/campaigns/:id/settle", k.page(k.admin(k.settleForm)))
	r.Post("/admin/campaigns/:id/settle", k.page(k.checkCSRF(k.admin(k.settleNow))))
}

type statusTab struct {
	Label, Href string
	Current     bool
}

type campaignRow struct {
	Title, Href, Designer, Status, StatusKind string
	Goal, Pledged, Deadline                   string
	// State and StateKind are the settlement's step, once the deadline has passed.
	State, StateKind string
	// Settle links to "settle now" when the campaign is due.
	Settle string
}

type campaignsView struct {
	base
	Tabs   []statusTab
	Status string
	Rows   []campaignRow
	Pager  pager
}

// campaignsList lists every campaign of one status, newest first, a page at a time, with its
// settlement's step and "settle now" when it is due.
func (k *Console) campaignsList(r *request) (view, error) {
	ctx := r.c.UserContext()
	st := campaign.Status(r.c.Query("status", string(campaign.StatusLive)))
	known := false
	v := campaignsView{base: r.base, Status: r.loc.T("console.status." + string(st))}
	for _, s := range campaignStatuses {
		known = known || s == st
		v.Tabs = append(v.Tabs, statusTab{Label: r.loc.T("console.status." + string(s)), Href: campaignsHref(s, ""), Current: s == st})
	}
	if !known {
		// A list of a status that does not exist is a page that does not exist.
		return view{}, backstitch.Errorf(backstitch.CodeNotFound, "No campaign status is called that.")
	}
	v.Title = r.loc.T("admin.campaigns.title")
	v.Notice = k.adminNotice(r)
	q := campaign.ListQuery{Scope: campaign.ListReview, Status: st, Limit: campaignsPage}
	var first, next string
	// The position is a campaign an admin may read anyway; one of another status (an edited
	// link, or one that moved on since) would page from the wrong place, so the list starts over.
	if after := r.c.Query("after"); after != "" && len(after) <= 64 {
		if c, err := k.campaigns.FindForOwnerOrAdmin(ctx, r.actor(), after); err == nil && c.Status == st {
			q.After = &c
			first = campaignsHref(st, "")
		} else if backstitch.ErrorCode(err) != backstitch.CodeNotFound && err != nil {
			return view{}, err
		}
	}
	page, err := k.campaigns.List(ctx, r.actor(), q)
	if err != nil {
		return view{}, err
	}
	now := k.now()
	for _, c := range page.Campaigns {
		name, err := k.accounts.PublicName(ctx, c.DesignerID)
		if err != nil {
			return view{}, err
		}
		state, err := settlement.CampaignState(ctx, k.admins.Store, c, now)
		if err != nil {
			return view{}, err
		}
		row := campaignRow{Title: c.Title, Href: reviewHref(c.ID), Designer: name, Status: r.loc.T("console.status." + string(c.Status)),
			StatusKind: string(c.Status), Goal: r.loc.Money(c.Goal), Pledged: r.loc.Money(campaignPledged(c)), Deadline: when(r, c.Deadline)}
		if state != settlement.StateNone {
			row.State, row.StateKind = r.loc.T("console.settlement.state."+string(state)), string(state)
		}
		if settlement.Due(c, now) {
			row.Settle = reviewHref(c.ID) + "/settle"
		}
		v.Rows = append(v.Rows, row)
	}
	if page.Last != nil {
		next = campaignsHref(st, page.Last.ID)
	}
	v.Pager = newPager(r.loc, campaignsPager, first, next)
	return view{name: "admin_campaigns", data: v}, nil
}

func campaignsHref(st campaign.Status, after string) string {
	q := url.Values{"status": {string(st)}}
	if after != "" {
		q.Set("after", after)
	}
	return "/admin/campaigns?" + q.Encode()
}

type settleView struct {
	base
	Row    campaignRow
	Action string
	Key    string
	Back   string
}

// settleForm asks the admin to confirm "settle now" for a campaign that is due; one that is
// not due has nothing to confirm.
func (k *Console) settleForm(r *request) (view, error) {
	c, err := k.campaigns.FindForOwnerOrAdmin(r.c.UserContext(), r.actor(), r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	if !settlement.Due(c, k.now()) {
		return k.message(r, http.StatusConflict, "admin.settle.not_due_title", "admin.settle.not_due_body"), nil
	}
	key, err := newFormKey()
	if err != nil {
		return view{}, err
	}
	name, err := k.accounts.PublicName(r.c.UserContext(), c.DesignerID)
	if err != nil {
		return view{}, err
	}
	state, err := settlement.CampaignState(r.c.UserContext(), k.admins.Store, c, k.now())
	if err != nil {
		return view{}, err
	}
	v := settleView{base: r.base, Action: reviewHref(c.ID) + "/settle", Key: key, Back: campaignsHref(c.Status, ""),
		Row: campaignRow{Title: c.Title, Href: reviewHref(c.ID), Designer: name, Status: r.loc.T("console.status." + string(c.Status)),
			StatusKind: string(c.Status), Goal: r.loc.Money(c.Goal), Pledged: r.loc.Money(campaignPledged(c)), Deadline: when(r, c.Deadline),
			State: r.loc.T("console.settlement.state." + string(state)), StateKind: string(state)}}
	v.Title = r.loc.T("admin.settle.title", c.Title)
	return view{name: "admin_settle", data: v}, nil
}

// settleNow settles the campaign through the admin service — the scheduler's settler, under
// the campaign's lease — once per confirmation: the form's key is reserved first, so the same
// form sent twice settles (and audits) once. A tick holding the lease at that moment makes this
// a conflict that changes nothing and frees the key to try again.
func (k *Console) settleNow(r *request) (view, error) {
	ctx := r.c.UserContext()
	c, err := k.campaigns.FindForOwnerOrAdmin(ctx, r.actor(), r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	key := r.c.FormValue("key")
	if !validFormKey(key) {
		return k.message(r, http.StatusUnprocessableEntity, "admin.settle.unconfirmed_title", "admin.settle.unconfirmed_body"), nil
	}
	var settleErr error
	var rep settlement.Report
	outcome, err := k.once(ctx, hashHex("console:settle", r.sess.UserID, c.ID, key), hashHex(c.ID), settleFormTTL, func() error {
		// Checked inside, so that the confirmation that settled it, sent again, is "done" and
		// not "nothing to settle"; a campaign no longer due is not settled (nor audited) again.
		if !settlement.Due(c, k.now()) {
			settleErr = backstitch.Errorf(backstitch.CodeNotDue, "The campaign has nothing left to settle.")
			return settleErr
		}
		rep, settleErr = k.admins.Service.SettleNow(ctx, r.sess.UserID, c.ID)
		return settleErr
	})
	switch {
	case errors.Is(settleErr, settlement.ErrBusy):
		return k.message(r, http.StatusConflict, "admin.settle.busy_title", "admin.settle.busy_body"), nil
	case backstitch.ErrorCode(settleErr) == backstitch.CodeNotDue:
		return k.message(r, http.StatusConflict, "admin.settle.not_due_title", "admin.settle.not_due_body"), nil
	case err != nil:
		return view{}, err
	case outcome == inFlightOrDifferent:
		return k.message(r, http.StatusConflict, "admin.settle.again_title", "admin.settle.again_body"), nil
	case outcome == ranBefore:
		rep.Status = c.Status
	}
	return view{redirect: campaignsHref(rep.Status, "") + "&notice=settled"}, nil
}

// campaignPledged is what a campaign has pledged, in its currency.
func campaignPledged(c campaign.Campaign) money.Money {
	return money.Money{Amount: c.Pledged, Currency: c.Goal.Currency}
}
