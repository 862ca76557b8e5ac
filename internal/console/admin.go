package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/admin"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/templates"
)

// AdminRoutes are the admins' console's routes, listed like Routes.
var AdminRoutes = []string{
	"GET /admin", "GET /admin/campaigns/:id", "POST /admin/campaigns/:id/approve", "POST /admin/campaigns/:id/reject",
	"GET /admin/pledges", "GET /admin/pledges/:id", "GET /admin/pledges/:id/refund", "POST /admin/pledges/:id/refund",
	"POST /admin/pledges/:id/refund/confirm",
	"GET /admin/reconciliations", "POST /admin/reconciliations", "GET /admin/reconciliations/:id",
	"GET /admin/reconciliations/:id/report.csv", "GET /admin/reconciliations/:id/findings/:finding_id",
	"POST /admin/reconciliations/:id/findings/:finding_id/resolve", "POST /admin/reconciliations/:id/findings/:finding_id/resolve/confirm",
	"GET /admin/audit", "GET /admin/audit.csv",
	"GET /admin/users", "POST /admin/users/invite", "GET /admin/users/:id/disable", "POST /admin/users/:id/disable",
}

// Admin is what the admins' console needs beyond the designers': the admin service (refunds,
// reconciliation runs and resolutions, each audited, the same one behind the API) and the store
// it reads pledges and runs from.
type Admin struct {
	Service *admin.Service
	Users   *admin.Users
	Store   AdminStore
}

// AdminStore is what the admins' pages read, and the idempotency records that make a refund
// form submitted twice refund once.
type AdminStore interface {
	FindPledge(ctx context.Context, id string) (pledge.Pledge, error)
	SearchPledges(ctx context.Context, q pledge.Search, limit int) ([]pledge.Pledge, error)
	ListRuns(ctx context.Context, f reconcile.RunFilter) ([]reconcile.Run, error)
	FindRun(ctx context.Context, id string) (reconcile.Run, error)
	FindFinding(ctx context.Context, id string) (reconcile.FindingRecord, error)
	FindFindings(ctx context.Context, f reconcile.FindingFilter) ([]reconcile.FindingRecord, error)
	CountOpenFindings(ctx context.Context, runID string, attempt int) (int64, error)
	FindAudit(ctx context.Context, f backstitch.AuditFilter) ([]backstitch.AuditEntry, error)
	reconcile.ReportStore
	settlement.StateStore
	ReserveIdempotencyKey(ctx context.Context, rec backstitch.IdempotencyRecord) (*backstitch.IdempotencyRecord, error)
	CompleteIdempotencyKey(ctx context.Context, id string, status int, contentType string, body []byte, expiresAt time.Time) error
	ReleaseIdempotencyKey(ctx context.Context, id string) error
}

// adminConsole is the admins' pages' own template set and dependencies.
type adminConsole struct {
	Admin
	engine *templates.Engine
	// dashboard is Stripe's dashboard for the key's mode, "" offline (see LinkStripeDashboard).
	dashboard string
}

func newAdminConsole(a Admin) (adminConsole, error) {
	engine, err := templates.New("admin", locale.Languages, funcs)
	return adminConsole{Admin: a, engine: engine}, err
}

// mountAdmin registers the admins' pages. Every one needs an admin's session (admin); every POST
// is checked against CSRF first.
func (k *Console) mountAdmin(r fiber.Router) {
	get := func(path string, h handler) { r.Get(path, k.page(k.admin(h))) }
	post := func(path string, h handler) { r.Post(path, k.page(k.checkCSRF(k.admin(h)))) }
	get("/admin", k.reviewQueue)
	get("/admin/campaigns/:id", k.reviewPage)
	post("/admin/campaigns/:id/approve", k.approve)
	post("/admin/campaigns/:id/reject", k.reject)
	get("/admin/pledges", k.searchPledges)
	get("/admin/pledges/:id", k.pledgePage)
	get("/admin/pledges/:id/refund", k.refundForm)
	post("/admin/pledges/:id/refund", k.planRefund)
	post("/admin/pledges/:id/refund/confirm", k.confirmRefund)
	get("/admin/reconciliations", k.runsPage)
	post("/admin/reconciliations", k.startRun)
	get("/admin/reconciliations/:id", k.runPage)
	get("/admin/reconciliations/:id/report.csv", k.runReport)
	get("/admin/reconciliations/:id/findings/:finding_id", k.findingPage)
	post("/admin/reconciliations/:id/findings/:finding_id/resolve", k.planResolve)
	post("/admin/reconciliations/:id/findings/:finding_id/resolve/confirm", k.confirmResolve)
	get("/admin/audit", k.auditPage)
	get("/admin/audit.csv", k.auditCSV)
	get("/admin/users", k.usersPage)
	post("/admin/users/invite", k.invite)
	get("/admin/users/:id/disable", k.disableForm)
	post("/admin/users/:id/disable", k.disable)
	// An invitation's page: the link is the permission, so no session is asked for; its
	// address carries the token, so it sends no Referer.
	r.Get("/admin/join", noReferrer, k.page(k.joinForm))
	r.Post("/admin/join", noReferrer, k.page(k.checkCSRF(k.join)))
	k.mountAdminCampaigns(r)
}

// admin lets h run only for a signed-in admin: a visitor without a session is sent to log in
// (the same form as designers), a designer is refused and sees nothing of the page.
func (k *Console) admin(h handler) handler { return k.signedIn(account.RoleAdmin, h) }

// adminNotice is the confirmation a redirect after an admin's action asked for.
func (k *Console) adminNotice(r *request) string {
	switch n := r.c.Query("notice"); n {
	case "approved", "rejected", "refunded", "run_started", "resolved", "invited", "disabled", "joined", "settled":
		return r.loc.T("admin.notice." + n)
	}
	return ""
}

// when writes an instant for admins: in UTC (the locale says so), which every admin and
// Stripe's exports share.
func when(r *request, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return r.loc.DateTime(t, time.UTC)
}

// reviewRow is a campaign waiting for review.
type reviewRow struct {
	Title, Href, Designer, Goal, Submitted string
}

type reviewQueueView struct {
	base
	Campaigns []reviewRow
}

// reviewQueue lists the campaigns in review, oldest first, so none waits behind newer ones.
func (k *Console) reviewQueue(r *request) (view, error) {
	ctx := r.c.UserContext()
	v := reviewQueueView{base: r.base}
	v.Title = r.loc.T("admin.review.title")
	v.Notice = k.adminNotice(r)
	q := campaign.ListQuery{Scope: campaign.ListReview, Status: campaign.StatusInReview, Limit: dashboardPage}
	for {
		page, err := k.campaigns.List(ctx, r.actor(), q)
		if err != nil {
			return view{}, err
		}
		for _, c := range page.Campaigns {
			name, err := k.accounts.PublicName(ctx, c.DesignerID)
			if err != nil {
				return view{}, err
			}
			v.Campaigns = append(v.Campaigns, reviewRow{Title: c.Title, Href: reviewHref(c.ID), Designer: name,
				Goal: r.loc.Money(c.Goal), Submitted: when(r, submittedAt(c))})
		}
		if page.Last == nil {
			break
		}
		q.After = page.Last
	}
	slices.Reverse(v.Campaigns)
	return view{name: "admin_review_queue", data: v}, nil
}

func reviewHref(id string) string { return "/admin/campaigns/" + url.PathEscape(id) }

// submittedAt is when the campaign last went to review.
func submittedAt(c campaign.Campaign) time.Time {
	for i := len(c.History) - 1; i >= 0; i-- {
		if c.History[i].To == campaign.StatusInReview {
			return c.History[i].At
		}
	}
	return time.Time{}
}

type reviewView struct {
	base
	Preview previewView
	ID      string
	Status  string
	// StatusKind is the status's code, for its style.
	StatusKind string
	InReview   bool
	Approve    string
	Reject     string
	Reason     string
	Errors     fieldErrors
	Error      string
	// ReviewedAt is when the campaign was last approved or rejected ("" if never); Changed
	// names what changed since then, for a campaign back in review.
	ReviewedAt string
	Changed    []string
	// Seen is what the page shows, as the hashes of what a reviewer judges; approving or
	// rejecting decides about that version only (see campaign.Service.ApproveAsSeen).
	Seen string
	// ChangedWhileOpen names what changed between the page the admin read and her decision,
	// which was therefore refused.
	ChangedWhileOpen []string
}

// reviewPage shows a campaign as backers would see it, with the approve and reject forms while
// it is in review.
func (k *Console) reviewPage(r *request) (view, error) {
	d, err := k.campaigns.Show(r.c.UserContext(), r.actor(), r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	r.Notice = k.adminNotice(r)
	return k.reviewView(r, d, "", nil, "", http.StatusOK)
}

func (k *Console) reviewView(r *request, d campaign.Detail, reason string, errs fieldErrors, msg string, status int) (view, error) {
	name, err := k.accounts.PublicName(r.c.UserContext(), d.Campaign.DesignerID)
	if err != nil {
		return view{}, err
	}
	c := d.Campaign
	v := reviewView{base: r.base, Preview: previewOf(r, d, name), ID: c.ID, Status: r.loc.T("console.status." + string(c.Status)), StatusKind: string(c.Status),
		InReview: c.Status == campaign.StatusInReview, Approve: reviewHref(c.ID) + "/approve", Reject: reviewHref(c.ID) + "/reject",
		Reason: reason, Errors: errs, Error: msg}
	v.Seen = seenToken(campaign.ReviewHashes(c, d.Tiers))
	if changed, ok := c.ChangedSinceReview(d.Tiers); ok && v.InReview {
		v.ReviewedAt = when(r, c.Reviewed.At)
		for _, f := range changed {
			v.Changed = append(v.Changed, r.loc.T("admin.review.field."+f))
		}
	}
	v.Title = c.Title
	return view{status: status, name: "admin_review", data: v}, nil
}

func (k *Console) approve(r *request) (view, error) {
	return k.review(r, (*campaign.Service).ApproveAsSeen, "approved")
}

func (k *Console) reject(r *request) (view, error) {
	return k.review(r, (*campaign.Service).RejectAsSeen, "rejected")
}

// seenToken writes a campaign's review hashes into one form field, in ReviewFields' order.
func seenToken(hashes map[string]string) string {
	parts := make([]string, len(campaign.ReviewFields))
	for i, f := range campaign.ReviewFields {
		parts[i] = hashes[f]
	}
	return strings.Join(parts, ".")
}

// parseSeen reads seenToken's field back; a field that is missing or malformed reads as a
// page that showed nothing, which matches no campaign.
func parseSeen(token string) map[string]string {
	parts := strings.Split(token, ".")
	out := map[string]string{}
	if len(parts) != len(campaign.ReviewFields) {
		return out
	}
	for i, f := range campaign.ReviewFields {
		out[f] = parts[i]
	}
	return out
}

// review approves or rejects through the campaign service, as the API does, but only the
// version of the campaign the page showed: one that changed since (a designer who edited and
// resubmitted it meanwhile) is not decided; the page comes back with what changed. The reason a
// rejection needs is checked by the service, and shown beside its field when missing.
func (k *Console) review(r *request, do func(*campaign.Service, context.Context, campaign.Actor, string, string, map[string]string) (campaign.Detail, error), notice string) (view, error) {
	ctx := r.c.UserContext()
	reason := r.c.FormValue("reason")
	seen := parseSeen(r.c.FormValue("seen"))
	if _, err := do(k.campaigns, ctx, r.actor(), r.c.Params("id"), reason, seen); err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		d, derr := k.campaigns.Show(ctx, r.actor(), r.c.Params("id"))
		if derr != nil {
			return view{}, derr
		}
		errs, msg := fieldsOf(r, err, nil)
		if backstitch.ErrorCode(err) == backstitch.CodeConflict {
			msg = r.loc.T("admin.review.changed_while_open")
		}
		v, verr := k.reviewView(r, d, reason, errs, msg, status)
		if verr != nil || backstitch.ErrorCode(err) != backstitch.CodeConflict {
			return v, verr
		}
		rv := v.data.(reviewView)
		now := campaign.ReviewHashes(d.Campaign, d.Tiers)
		for _, f := range campaign.ReviewFields {
			if seen[f] != now[f] {
				rv.ChangedWhileOpen = append(rv.ChangedWhileOpen, r.loc.T("admin.review.field."+f))
			}
		}
		v.data = rv
		return v, nil
	}
	return view{redirect: "/admin?notice=" + notice}, nil
}
