//go:build !production

package console_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/console"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
)

// mismatch is a campaign whose one pledge Stripe refunded in part from its dashboard while the
// webhook endpoint was down: a run finds a refund_mismatch, resynced by a resolution.
type mismatch struct {
	campaign seed.Campaign
	pledge   pledge.Pledge
}

func (s *site) mismatch(title string) mismatch {
	s.t.Helper()
	ctx := context.Background()
	c, _ := s.flexible(title)
	p := s.collected(c, "Bo Backer")
	d := s.app.Double()
	if err := d.WaitWebhooks(ctx); err != nil {
		s.t.Fatal(err)
	}
	d.SetWebhook("", s.app.WebhookSecret())
	if _, err := d.DashboardRefund(p.ChargeID, 2500); err != nil {
		s.t.Fatal(err)
	}
	return mismatch{campaign: c, pledge: p}
}

// runThroughAPI starts a run of a campaign through the API and waits for it: the console's own
// start is tested on its own.
func (s *site) runThroughAPI(campaignID string) (runID, findingID string) {
	s.t.Helper()
	ctx := context.Background()
	run, err := s.api.Call(ctx, 201, "POST", "/api/v1/admin/reconciliations", s.admin, map[string]any{"campaign_id": campaignID})
	if err != nil {
		s.t.Fatal(err)
	}
	runID = run["id"].(string)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if run, err = s.api.Call(ctx, 200, "GET", "/api/v1/admin/reconciliations/"+runID, s.admin, nil); err != nil {
			s.t.Fatal(err)
		}
		if run["status"] == "completed" {
			fs := run["findings"].([]any)
			if len(fs) != 1 {
				s.t.Fatalf("findings: %v", fs)
			}
			return runID, fs[0].(map[string]any)["id"].(string)
		}
	}
	s.t.Fatalf("run %s did not complete", runID)
	return "", ""
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden reads a page's hidden fields (the confirmation step's), as the browser would send them.
func hidden(body string) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		if m[1] != "csrf_token" {
			out.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return out
}

// adminPaths are AdminRoutes with real ids: a campaign in review, a pledge, a run and its
// finding, and an admin.
func adminPaths(campaignID, pledgeID, runID, findingID, adminID string) map[string]string {
	out := map[string]string{}
	for _, r := range console.AdminRoutes {
		_, pattern, _ := strings.Cut(r, " ")
		out[r] = strings.NewReplacer(":finding_id", findingID).Replace(pattern)
		switch {
		case strings.HasPrefix(pattern, "/admin/campaigns/"):
			out[r] = strings.Replace(out[r], ":id", campaignID, 1)
		case strings.HasPrefix(pattern, "/admin/pledges/"):
			out[r] = strings.Replace(out[r], ":id", pledgeID, 1)
		case strings.HasPrefix(pattern, "/admin/users/"):
			out[r] = strings.Replace(out[r], ":id", adminID, 1)
		default:
			out[r] = strings.Replace(out[r], ":id", runID, 1)
		}
	}
	return out
}

// Every admin page sends a visitor without a session to log in, refuses a designer (403, none of
// the page's data), and every admin form without our CSRF token is refused before it acts.
func TestAdminPagesAreForAdminsOnly(t *testing.T) {
	s := startSite(t, nil)
	m := s.mismatch("Secret scarf")
	runID, findingID := s.runThroughAPI(m.campaign.ID)
	designer := s.visitor("en")
	designer.signUp("Mallory")
	review := designer.createDraft("Draft in review")
	designer.addTier(review, "Coat", "physical", "320")
	if p := designer.post(review, review+"/submit", nil); p.status != 303 {
		t.Fatalf("submit: %d", p.status)
	}
	anon := s.visitor("en")
	adm, admUser := s.signedInAdmin("en")
	paths := adminPaths(campaignID(review), m.pledge.ID, runID, findingID, admUser.ID)
	secrets := []string{m.pledge.Backer.Email, m.pledge.ID, "Secret scarf", "Draft in review", runID, findingID}
	for _, r := range console.AdminRoutes {
		method, _, _ := strings.Cut(r, " ")
		path := paths[r]
		form := url.Values{"reason": {"Hijacked"}, "amount": {"1"}, "action": {"explained"}, "note": {"Hijacked"}, "campaign": {m.campaign.ID},
			"key": {strings.Repeat("a", 32)}, "email": {"mallory@evil.example"}, "confirm": {"yes"}}
		if method == "GET" {
			if p := anon.get(path); p.status != 303 || p.location() != "/designer/login?next="+url.QueryEscape(path) {
				t.Errorf("%s as anonymous: %d %q", r, p.status, p.location())
			}
			p := designer.get(path)
			if p.status != 403 {
				t.Errorf("%s as a designer: %d", r, p.status)
			}
			for _, secret := range secrets {
				if strings.Contains(p.body, secret) {
					t.Errorf("%s shows a designer %q", r, secret)
				}
			}
			continue
		}
		if p := anon.do("POST", path, form); p.status != 403 {
			t.Errorf("%s without a CSRF token: %d", r, p.status)
		}
		if p := adm.do("POST", path, withToken(form, "forged")); p.status != 403 {
			t.Errorf("%s with a forged CSRF token: %d", r, p.status)
		}
		if p := anon.post("/designer/login", path, form); p.status != 303 || p.location() != "/designer/login?next=%2Fadmin" {
			t.Errorf("%s as anonymous with a token: %d %q", r, p.status, p.location())
		}
		if p := designer.post("/designer", path, form); p.status != 403 {
			t.Errorf("%s as a designer: %d", r, p.status)
		}
	}
	// Nothing any of them sent changed anything.
	if p := s.pledge(m.pledge.ID); p.AmountRefunded != 0 || p.Status != pledge.StatusCollected {
		t.Errorf("the pledge changed: %s %d", p.Status, p.AmountRefunded)
	}
	c, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+campaignID(review), designer.cookie("session").Value, nil)
	if err != nil || c["status"] != "in_review" {
		t.Errorf("the campaign in review: %v %v", c["status"], err)
	}
	run, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/admin/reconciliations/"+runID, s.admin, nil)
	if err != nil || run["open_findings"] != float64(1) {
		t.Errorf("the finding: %v %v", run["open_findings"], err)
	}
	if u := s.user(admUser.Email); u.DisabledAt != nil {
		t.Error("the admin was disabled")
	}
	if entries, err := s.store.FindAudit(context.Background(), backstitch.AuditFilter{Action: "admin.invite", Limit: 10}); err != nil || len(entries) != 0 {
		t.Errorf("an invitation was sent: %v %v", entries, err)
	}
	// The invitation's pages need no session; their form needs our token like every other.
	if p := anon.get("/admin/join?token=nothing"); p.status != 410 {
		t.Errorf("an unknown invitation: %d", p.status)
	}
	if p := anon.do("POST", "/admin/join", url.Values{"token": {"nothing"}, "name": {"Mallory"}, "password": {"a long enough password"}}); p.status != 403 {
		t.Errorf("joining without a CSRF token: %d", p.status)
	}
}

func withToken(form url.Values, token string) url.Values {
	out := url.Values{"csrf_token": {token}}
	for k, v := range form {
		out[k] = v
	}
	return out
}

// Admins log in on the designers' form and land on their own console; the page asked for is
// honoured only when it is of the console of whoever logs in.
func TestAdminLogsInOnTheSameFormAndLandsOnTheAdminConsole(t *testing.T) {
	s := startSite(t, nil)
	email := s.newAdmin("Rita")
	designer := s.visitor("en")
	designerEmail := designer.signUp("Ana")
	for _, c := range []struct {
		email, next, want string
	}{
		{email, "", "/admin"}, {email, "/designer", "/admin"}, {email, "/admin/pledges?q=x", "/admin/pledges?q=x"},
		{email, "//evil.example/admin", "/admin"}, {designerEmail, "/admin/pledges", "/designer"},
		{designerEmail, "/designer/campaigns/new", "/designer/campaigns/new"},
	} {
		v := s.visitor("en")
		pw := adminPassword
		if c.email == designerEmail {
			pw = password
		}
		p := v.post("/designer/login", "/designer/login", url.Values{"email": {c.email}, "password": {pw}, "next": {c.next}})
		if p.status != 303 || p.location() != c.want {
			t.Errorf("%s next %q: %d %q, want %q", c.email, c.next, p.status, p.location(), c.want)
		}
	}
}

// An admin reads a campaign in review as backers will see it (hostile text inert), cannot send
// it back without a reason, sends it back with one the designer then reads, and approves it.
func TestAdminReviewsACampaign(t *testing.T) {
	s := startSite(t, nil)
	designer := s.visitor("en")
	designer.signUp("Ana")
	hostile := `Coat <script>alert("title")</script>`
	editor := designer.createDraft(hostile)
	designer.addTier(editor, "Coat", "physical", "320")
	designer.post(editor, editor+"/submit", nil)
	id := campaignID(editor)
	adm := s.adminVisitor("en")
	q := adm.get("/admin")
	if q.status != 200 || !strings.Contains(q.body, `href="/admin/campaigns/`+id+`"`) || !strings.Contains(q.body, "Coat &lt;script&gt;") || strings.Contains(q.body, "<script>alert") {
		t.Fatalf("review queue: %d\n%s", q.status, q.body)
	}
	page := "/admin/campaigns/" + id
	p := adm.get(page)
	for _, want := range []string{"Woven by <strong>hand</strong>.", "Linen coats from Geneva.", "CHF\u00a0320.00", `action="` + page + `/approve"`, `action="` + page + `/reject"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("review page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>alert") {
		t.Error("the title is not escaped")
	}
	noReason := adm.post(page, page+"/reject", url.Values{"reason": {"  "}})
	if noReason.status != 422 || !strings.Contains(noReason.body, `id="reason-error"`) {
		t.Errorf("reject without a reason: %d", noReason.status)
	}
	if r := adm.post(page, page+"/reject", url.Values{"reason": {"Show the <lining>, please."}}); r.status != 303 || r.location() != "/admin?notice=rejected" {
		t.Fatalf("reject: %d %q\n%s", r.status, r.location(), r.body)
	}
	if e := designer.get(editor); !strings.Contains(e.body, "Show the &lt;lining&gt;, please.") {
		t.Error("the designer does not read the reason")
	}
	if r := adm.post(page, page+"/approve", nil); r.status != 409 {
		t.Errorf("approving a draft: %d", r.status)
	}
	designer.post(editor, editor+"/submit", nil)
	if r := adm.post(page, page+"/approve", nil); r.status != 303 {
		t.Fatalf("approve: %d\n%s", r.status, r.body)
	}
	c, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+id, designer.cookie("session").Value, nil)
	if err != nil || c["status"] != "approved" {
		t.Errorf("after approval: %v %v", c["status"], err)
	}
	if q := adm.get("/admin?notice=approved"); strings.Contains(q.body, page) || !strings.Contains(q.body, "Campaign approved") {
		t.Errorf("the approved campaign is still queued")
	}
}

// An admin finds a pledge by its id, the backer's email, its Stripe ids or its campaign, and
// sees its Stripe ids and history.
func TestAdminFindsPledges(t *testing.T) {
	s := startSite(t, nil)
	c, _ := s.flexible("Scarves")
	p := s.collected(c, "Bo")
	other := s.collected(c, "Cy")
	adm := s.adminVisitor("en")
	for _, q := range []string{p.ID, strings.ToUpper(p.Backer.Email), p.PaymentIntentID, p.ChargeID, c.ID, c.Slug} {
		r := adm.get("/admin/pledges?q=" + url.QueryEscape(q))
		if r.status != 200 || !strings.Contains(r.body, `href="/admin/pledges/`+p.ID+`"`) {
			t.Errorf("search %q does not find the pledge", q)
		}
		if found := strings.Contains(r.body, other.ID); found != (q == c.ID || q == c.Slug) {
			t.Errorf("search %q finds the other pledge: %v", q, found)
		}
	}
	if r := adm.get("/admin/pledges?q=nobody%40example.com"); r.status != 200 || !strings.Contains(r.body, "No pledge matches") {
		t.Errorf("a search that finds nothing: %d", r.status)
	}
	page := adm.get("/admin/pledges/" + p.ID)
	for _, want := range []string{p.PaymentIntentID, p.ChargeID, p.Backer.Email, "CHF\u00a0100.00", "Pending → Collected"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("pledge page lacks %q", want)
		}
	}
	// Offline, the ids are the Stripe double's: Stripe's dashboard has never seen them.
	if strings.Contains(page.body, "dashboard.stripe.com") || !strings.Contains(page.body, "<code>"+p.PaymentIntentID+"</code>") {
		t.Errorf("offline, the pledge page links Stripe's dashboard or lacks the id")
	}
	if r := adm.get("/admin/pledges/plg_nothere"); r.status != 404 {
		t.Errorf("an unknown pledge: %d", r.status)
	}
}

// A refund is checked and shown (what the backer gets back, what is left) before it is made; an
// amount above what is left is refused beside its field; the confirmed form sent twice, one
// after the other or at once, refunds once.
func TestAdminRefundsAPledgeOnce(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	c, _ := s.flexible("Scarves")
	p := s.collected(c, "Bo")
	adm := s.adminVisitor("en")
	form := "/admin/pledges/" + p.ID + "/refund"
	if r := adm.post(form, form, url.Values{"amount": {"30"}, "reason": {" "}}); r.status != 422 || !strings.Contains(r.body, `id="reason-error"`) || !strings.Contains(r.body, `value="30"`) {
		t.Errorf("a refund without a reason: %d", r.status)
	}
	over := adm.post(form, form, url.Values{"amount": {"150"}, "reason": {"Too much"}})
	if over.status != 422 || !regexp.MustCompile(`<p class="error" id="amount-error">At most CHF\x{a0}100.00 is left to refund.</p>`).MatchString(over.body) ||
		!strings.Contains(over.body, `aria-invalid="true"`) {
		t.Errorf("a refund above what is left: %d\n%s", over.status, over.body)
	}
	if r := adm.post(form, form, url.Values{"amount": {"lots"}, "reason": {"x"}}); r.status != 422 || !strings.Contains(r.body, `id="amount-error"`) {
		t.Errorf("an amount that is no number: %d", r.status)
	}
	hostile := `<script>alert("reason")</script> goodwill`
	confirm := adm.post(form, form, url.Values{"amount": {"30"}, "reason": {hostile}})
	if confirm.status != 200 || !strings.Contains(confirm.body, "CHF\u00a030.00") || !strings.Contains(confirm.body, "CHF\u00a070.00") ||
		!strings.Contains(confirm.body, "&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt; goodwill") || strings.Contains(confirm.body, "<script>alert") {
		t.Fatalf("confirmation: %d\n%s", confirm.status, confirm.body)
	}
	if got := s.pledge(p.ID); got.AmountRefunded != 0 {
		t.Fatalf("the check refunded %d", got.AmountRefunded)
	}
	values := hidden(confirm.body)
	if values.Get("amount") != "30.00" || values.Get("reason") != hostile || len(values.Get("key")) != 32 {
		t.Fatalf("confirmation form: %v", values)
	}
	for i := 0; i < 2; i++ {
		if r := adm.post(form, form+"/confirm", values); r.status != 303 || r.location() != "/admin/pledges/"+p.ID+"?notice=refunded" {
			t.Fatalf("confirm %d: %d %q\n%s", i, r.status, r.location(), r.body)
		}
	}
	// A second confirmation, sent twice at once.
	second := hidden(adm.post(form, form, url.Values{"amount": {"20"}, "reason": {"Late delivery"}}).body)
	token := html.UnescapeString(tokenField.FindStringSubmatch(adm.get(form).body)[1])
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = adm.do("POST", form+"/confirm", withToken(second, token)).status
		}()
	}
	wg.Wait()
	for _, st := range statuses {
		if st != 303 && st != 409 {
			t.Errorf("a confirmation sent twice at once: %v", statuses)
		}
	}
	if err := s.app.Double().WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	// Stripe's charge.refunded webhooks have set the pledge's total to Stripe's own by now.
	if got := s.pledge(p.ID); got.AmountRefunded != 5000 || got.Status != pledge.StatusPartiallyRefunded {
		t.Errorf("after two refunds each confirmed twice: %s %d refunded", got.Status, got.AmountRefunded)
	}
	page := adm.get("/admin/pledges/" + p.ID + "?notice=refunded")
	if !strings.Contains(page.body, "Refund made.") || !strings.Contains(page.body, `<dd class="refunded">CHF`+"\u00a0"+`50.00</dd>`) {
		t.Errorf("the pledge page after the refunds:\n%s", page.body)
	}
	log, err := s.api.Call(ctx, 200, "GET", "/api/v1/admin/audit-log?action=pledge.refund", s.admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if entries := log["entries"].([]any); len(entries) != 2 || entries[0].(map[string]any)["reason"] != hostile && entries[1].(map[string]any)["reason"] != hostile {
		t.Errorf("audit log: %v", entries)
	}
	// The rest, with the amount left empty: all that is left.
	rest := hidden(adm.post(form, form, url.Values{"reason": {"Cancelled order"}}).body)
	if rest.Get("amount") != "50.00" {
		t.Errorf("all that is left: %v", rest)
	}
	if r := adm.post(form, form+"/confirm", rest); r.status != 303 {
		t.Errorf("refund the rest: %d", r.status)
	}
	if got := s.pledge(p.ID); got.Status != pledge.StatusRefunded {
		t.Errorf("after refunding the rest: %s", got.Status)
	}
	if r := adm.get("/admin/pledges/" + p.ID); strings.Contains(r.body, `href="`+form+`"`) {
		t.Error("a refunded pledge still offers a refund")
	}
}

// An admin starts a run for a campaign, sees its totals and its finding with each side's
// amount, resolves it after a confirmation step, and downloads the CSV.
func TestAdminReconcilesAndResolvesAFinding(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	m := s.mismatch("Scarves")
	adm := s.adminVisitor("en")
	if r := adm.post("/admin/reconciliations", "/admin/reconciliations", url.Values{"campaign": {"no-such-campaign"}}); r.status != 422 || !strings.Contains(r.body, `id="campaign-error"`) {
		t.Errorf("a run of no campaign: %d", r.status)
	}
	start := adm.post("/admin/reconciliations", "/admin/reconciliations", url.Values{"campaign": {m.campaign.Slug}})
	if start.status != 303 || !strings.HasPrefix(start.location(), "/admin/reconciliations/") {
		t.Fatalf("start: %d %q\n%s", start.status, start.location(), start.body)
	}
	runPage, _, _ := strings.Cut(start.location(), "?")
	var run page
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		run = adm.get(runPage)
		if strings.Contains(run.body, `run-status">Completed<`) {
			break
		}
		if !strings.Contains(run.body, `<meta http-equiv="refresh"`) || time.Now().After(deadline) {
			t.Fatalf("a run under way:\n%s", run.body)
		}
	}
	for _, want := range []string{"Refunds differ", "CHF\u00a00.00", "CHF\u00a025.00", "1 open finding", `href="` + runPage + `/report.csv"`, "CHF\u00a0100.00"} {
		if !strings.Contains(run.body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	link := regexp.MustCompile(`<a class="resolve" href="([^"]+)">`).FindStringSubmatch(run.body)
	if link == nil {
		t.Fatalf("no finding to resolve:\n%s", run.body)
	}
	finding := link[1]
	noNote := adm.post(finding, finding+"/resolve/confirm", url.Values{"action": {"explained"}})
	if noNote.status != 422 || !strings.Contains(noNote.body, `id="note-error"`) {
		t.Errorf("explained without a note: %d", noNote.status)
	}
	confirm := adm.post(finding, finding+"/resolve", url.Values{"action": {"resync"}, "note": {"dashboard refund <b>lost</b>"}})
	if confirm.status != 200 || !strings.Contains(confirm.body, "Resync from Stripe") || !strings.Contains(confirm.body, "dashboard refund &lt;b&gt;lost&lt;/b&gt;") {
		t.Fatalf("confirmation: %d\n%s", confirm.status, confirm.body)
	}
	if got := s.pledge(m.pledge.ID); got.AmountRefunded != 0 {
		t.Fatal("the confirmation step resolved the finding")
	}
	values := hidden(confirm.body)
	for i := 0; i < 2; i++ {
		if r := adm.post(finding, finding+"/resolve/confirm", values); r.status != 303 || !strings.HasPrefix(r.location(), runPage+"?notice=resolved") {
			t.Fatalf("resolve %d: %d %q\n%s", i, r.status, r.location(), r.body)
		}
	}
	if got := s.pledge(m.pledge.ID); got.AmountRefunded != 2500 || got.Status != pledge.StatusPartiallyRefunded {
		t.Errorf("after the resync: %s %d", got.Status, got.AmountRefunded)
	}
	if r := adm.get(runPage); !strings.Contains(r.body, "0 open findings") || !strings.Contains(r.body, "Resolved") {
		t.Errorf("the run after resolving:\n%s", r.body)
	}
	if r := adm.get(finding); !strings.Contains(r.body, "dashboard refund &lt;b&gt;lost&lt;/b&gt;") || strings.Contains(r.body, finding+"/resolve\"") {
		t.Errorf("the resolved finding:\n%s", r.body)
	}
	csv := adm.get(runPage + "/report.csv")
	if csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(csv.body, "key,campaign_id,object") || !strings.Contains(csv.body, m.pledge.ID) {
		t.Errorf("CSV: %d %v\n%s", csv.status, csv.header, csv.body)
	}
	log, err := s.api.Call(ctx, 200, "GET", "/api/v1/admin/audit-log?action=reconciliation.finding.resolve", s.admin, nil)
	if err != nil || len(log["entries"].([]any)) != 1 {
		t.Errorf("audit log: %v %v", log, err)
	}
	if r := adm.get("/admin/reconciliations"); !strings.Contains(r.body, runPage) || !strings.Contains(r.body, "1 finding") {
		t.Errorf("the runs list:\n%s", r.body)
	}
}

// Every admin page, with and without errors on its forms, is complete, labelled HTML in both
// languages, French punctuation in French, and kept from caches.
func TestAdminPagesAreValidInBothLanguages(t *testing.T) {
	s := startSite(t, nil)
	m := s.mismatch("Scarves")
	runID, findingID := s.runThroughAPI(m.campaign.ID)
	designer := s.visitor("en")
	designer.signUp("Ana")
	editor := designer.createDraft("Linen coat")
	designer.post(editor, editor+"/submit", nil)
	adm, admUser := s.signedInAdmin("en")
	paths := adminPaths(campaignID(editor), m.pledge.ID, runID, findingID, admUser.ID)
	// Hostile text in the audit log: a reason, a target and an actor an attacker chose.
	if err := s.store.AppendAudit(context.Background(), backstitch.AuditEntry{At: s.clock.Now(), Actor: "<b>actor</b>", Action: "pledge.refund",
		Target: "<i>target</i>", Reason: "<script>alert(1)</script>", After: map[string]string{"status": "<em>x</em>"}}); err != nil {
		t.Fatal(err)
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		adm.lang = lang
		for _, r := range console.AdminRoutes {
			method, _, _ := strings.Cut(r, " ")
			// "Settle now" asks only of a campaign past its deadline; its page is checked in
			// TestAdminListsCampaignsAndSettlesOneNow.
			if method != "GET" || strings.HasSuffix(r, ".csv") || strings.HasSuffix(r, "/settle") {
				continue
			}
			p := adm.get(paths[r])
			if p.status != 200 || p.header.Get("Cache-Control") != "no-store" || !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%s: %d %v", r, p.status, p.header)
			}
			both.Check(r, p.body, lang)
		}
		refund := paths["GET /admin/pledges/:id/refund"]
		review := paths["GET /admin/campaigns/:id"]
		finding := paths["GET /admin/reconciliations/:id/findings/:finding_id"]
		for where, p := range map[string]page{
			"search":          adm.get("/admin/pledges?q=" + url.QueryEscape(m.pledge.Backer.Email)),
			"search, nothing": adm.get("/admin/pledges?q=nobody"),
			"refund errors":   adm.post(refund, refund, url.Values{"amount": {"500"}, "reason": {""}}),
			"refund confirm":  adm.post(refund, refund, url.Values{"amount": {"5"}, "reason": {"Goodwill"}}),
			"reject errors":   adm.post(review, review+"/reject", nil),
			"run errors":      adm.post("/admin/reconciliations", "/admin/reconciliations", nil),
			"period errors":   adm.post("/admin/reconciliations", "/admin/reconciliations", url.Values{"from": {"2026-11-07"}, "to": {"2026-11-01"}}),
			"review changed":  adm.post(review, review+"/approve", url.Values{"seen": {"stale"}}),
			"resolve errors":  adm.post(finding, finding+"/resolve", nil),
			"resolve confirm": adm.post(finding, finding+"/resolve", url.Values{"action": {"resync"}}),
			"not found":       adm.get("/admin/pledges/plg_nothere"),
			"audit filtered":  adm.get("/admin/audit?action=pledge.refund&target=%3Ci%3Etarget%3C%2Fi%3E"),
			"audit, nothing":  adm.get("/admin/audit?action=nothing.at.all&actor=nobody"),
			"invite errors":   adm.post("/admin/users", "/admin/users/invite", url.Values{"email": {"not an address"}}),
		} {
			both.Check(where, p.body, lang)
			if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<i>target") || strings.Contains(p.body, "<em>x") {
				t.Errorf("%s %s: hostile text is live", lang, where)
			}
		}
	}
	// The designer's refusal is a complete page too.
	designer.lang = "fr"
	testenv.CheckHTML(t, "fr forbidden", designer.get("/admin").body, "fr")
}

// A run's findings read in the admin's language (the API and the CSV keep English sentences and
// machine codes); every message code has its sentence, with as many values, in each language.
func TestFindingsReadInTheAdminsLanguage(t *testing.T) {
	for _, code := range reconcile.MessageCodes() {
		en := locale.T("en", "admin.finding_message."+code)
		for _, lang := range locale.Languages {
			got := locale.T(lang, "admin.finding_message."+code)
			if strings.HasPrefix(got, "admin.") || strings.Count(got, "%s") != strings.Count(en, "%s") {
				t.Errorf("%s %s: %q", lang, code, got)
			}
		}
	}
	s := startSite(t, nil)
	m := s.mismatch("Scarves")
	runID, findingID := s.runThroughAPI(m.campaign.ID)
	adm := s.adminVisitor("fr")
	run := adm.get("/admin/reconciliations/" + runID)
	finding := adm.get("/admin/reconciliations/" + runID + "/findings/" + findingID)
	for _, p := range []page{run, finding} {
		if p.status != 200 || !strings.Contains(p.body, "La contribution indique 0.00") || !strings.Contains(p.body, "remboursés, Stripe 25.00") || strings.Contains(p.body, "The pledge records") {
			t.Errorf("French finding: %d\n%s", p.status, p.body)
		}
	}
	api, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/admin/reconciliations/"+runID, s.admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := api["findings"].([]any)[0].(map[string]any)
	if f["message"] != "The pledge records CHF 0.00 refunded, Stripe CHF 25.00." || f["kind"] != "refund_mismatch" {
		t.Errorf("API finding: %v", f)
	}
	if csv := adm.get("/admin/reconciliations/" + runID + "/report.csv"); !strings.Contains(csv.body, ",refund_mismatch,") || strings.Contains(csv.body, "contribution") {
		t.Errorf("CSV report:\n%s", csv.body)
	}
}

// An admin decides about the campaign she read: when the designer edits and resubmits it while
// the review page is open, approving or rejecting from that page does nothing and shows the page
// again, with what changed; approving from the new page keeps the new version as reviewed.
func TestReviewDecidesTheVersionTheAdminRead(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	designer, editor := s.inReview("Linen coat")
	id := campaignID(editor)
	page := "/admin/campaigns/" + id
	adm := s.adminVisitor("en")
	opened := adm.get(page)
	read := hidden(opened.body)
	token := html.UnescapeString(tokenField.FindStringSubmatch(opened.body)[1])
	if read.Get("seen") == "" {
		t.Fatalf("the review page carries no version:\n%s", opened.body)
	}
	// Meanwhile the designer changes the title and submits it again.
	if _, err := s.api.Call(ctx, 200, "PATCH", "/api/v1/campaigns/"+id, designer.cookie("session").Value, map[string]any{"title": "Linen coat, now in wool"}); err != nil {
		t.Fatal(err)
	}
	if p := designer.post(editor, editor+"/submit", nil); p.status != 303 {
		t.Fatalf("resubmit: %d", p.status)
	}
	inReview := func(when string) {
		t.Helper()
		c, err := s.store.FindCampaign(ctx, id)
		if err != nil || c.Status != campaign.StatusInReview || c.Reviewed != nil {
			t.Fatalf("%s: %s, reviewed %v, %v", when, c.Status, c.Reviewed, err)
		}
	}
	changedWhileOpen := regexp.MustCompile(`(?s)<div class="review-changes changed-while-open">(.*?)</div>`)
	for _, c := range []struct {
		action string
		form   url.Values
	}{
		{"approve", url.Values{"seen": {read.Get("seen")}}},
		{"reject", url.Values{"seen": {read.Get("seen")}, "reason": {"The lining, please."}}},
		{"approve", url.Values{}}, // a form that says nothing of what it showed
	} {
		p := adm.do("POST", page+"/"+c.action, withToken(c.form, token))
		if p.status != 409 || !strings.Contains(p.body, "The campaign changed after you opened this page") {
			t.Fatalf("%s of the page read before the change: %d\n%s", c.action, p.status, p.body)
		}
		m := changedWhileOpen.FindStringSubmatch(p.body)
		if m == nil || !strings.Contains(m[1], "<li>Title</li>") || (c.form.Has("seen") && strings.Contains(m[1], "<li>Rewards</li>")) {
			t.Errorf("%s: what changed while open: %v", c.action, m)
		}
		if got := hidden(p.body).Get("seen"); got == "" || got == read.Get("seen") {
			t.Errorf("%s: the page shown again carries the old version", c.action)
		}
		if c.action == "reject" && !strings.Contains(p.body, "The lining, please.") {
			t.Error("the reason was lost")
		}
		testenv.CheckHTML(t, "en review changed while open", p.body, "en")
		inReview("after " + c.action + " of an old page")
	}
	// From the page as it is now, the approval goes through and keeps what she read.
	now := adm.get(page)
	if r := adm.post(page, page+"/approve", hidden(now.body)); r.status != 303 || r.location() != "/admin?notice=approved" {
		t.Fatalf("approve the new version: %d %q\n%s", r.status, r.location(), r.body)
	}
	c, err := s.store.FindCampaign(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tiers, err := s.store.FindTiers(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != campaign.StatusApproved || c.Reviewed == nil || c.Title != "Linen coat, now in wool" ||
		!maps.Equal(c.Reviewed.Fields, campaign.ReviewHashes(c, tiers)) {
		t.Errorf("approved: %s %q %v", c.Status, c.Title, c.Reviewed)
	}
}

// A campaign back in review after a rejection shows the reviewer which of the fields she judges
// changed since the last review, and only those; a first review shows no such list.
func TestReviewShowsWhatChangedSinceTheLastReview(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	designer, editor := s.inReview("Linen coat")
	id := campaignID(editor)
	page := "/admin/campaigns/" + id
	adm := s.adminVisitor("en")
	changes := regexp.MustCompile(`(?s)<div class="review-changes">(.*?)</div>`)
	if p := adm.get(page); changes.MatchString(p.body) {
		t.Errorf("a first review lists changes:\n%s", p.body)
	}
	if r := adm.post(page, page+"/reject", url.Values{"reason": {"More photos."}}); r.status != 303 {
		t.Fatalf("reject: %d", r.status)
	}
	designer.post(editor, editor+"/submit", nil)
	if m := changes.FindStringSubmatch(adm.get(page).body); m == nil || !strings.Contains(m[1], "Nothing the reviewer judges has changed") {
		t.Errorf("sent back unchanged: %v", m)
	}
	if r := adm.post(page, page+"/reject", url.Values{"reason": {"Still more photos."}}); r.status != 303 {
		t.Fatalf("reject again: %d", r.status)
	}
	if _, err := s.api.Call(ctx, 200, "PATCH", "/api/v1/campaigns/"+id, designer.cookie("session").Value,
		map[string]any{"title": `Linen coat <b>& more</b>`}); err != nil {
		t.Fatal(err)
	}
	designer.addTier(editor, "Scarf", "physical", "80")
	designer.post(editor, editor+"/submit", nil)
	for _, lang := range locale.Languages {
		adm.lang = lang
		loc := locale.Negotiate("", lang)
		p := adm.get(page)
		m := changes.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("%s: no changes listed:\n%s", lang, p.body)
		}
		items := regexp.MustCompile(`<li>(.*?)</li>`).FindAllStringSubmatch(m[1], -1)
		var got []string
		for _, it := range items {
			got = append(got, it[1])
		}
		if want := []string{loc.T("admin.review.field.title"), loc.T("admin.review.field.tiers")}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: changed %q, want %q", lang, got, want)
		}
		if strings.Contains(p.body, "<b>& more") {
			t.Errorf("%s: the title is not escaped", lang)
		}
		testenv.CheckHTML(t, lang+" review with changes", p.body, lang)
	}
}

// pageLinks follows a list's "next" links from first and answers the ids each page shows.
func pageLinks(t *testing.T, adm *visitor, first string, item *regexp.Regexp) [][]string {
	t.Helper()
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	var pages [][]string
	for path := first; path != ""; {
		p := adm.get(path)
		if p.status != 200 {
			t.Fatalf("%s: %d", path, p.status)
		}
		var ids []string
		for _, m := range item.FindAllStringSubmatch(p.body, -1) {
			ids = append(ids, m[1])
		}
		pages = append(pages, ids)
		path = ""
		if m := next.FindStringSubmatch(p.body); m != nil {
			path = html.UnescapeString(m[1])
		}
		if len(pages) > 5 {
			t.Fatal("the pages do not end")
		}
	}
	return pages
}

// More runs than a page holds, a score of them made at the same instant, page 50 at a time
// with none repeated or skipped; a run with more findings than a page holds pages them 500 at a
// time in the order they were found.
func TestAdminPagesRunsAndFindings(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	adm := s.adminVisitor("en")
	at := s.clock.Now().Add(-time.Hour)
	want := map[string]bool{}
	for i := range 53 {
		created := at.Add(time.Duration(min(i, 20)) * time.Second) // runs 20 to 52 share an instant
		run := reconcile.Run{ID: backstitch.NewID("rec"), Scope: reconcile.Scope{CampaignID: "cam_gone"}, Status: reconcile.RunCompleted,
			CreatedBy: "usr_x", CreatedAt: created, Attempt: 1, Summary: &reconcile.Summary{Findings: map[reconcile.Kind]int{}}}
		if err := s.store.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		want[run.ID] = true
	}
	runs := pageLinks(t, adm, "/admin/reconciliations", regexp.MustCompile(`<td><a href="/admin/reconciliations/([^"]+)"><code>`))
	if len(runs) != 2 || len(runs[0]) != 50 || len(runs[1]) != 3 {
		t.Fatalf("runs by page: %d pages, %v", len(runs), runs)
	}
	for _, id := range append(runs[0], runs[1]...) {
		if !want[id] {
			t.Errorf("run %s shown twice or unknown", id)
		}
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("runs never shown: %v", want)
	}
	if p := adm.get("/admin/reconciliations?before=" + url.QueryEscape("nonsense")); !strings.Contains(p.body, runs[0][0]) {
		t.Error("a position that does not parse does not start at the top")
	}

	run := reconcile.Run{ID: backstitch.NewID("rec"), Scope: reconcile.Scope{CampaignID: "cam_gone"}, Status: reconcile.RunCompleted,
		CreatedBy: "usr_x", CreatedAt: at, Attempt: 1, Summary: &reconcile.Summary{Findings: map[reconcile.Kind]int{reconcile.RefundMismatch: 520}}}
	if err := s.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	var fs []reconcile.FindingRecord
	for i := range 520 {
		fs = append(fs, reconcile.FindingRecord{ID: fmt.Sprintf("fnd_%04d", i), RunID: run.ID, Attempt: 1, Seq: i + 1, Status: reconcile.FindingOpen,
			Finding: reconcile.Finding{Kind: reconcile.RefundMismatch, Message: "Refunds differ.", Database: money.Money{Amount: 0, Currency: "CHF"},
				Stripe: money.Money{Amount: int64(i), Currency: "CHF"}}})
	}
	if err := s.store.InsertFindings(ctx, fs); err != nil {
		t.Fatal(err)
	}
	findings := pageLinks(t, adm, "/admin/reconciliations/"+run.ID, regexp.MustCompile(`/findings/(fnd_\d+)"`))
	if len(findings) != 2 || len(findings[0]) != 500 || len(findings[1]) != 20 {
		t.Fatalf("findings by page: %d pages", len(findings))
	}
	for i, id := range append(findings[0], findings[1]...) {
		if id != fs[i].ID {
			t.Fatalf("finding %d is %s, want %s", i, id, fs[i].ID)
		}
	}
	second := adm.get("/admin/reconciliations/" + run.ID + "?after=500")
	if !strings.Contains(second.body, "520 findings") || !strings.Contains(second.body, `href="/admin/reconciliations/`+run.ID+`">First findings`) {
		t.Errorf("the second page of findings does not count the run's or lead back:\n%s", second.body)
	}
}

// An admin reconciles a period of days from the console: the run covers the pledges collected
// from the first day's start to the last day's end, in UTC; a form with both a campaign and a
// period, a day that is no date, or a period backwards is refused beside its field.
func TestAdminStartsARunForAPeriod(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	adm := s.adminVisitor("en")
	form := "/admin/reconciliations"
	for _, c := range []struct {
		values url.Values
		field  string
	}{
		{url.Values{"campaign": {"any"}, "from": {"2026-11-01"}, "to": {"2026-11-07"}}, "campaign"},
		{url.Values{"from": {"2026-11-01"}}, "to"},
		{url.Values{"from": {"1 November"}, "to": {"2026-11-07"}}, "from"},
		{url.Values{"from": {"2026-11-07"}, "to": {"2026-11-01"}}, "to"},
		{url.Values{"from": {"2025-01-01"}, "to": {"2026-11-01"}}, "to"},
	} {
		p := adm.post(form, form, c.values)
		if p.status != 422 || !strings.Contains(p.body, `id="`+c.field+`-error"`) || !strings.Contains(p.body, `value="`+c.values.Get("from")+`"`) {
			t.Errorf("%v: %d, no error beside %s", c.values, p.status, c.field)
		}
	}
	if runs, err := s.store.ListRuns(ctx, reconcile.RunFilter{Limit: 10}); err != nil || len(runs) != 0 {
		t.Fatalf("a refused form started runs: %v %v", runs, err)
	}
	start := adm.post(form, form, url.Values{"from": {"2026-11-01"}, "to": {"2026-11-07"}})
	if start.status != 303 || !strings.HasPrefix(start.location(), "/admin/reconciliations/") {
		t.Fatalf("start: %d %q\n%s", start.status, start.location(), start.body)
	}
	runPage, _, _ := strings.Cut(start.location(), "?")
	run, err := s.store.FindRun(ctx, strings.TrimPrefix(runPage, "/admin/reconciliations/"))
	if err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
	if run.Scope.CampaignID != "" || run.Scope.From == nil || !run.Scope.From.Equal(from) || run.Scope.To == nil || !run.Scope.To.Equal(to) {
		t.Errorf("the run's scope: %+v", run.Scope)
	}
	if p := adm.get(runPage); !strings.Contains(p.body, "From 1 November 2026 at 00:00 (UTC) to 8 November 2026 at 00:00 (UTC)") {
		t.Errorf("the run's page does not say its period")
	}
	log, err := s.store.FindAudit(ctx, backstitch.AuditFilter{Action: "reconciliation.start", Limit: 10})
	if err != nil || len(log) != 1 || log[0].After["from"] != "2026-11-01T00:00:00Z" || log[0].After["to"] != "2026-11-08T00:00:00Z" {
		t.Errorf("audit: %+v %v", log, err)
	}
}
