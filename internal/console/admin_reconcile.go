package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/reconcile"
)

const (
	// runsPage is how many runs the list shows, newest first.
	runsPage = 50
	// findingsPage bounds the findings a run's page lists; the CSV has every row.
	findingsPage = 500
	// runRefresh is how often (seconds) the page of a run not finished yet reloads itself.
	runRefresh = 2
)

func runHref(id string) string { return "/admin/reconciliations/" + url.PathEscape(id) }

func findingHref(runID, id string) string { return runHref(runID) + "/findings/" + url.PathEscape(id) }

// runRow is a run in the list.
type runRow struct {
	ID, Href, Status, StatusKind, Created, Findings string
	Scope                                           scopeView
	Totals                                          []string
}

type runsView struct {
	base
	Runs []runRow
	// The form: a campaign, or a period of days (YYYY-MM-DD, UTC), and what was wrong.
	Campaign, From, To string
	Errors             fieldErrors
	Error              string
	// Pager pages the list: the newest runs, and those older than this page's last.
	Pager pager
}

// runForm is what the start form was sent with.
type runForm struct{ Campaign, From, To string }

func (k *Console) runsPage(r *request) (view, error) {
	r.Notice = k.adminNotice(r)
	return k.runsView(r, runForm{Campaign: r.c.Query("campaign")}, nil, "", http.StatusOK)
}

// runsView lists the runs, newest first, runsPage at a time: the query's "before" is the last
// run of the previous page ("unix-nanoseconds.id", as the audit log pages), so runs created at
// the same instant are neither repeated nor skipped. A position that does not parse starts at
// the top.
func (k *Console) runsView(r *request, form runForm, errs fieldErrors, msg string, status int) (view, error) {
	f := reconcile.RunFilter{Limit: runsPage + 1}
	if ns, id, ok := strings.Cut(r.c.Query("before"), "."); ok && id != "" && len(id) <= 64 {
		if n, err := strconv.ParseInt(ns, 10, 64); err == nil {
			f.Before, f.BeforeID = time.Unix(0, n).UTC(), id
		}
	}
	runs, err := k.admins.Store.ListRuns(r.c.UserContext(), f)
	if err != nil {
		return view{}, err
	}
	v := runsView{base: r.base, Campaign: form.Campaign, From: form.From, To: form.To, Errors: errs, Error: msg}
	v.Title = r.loc.T("admin.runs.title")
	var first, next string
	if f.BeforeID != "" {
		first = "/admin/reconciliations"
	}
	if len(runs) > runsPage {
		runs = runs[:runsPage]
		last := runs[len(runs)-1]
		next = "/admin/reconciliations?" + url.Values{"before": {strconv.FormatInt(last.CreatedAt.UnixNano(), 10) + "." + last.ID}}.Encode()
	}
	v.Pager = newPager(r.loc, runsPager, first, next)
	titles := map[string]string{}
	for _, run := range runs {
		scope, err := k.scopeOf(r, run.Scope, titles)
		if err != nil {
			return view{}, err
		}
		row := runRow{ID: run.ID, Href: runHref(run.ID), Scope: scope, Status: r.loc.T("admin.run_status." + string(run.Status)),
			StatusKind: string(run.Status), Created: when(r, run.CreatedAt)}
		if s := run.Summary; s != nil {
			n := 0
			for _, c := range s.Findings {
				n += c
			}
			row.Findings = r.loc.Plural("admin.findings", int64(n))
			for _, t := range s.Totals {
				row.Totals = append(row.Totals, r.loc.T("admin.runs.gross", r.loc.Money(money.Money{Amount: t.Gross, Currency: t.Currency})))
			}
		}
		v.Runs = append(v.Runs, row)
	}
	return view{status: status, name: "admin_runs", data: v}, nil
}

// scopeView is what a run covers, as a page says it: a campaign, linked to its page, or a period.
type scopeView struct{ Text, Href string }

// scopeOf names a run's scope; titles keeps the campaigns' titles already read for one page.
func (k *Console) scopeOf(r *request, s reconcile.Scope, titles map[string]string) (scopeView, error) {
	switch {
	case s.CampaignID != "":
		title, ok := titles[s.CampaignID]
		if !ok {
			d, err := k.campaigns.Show(r.c.UserContext(), r.actor(), s.CampaignID)
			switch {
			case err == nil:
				title = d.Campaign.Title
			case backstitch.ErrorCode(err) == backstitch.CodeNotFound:
				title = s.CampaignID
			default:
				return scopeView{}, err
			}
			titles[s.CampaignID] = title
		}
		return scopeView{Text: r.loc.T("admin.scope.campaign", title), Href: reviewHref(s.CampaignID)}, nil
	case s.From != nil && s.To != nil:
		return scopeView{Text: r.loc.T("admin.scope.period", when(r, *s.From), when(r, *s.To))}, nil
	}
	return scopeView{}, nil
}

// startRun queues a run, through the admin service (which audits it), for the campaign named by
// its id or address, or for the pledges collected over a period of whole days in UTC (the last
// one included), and shows the run, which reloads itself until it is done. How long a period
// may be is the service's rule; its complaint is shown beside the field.
func (k *Console) startRun(r *request) (view, error) {
	form := runForm{Campaign: strings.TrimSpace(r.c.FormValue("campaign")), From: strings.TrimSpace(r.c.FormValue("from")), To: strings.TrimSpace(r.c.FormValue("to"))}
	refuse := func(errs fieldErrors) (view, error) {
		return k.runsView(r, form, errs, r.loc.T("console.error.fields"), http.StatusUnprocessableEntity)
	}
	var scope reconcile.Scope
	switch {
	case form.Campaign != "" && (form.From != "" || form.To != ""):
		return refuse(fieldErrors{"campaign": r.loc.T("admin.runs.campaign_or_period")})
	case form.Campaign != "":
		d, err := k.campaigns.Show(r.c.UserContext(), r.actor(), form.Campaign)
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return refuse(fieldErrors{"campaign": r.loc.T("admin.runs.campaign_unknown")})
		}
		if err != nil {
			return view{}, err
		}
		scope.CampaignID = d.Campaign.ID
	case form.From == "" && form.To == "":
		return refuse(fieldErrors{"campaign": r.loc.T("admin.runs.campaign_required")})
	default:
		errs := fieldErrors{}
		day := func(field, value string) time.Time {
			t, err := time.Parse(time.DateOnly, value)
			if err != nil {
				errs[field] = r.loc.T("admin.runs.day_invalid")
			}
			return t
		}
		from, to := day("from", form.From), day("to", form.To).AddDate(0, 0, 1)
		if len(errs) > 0 {
			return refuse(errs)
		}
		scope.From, scope.To = &from, &to
	}
	run, err := k.admins.Service.StartRun(r.c.UserContext(), r.sess.UserID, scope)
	if err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		errs, msg := fieldsOf(r, err, nil)
		if _, bad := errs["to"]; bad {
			errs["to"] = r.loc.T("admin.runs.period_out_of_range")
		}
		return k.runsView(r, form, errs, msg, status)
	}
	return view{redirect: runHref(run.ID) + "?notice=run_started"}, nil
}

// totalsRow is one currency's figures, each side's.
type totalsRow struct {
	Currency                                                            string
	Gross, Refunds, Disputes, StripeFees, Net, PlatformFee, Transferred string
	Collected, Refunded, RecordedTransfers                              string
}

// findingRow is a finding in a run's page.
type findingRow struct {
	ID, Href, Pledge, PledgeHref, Database, Stripe, Message, Status, StatusKind string
	Open                                                                        bool
}

// kindGroup is a run's findings of one kind.
type kindGroup struct {
	Kind, Label, Anchor string
	Count               string
	Findings            []findingRow
}

type runView struct {
	base
	ID, Status, StatusKind, Created, Finished, Error, CSV string
	Scope                                                 scopeView
	Done                                                  bool
	Open                                                  string
	Totals                                                []totalsRow
	Kinds                                                 []kindGroup
	// Pager pages the findings, findingsPage at a time, in the order they were found.
	Pager pager
}

// runPage shows a run's totals and its findings by kind; until it has finished, the page reloads.
func (k *Console) runPage(r *request) (view, error) {
	ctx := r.c.UserContext()
	run, err := k.admins.Store.FindRun(ctx, r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	scope, err := k.scopeOf(r, run.Scope, map[string]string{})
	if err != nil {
		return view{}, err
	}
	v := runView{base: r.base, ID: run.ID, Scope: scope, Status: r.loc.T("admin.run_status." + string(run.Status)),
		StatusKind: string(run.Status), Created: when(r, run.CreatedAt), Error: run.Error, Done: run.Status == reconcile.RunCompleted}
	v.Title = r.loc.T("admin.run.title", run.ID)
	v.Notice = k.adminNotice(r)
	if run.FinishedAt != nil {
		v.Finished = when(r, *run.FinishedAt)
	}
	if run.Status == reconcile.RunQueued || run.Status == reconcile.RunRunning {
		v.Refresh = runRefresh
	}
	if !v.Done {
		return view{name: "admin_run", data: v}, nil
	}
	v.CSV = runHref(run.ID) + "/report.csv"
	if s := run.Summary; s != nil {
		for _, t := range s.Totals {
			m := func(n int64) string { return r.loc.Money(money.Money{Amount: n, Currency: t.Currency}) }
			v.Totals = append(v.Totals, totalsRow{Currency: t.Currency, Gross: m(t.Gross), Refunds: m(t.Refunds), Disputes: m(t.Disputes),
				StripeFees: m(t.StripeFees), Net: m(t.Net), PlatformFee: m(t.PlatformFee), Transferred: m(t.Transferred),
				Collected: m(t.Collected), Refunded: m(t.Refunded), RecordedTransfers: m(t.RecordedTransfers)})
		}
	}
	open, err := k.admins.Store.CountOpenFindings(ctx, run.ID, run.Attempt)
	if err != nil {
		return view{}, err
	}
	v.Open = r.loc.Plural("admin.run.open", open)
	// The position is the last finding of the previous page, by its number in the run.
	after, _ := strconv.Atoi(r.c.Query("after"))
	findings, err := k.admins.Store.FindFindings(ctx, reconcile.FindingFilter{RunID: run.ID, Attempt: run.Attempt, AfterSeq: max(after, 0), Limit: findingsPage + 1})
	if err != nil {
		return view{}, err
	}
	var first, next string
	if after > 0 {
		first = runHref(run.ID)
	}
	if len(findings) > findingsPage {
		findings = findings[:findingsPage]
		next = runHref(run.ID) + "?after=" + strconv.Itoa(findings[len(findings)-1].Seq)
	}
	v.Pager = newPager(r.loc, findingsPager, first, next)
	for _, kind := range reconcile.Kinds {
		g := kindGroup{Kind: string(kind), Label: r.loc.T("admin.kind." + string(kind)), Anchor: "kind-" + string(kind)}
		for _, f := range findings {
			if f.Kind == kind {
				g.Findings = append(g.Findings, findingRowOf(r, run.ID, f))
			}
		}
		if len(g.Findings) > 0 {
			// The run's count of the kind, not this page's: a kind can spread over pages.
			n := len(g.Findings)
			if s := run.Summary; s != nil && s.Findings[kind] > n {
				n = s.Findings[kind]
			}
			g.Count = r.loc.Plural("admin.findings", int64(n))
			v.Kinds = append(v.Kinds, g)
		}
	}
	return view{name: "admin_run", data: v}, nil
}

func findingRowOf(r *request, runID string, f reconcile.FindingRecord) findingRow {
	row := findingRow{ID: f.ID, Href: findingHref(runID, f.ID), Pledge: f.PledgeID, Database: sideAmount(r, f.Database), Stripe: sideAmount(r, f.Stripe),
		Message: findingMessage(r, f.Finding), Status: r.loc.T("admin.finding_status." + string(f.Status)), StatusKind: string(f.Status), Open: f.Status == reconcile.FindingOpen}
	if f.PledgeID != "" {
		row.PledgeHref = pledgeHref(f.PledgeID)
	}
	return row
}

// findingMessage writes what a finding found in the admin's language, from the catalogue and
// the message's code and values; a finding stored before findings kept them shows its English.
func findingMessage(r *request, f reconcile.Finding) string {
	if f.MessageCode == "" {
		return f.Message
	}
	args := make([]any, len(f.MessageArgs))
	for i, a := range f.MessageArgs {
		switch {
		case a.Money != nil:
			args[i] = r.loc.Money(*a.Money)
		case a.Time != nil:
			args[i] = when(r, *a.Time)
		case a.Status != "":
			args[i] = r.loc.T("admin.pledge_status." + a.Status)
		default:
			args[i] = a.Text
		}
	}
	return r.loc.T("admin.finding_message."+f.MessageCode, args...)
}

// sideAmount is what one side holds; a side with no currency holds nothing.
func sideAmount(r *request, m money.Money) string {
	if m.Currency == "" {
		return "—"
	}
	return r.loc.Money(m)
}

// runReport sends a completed run's CSV: the browser cannot send the API's bearer token, so the
// console serves the same report behind the admin's session.
func (k *Console) runReport(r *request) (view, error) {
	ctx := r.c.UserContext()
	run, err := k.admins.Store.FindRun(ctx, r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	rd, err := reconcile.OpenReport(ctx, k.admins.Store, run)
	if backstitch.ErrorCode(err) == backstitch.CodeInvalidState {
		return view{redirect: runHref(run.ID)}, nil
	}
	if err != nil {
		return view{}, err
	}
	r.c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	r.c.Set(fiber.HeaderContentDisposition, `attachment; filename="reconciliation-`+run.ID+`.csv"`)
	r.c.Set(fiber.HeaderCacheControl, "no-store")
	return view{stream: rd}, nil
}

// objectRow is one record a finding points at.
type objectRow struct{ Type, ID, Status, Amount, Href string }

type actionOption struct {
	Value, Label, Hint string
	Checked, Applies   bool
}

type findingView struct {
	base
	RunHref, Kind, KindLabel, Message, Database, Stripe, Status, StatusKind string
	Pledge, PledgeHref                                                      string
	Objects                                                                 []objectRow
	Open                                                                    bool
	Resolution                                                              *reconcile.Resolution
	ResolvedAt                                                              string
	Action                                                                  string
	Actions                                                                 []actionOption
	Note                                                                    string
	Errors                                                                  fieldErrors
	Error                                                                   string
	// Confirm is the step that repeats the chosen action before it is carried out.
	Confirm       bool
	ConfirmAction string
	Chosen        string
	ChosenLabel   string
	ChosenHint    string
	Back          string
}

func (k *Console) findFinding(r *request) (reconcile.Run, reconcile.FindingRecord, error) {
	ctx := r.c.UserContext()
	run, err := k.admins.Store.FindRun(ctx, r.c.Params("id"))
	if err != nil {
		return run, reconcile.FindingRecord{}, err
	}
	f, err := k.admins.Store.FindFinding(ctx, r.c.Params("finding_id"))
	if err != nil {
		return run, f, err
	}
	if f.RunID != run.ID {
		return run, f, backstitch.Errorf(backstitch.CodeNotFound, "Finding not found.")
	}
	return run, f, nil
}

func (k *Console) findingPage(r *request) (view, error) {
	run, f, err := k.findFinding(r)
	if err != nil {
		return view{}, err
	}
	return k.findingView(r, run, f, "", "", nil, "", http.StatusOK), nil
}

// actions are the resolutions an admin can choose, the one that fits the finding first.
func actions(r *request, f reconcile.FindingRecord, chosen string) []actionOption {
	if chosen == "" {
		chosen = reconcile.ActionExplained
		if reconcile.Resyncable(f.Kind) && f.PledgeID != "" {
			chosen = reconcile.ActionResync
		} else if f.Kind == reconcile.DuplicateCharge {
			chosen = reconcile.ActionRefundDuplicate
		}
	}
	var out []actionOption
	for _, a := range []string{reconcile.ActionResync, reconcile.ActionRefundDuplicate, reconcile.ActionExplained} {
		out = append(out, actionOption{Value: a, Label: r.loc.T("admin.action." + a), Hint: r.loc.T("admin.action_hint." + a), Checked: a == chosen})
	}
	return out
}

func (k *Console) findingView(r *request, run reconcile.Run, f reconcile.FindingRecord, action, note string, errs fieldErrors, msg string, status int) view {
	v := findingView{base: r.base, RunHref: runHref(run.ID), Kind: string(f.Kind), KindLabel: r.loc.T("admin.kind." + string(f.Kind)), Message: findingMessage(r, f.Finding),
		Database: sideAmount(r, f.Database), Stripe: sideAmount(r, f.Stripe), Status: r.loc.T("admin.finding_status." + string(f.Status)),
		StatusKind: string(f.Status), Pledge: f.PledgeID, Open: f.Status == reconcile.FindingOpen && run.Attempt == f.Attempt,
		Resolution: f.Resolution, Action: findingHref(run.ID, f.ID) + "/resolve", Actions: actions(r, f, action), Note: note, Errors: errs, Error: msg}
	if f.PledgeID != "" {
		v.PledgeHref = pledgeHref(f.PledgeID)
	}
	if f.Resolution != nil {
		v.ResolvedAt = when(r, f.Resolution.At)
	}
	for _, o := range f.Objects {
		row := objectRow{Type: o.Type, ID: o.ID, Status: o.Status, Amount: sideAmount(r, o.Amount)}
		if o.Type == "pledge" {
			row.Href = pledgeHref(o.ID)
		}
		v.Objects = append(v.Objects, row)
	}
	v.Title = r.loc.T("admin.finding.title", v.KindLabel)
	return view{status: status, name: "admin_finding", data: v}
}

// planResolve shows the chosen resolution to confirm; nothing happens yet. What the resolver
// refuses (a note missing, an action that does not fit) comes back from the confirmed step,
// beside its field, so the rules stay the resolver's alone.
func (k *Console) planResolve(r *request) (view, error) {
	run, f, err := k.findFinding(r)
	if err != nil {
		return view{}, err
	}
	action, note := r.c.FormValue("action"), r.c.FormValue("note")
	if !slices.Contains([]string{reconcile.ActionResync, reconcile.ActionRefundDuplicate, reconcile.ActionExplained}, action) {
		return k.findingView(r, run, f, action, note, fieldErrors{"action": r.loc.T("admin.resolve.choose")}, r.loc.T("console.error.fields"), http.StatusUnprocessableEntity), nil
	}
	v := k.findingView(r, run, f, action, note, nil, "", http.StatusOK)
	d := v.data.(findingView)
	d.Confirm, d.ConfirmAction, d.Chosen, d.Back = true, findingHref(run.ID, f.ID)+"/resolve/confirm", action, findingHref(run.ID, f.ID)
	d.ChosenLabel, d.ChosenHint = r.loc.T("admin.action."+action), r.loc.T("admin.action_hint."+action)
	d.Title = r.loc.T("admin.resolve.confirm_title")
	v.data = d
	return v, nil
}

// confirmResolve carries out the resolution through the admin service (which audits it). The
// resolver closes a finding once: the same form sent twice finds it resolved.
func (k *Console) confirmResolve(r *request) (view, error) {
	run, f, err := k.findFinding(r)
	if err != nil {
		return view{}, err
	}
	action, note := r.c.FormValue("action"), r.c.FormValue("note")
	if _, err := k.admins.Service.Resolve(r.c.UserContext(), r.sess.UserID, run.ID, f.ID, reconcile.ResolveRequest{Action: action, Note: note}); err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		if backstitch.ErrorCode(err) == backstitch.CodeInvalidState && f.Status != reconcile.FindingOpen {
			return view{redirect: runHref(run.ID) + "?notice=resolved"}, nil
		}
		errs, msg := fieldsOf(r, err, nil)
		return k.findingView(r, run, f, action, note, errs, msg, status), nil
	}
	return view{redirect: runHref(run.ID) + "?notice=resolved#kind-" + string(f.Kind)}, nil
}
