//go:build !production

package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/stripepay"
)

// reconcileRun starts a reconciliation of a campaign and waits for it to complete.
func (s *service) reconcileRun(admin, campaignID string) map[string]any {
	s.t.Helper()
	run := s.must(201, "POST", "/api/v1/admin/reconciliations", admin, map[string]any{"campaign_id": campaignID})
	if run["status"] != "queued" {
		s.t.Fatalf("new run: %v", run)
	}
	return s.awaitRun(admin, run["id"].(string))
}

// awaitRun polls a run until it has completed (it runs in the background).
func (s *service) awaitRun(admin, id string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		run := s.must(200, "GET", "/api/v1/admin/reconciliations/"+id+"?limit=200", admin, nil)
		switch run["status"] {
		case "completed":
			return run
		case "failed":
			s.t.Fatalf("run failed: %v", run)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("run %s did not complete", id)
	return nil
}

// findingsByKind maps "kind pledge_id" to the finding, for exact comparisons.
func findingsByKind(t *testing.T, run map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, f := range run["findings"].([]any) {
		m := f.(map[string]any)
		pledgeID, _ := m["pledge_id"].(string)
		out[m["kind"].(string)+" "+pledgeID] = m
	}
	return out
}

// The end-to-end case: a settled campaign, then what happens behind Backstitch's back
// while its webhook endpoint is down (a refund and a dispute in Stripe's dashboard, a duplicate
// and a stray charge, a 3-D Secure payment whose webhook never arrives). A run finds exactly
// those; the admin resolves each; the next run is clean.
func TestReconciliationFindsAndResolvesEveryDiscrepancy(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 400000, "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_authenticationRequired")
	refunded, disputed, doubled, clean, authn := b[0], b[1], b[2], b[3], b[4]
	s.passDeadline(c.slug)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	admin := s.admin()

	// Right after settlement everything ties out: one run, no findings, totals to the cent.
	first := s.reconcileRun(admin, c.id)
	if n := len(first["findings"].([]any)); n != 0 || first["open_findings"] != float64(0) {
		t.Fatalf("settled campaign: %d findings: %v", n, first["findings"])
	}
	totals := first["summary"].(map[string]any)["totals"].([]any)[0].(map[string]any)
	// Four charges of 4,000.00 collected; Stripe's fee 2.9% + 0.30 = 116.30 each; platform 5%.
	if totals["currency"] != "CHF" || totals["gross"] != float64(1600000) || totals["collected"] != float64(1600000) ||
		totals["stripe_fees"] != float64(4*11630) || totals["platform_fee"] != float64(80000) || totals["net"] != float64(1600000-4*11630) {
		t.Fatalf("totals of a clean run: %v", totals)
	}

	// The webhook endpoint goes down: Stripe keeps emitting events that never arrive.
	s.double().SetWebhook("", s.app.WebhookSecret())
	pRefunded, _ := s.store.FindPledge(ctx, refunded.id)
	if _, err := s.double().DashboardRefund(pRefunded.ChargeID, 100000); err != nil {
		t.Fatal(err)
	}
	pDisputed, _ := s.store.FindPledge(ctx, disputed.id)
	if _, err := s.double().DashboardDispute(pDisputed.ChargeID, "fraudulent"); err != nil {
		t.Fatal(err)
	}
	pDoubled, _ := s.store.FindPledge(ctx, doubled.id)
	if _, _, err := s.double().DashboardCharge(stripedouble.DashboardChargeParams{Amount: 400000, Currency: "chf", TransferGroup: c.id,
		Metadata: map[string]string{"pledge_id": doubled.id, "campaign_id": c.id}}); err != nil {
		t.Fatal(err)
	}
	_, strayCharge, err := s.double().DashboardCharge(stripedouble.DashboardChargeParams{Amount: 12345, Currency: "chf", TransferGroup: c.id,
		Description: "taken by hand"})
	if err != nil {
		t.Fatal(err)
	}
	// The 3-D Secure backer fixes the failed deadline charge; the browser completes the
	// authentication, Stripe charges, and the payment_intent.succeeded webhook is lost.
	if st := s.pledgeStatus(authn)["status"]; st != "payment_failed" {
		t.Fatalf("3-D Secure pledge after the deadline: %v", st)
	}
	s.must(200, "POST", "/api/v1/pledges/"+authn.id+"/payment-method", "", map[string]any{"payment_method": "pm_card_authenticationRequired"}, "X-Manage-Token", authn.token)
	pAuthn, _ := s.store.FindPledge(ctx, authn.id)
	if _, err := s.browserStripe().PaymentIntents.Confirm(pAuthn.PaymentIntentID, &stripe.PaymentIntentConfirmParams{}); err != nil {
		t.Fatal(err)
	}
	if st := s.pledgeStatus(authn)["status"]; st != "payment_failed" {
		t.Fatalf("the lost webhook reached the pledge anyway: %v", st)
	}

	run := s.reconcileRun(admin, c.id)
	found := findingsByKind(t, run)
	want := []string{"refund_mismatch " + refunded.id, "dispute_unrecorded " + disputed.id, "duplicate_charge " + doubled.id,
		"missing_in_db " + authn.id, "missing_in_db "}
	var got []string
	for k := range found {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("findings %v, want exactly %v", got, want)
	}
	money := func(f map[string]any, side string) float64 { return f[side].(map[string]any)["amount"].(float64) }
	if f := found["refund_mismatch "+refunded.id]; money(f, "database") != 0 || money(f, "stripe") != 100000 {
		t.Errorf("refund mismatch amounts: %v", f)
	}
	if f := found["duplicate_charge "+doubled.id]; money(f, "stripe") != 800000 || len(f["objects"].([]any)) != 3 {
		t.Errorf("duplicate charge: %v", f)
	}
	if f := found["missing_in_db "]; f["objects"].([]any)[0].(map[string]any)["id"] != strayCharge || money(f, "stripe") != 12345 {
		t.Errorf("stray charge: %v", f)
	}
	totals = run["summary"].(map[string]any)["totals"].([]any)[0].(map[string]any)
	for _, side := range []string{"pledges", "charges", "transfers"} {
		counts := totals[side].(map[string]any)
		sum := map[string]float64{}
		for _, part := range []string{"matched", "unmatched", "uncharged"} {
			if m, ok := counts[part].(map[string]any); ok {
				sum["count"] += m["count"].(float64)
				sum["amount"] += m["amount"].(float64)
			}
		}
		total := counts["total"].(map[string]any)
		if sum["count"] != total["count"] || sum["amount"] != total["amount"] {
			t.Errorf("%s: matched + unmatched (+ uncharged) = %v, total %v", side, sum, total)
		}
	}
	// Stripe took 5 × 4,000.00 for pledges, the duplicate 4,000.00 and the stray 123.45.
	if totals["gross"] != float64(2400000+12345) || totals["refunds"] != float64(100000) || totals["disputes"] != float64(400000) ||
		totals["charges"].(map[string]any)["unmatched"].(map[string]any)["amount"] != float64(400000+400000+12345) {
		t.Errorf("totals after the dashboard actions: %v", totals)
	}

	// The CSV: one row per pledge or Stripe object, minor units and formatted amounts.
	res := s.call("GET", "/api/v1/admin/reconciliations/"+run["id"].(string)+"?format=csv", admin, nil)
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", res.Status, res.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], reconcile.CSVHeader) {
		t.Fatalf("csv header %v", rows[0])
	}
	objects := map[string]int{}
	for _, r := range rows[1:] {
		objects[r[2]]++
		if r[3] == pRefunded.ChargeID && (r[6] != "400000" || r[7] != "4000.00" || r[8] != "100000" || r[9] != "1000.00" || r[12] != "refund_mismatch") {
			t.Errorf("csv row of the refunded charge: %v", r)
		}
	}
	// 5 pledges; 5 pledge charges + the duplicate + the stray (+ the authentication failure);
	// 1 refund; 1 dispute.
	if objects["pledge"] != 5 || objects["charge"] < 7 || objects["refund"] != 1 || objects["dispute"] != 1 {
		t.Errorf("csv rows by object: %v", objects)
	}

	// Resolving: the wrong action for a kind, or explaining without a note, is refused.
	resolve := func(f map[string]any, body map[string]any) response {
		return s.call("POST", "/api/v1/admin/reconciliations/"+run["id"].(string)+"/findings/"+f["id"].(string)+"/resolve", admin, body)
	}
	if r := resolve(found["refund_mismatch "+refunded.id], map[string]any{"action": "refund_duplicate"}); r.Status != 422 || r.fieldCode(t, "action") != "not_applicable" {
		t.Fatalf("refund_duplicate on a refund mismatch: %d %s", r.Status, r.Body)
	}
	if r := resolve(found["missing_in_db "], map[string]any{"action": "explained"}); r.Status != 422 || r.fieldCode(t, "note") != "required" {
		t.Fatalf("explained without a note: %d %s", r.Status, r.Body)
	}
	if r := resolve(found["missing_in_db "], map[string]any{"action": "resync"}); r.Status != 422 {
		t.Fatalf("resync of a charge of no pledge: %d %s", r.Status, r.Body)
	}
	s.double().SetWebhook(s.base+"/webhooks/stripe", s.app.WebhookSecret())
	for key, body := range map[string]map[string]any{
		"refund_mismatch " + refunded.id:    {"action": "resync", "note": "dashboard refund, webhook lost"},
		"dispute_unrecorded " + disputed.id: {"action": "resync"},
		"duplicate_charge " + doubled.id:    {"action": "refund_duplicate", "note": "charged twice by hand"},
		"missing_in_db " + authn.id:         {"action": "resync"},
		"missing_in_db ":                    {"action": "explained", "note": "Pop-up shop sale charged by hand; not a pledge."},
	} {
		r := resolve(found[key], body)
		if r.Status != 200 {
			t.Fatalf("resolve %s: %d %s", key, r.Status, r.Body)
		}
		if st := r.JSON(t)["status"]; st != map[bool]string{true: "explained", false: "resolved"}[body["action"] == "explained"] {
			t.Errorf("%s after resolving: %v", key, st)
		}
	}
	if r := resolve(found["duplicate_charge "+doubled.id], map[string]any{"action": "refund_duplicate"}); r.Status != 409 {
		t.Fatalf("resolving twice: %d %s", r.Status, r.Body)
	}
	s.waitWebhooks()
	for b, want := range map[backer]string{refunded: "partially_refunded", disputed: "disputed", authn: "collected", doubled: "collected", clean: "collected"} {
		if st := s.pledgeStatus(b)["status"]; st != want {
			t.Errorf("pledge %s: %v, want %s", b.id, st, want)
		}
	}
	duplicateRefunds := 0
	for _, rf := range s.double().Refunds() {
		if rf.Charge.ID != pRefunded.ChargeID {
			duplicateRefunds++
			if rf.Amount != 400000 || rf.Charge.ID == pDoubled.ChargeID {
				t.Errorf("duplicate refund %s of %d on %s", rf.ID, rf.Amount, rf.Charge.ID)
			}
		}
	}
	if duplicateRefunds != 1 {
		t.Errorf("%d refunds of the duplicate charge, want 1", duplicateRefunds)
	}

	// The next run is clean; the explained stray charge stays explained.
	again := s.reconcileRun(admin, c.id)
	if again["open_findings"] != float64(0) {
		t.Fatalf("run after resolving: %v open: %v", again["open_findings"], again["findings"])
	}
	for _, f := range again["findings"].([]any) {
		m := f.(map[string]any)
		if m["kind"] != "missing_in_db" || m["status"] != "explained" || m["resolution"].(map[string]any)["note"] != "Pop-up shop sale charged by hand; not a pledge." {
			t.Errorf("finding in the clean run: %v", m)
		}
	}

	// The same money seen by period: every charge made since the campaign launched, whatever
	// its campaign, ties out the same way.
	from := s.clock.Now().Add(-60 * 24 * time.Hour).Format(time.RFC3339)
	period := s.must(201, "POST", "/api/v1/admin/reconciliations", admin, map[string]any{"from": from, "to": s.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	period = s.awaitRun(admin, period["id"].(string))
	periodTotals := period["summary"].(map[string]any)["totals"].([]any)[0].(map[string]any)
	againTotals := again["summary"].(map[string]any)["totals"].([]any)[0].(map[string]any)
	if period["open_findings"] != float64(0) || periodTotals["gross"] != againTotals["gross"] || periodTotals["refunds"] != againTotals["refunds"] {
		t.Fatalf("period run: %v open, totals %v, campaign run totals %v", period["open_findings"], periodTotals, againTotals)
	}

	// Every resolution is in the audit log, with before and after, newest first, page by page.
	log := s.must(200, "GET", "/api/v1/admin/audit-log?action=reconciliation.finding.resolve&limit=3", admin, nil)
	entries := log["entries"].([]any)
	if len(entries) != 3 || log["next_cursor"] == nil {
		t.Fatalf("first audit page: %v", log)
	}
	rest := s.must(200, "GET", "/api/v1/admin/audit-log?action=reconciliation.finding.resolve&limit=3&cursor="+log["next_cursor"].(string), admin, nil)
	entries = append(entries, rest["entries"].([]any)...)
	if len(entries) != 5 {
		t.Fatalf("%d resolution entries, want 5", len(entries))
	}
	var resynced bool
	for _, e := range entries {
		m := e.(map[string]any)
		before, _ := m["before"].(map[string]any)
		after, _ := m["after"].(map[string]any)
		if m["actor"] == "" || before["status"] != "open" || after["status"] == nil {
			t.Errorf("audit entry: %v", m)
		}
		if before["pledge_id"] == authn.id && before["pledge_status"] == "payment_failed" && after["pledge_status"] == "collected" {
			resynced = true
		}
	}
	if !resynced {
		t.Errorf("no audit entry shows the 3-D Secure pledge moving from payment_failed to collected: %v", entries)
	}

	// Admins only.
	designer, _ := s.designer("Curious")
	for _, route := range [][2]string{{"POST", "/api/v1/admin/reconciliations"}, {"GET", "/api/v1/admin/reconciliations/" + run["id"].(string)},
		{"POST", "/api/v1/admin/reconciliations/" + run["id"].(string) + "/findings/x/resolve"}, {"GET", "/api/v1/admin/audit-log"}} {
		if r := s.call(route[0], route[1], designer, map[string]any{}); r.Status != 403 {
			t.Errorf("%s %s as a designer: %d", route[0], route[1], r.Status)
		}
		if r := s.call(route[0], route[1], "", map[string]any{}); r.Status != 401 {
			t.Errorf("%s %s anonymously: %d", route[0], route[1], r.Status)
		}
	}
}

func TestReconciliationRequestsAreValidated(t *testing.T) {
	s := startService(t, nil)
	admin := s.admin()
	for _, tc := range []struct {
		body  any
		field string
		code  string
	}{
		{map[string]any{}, "from", "required"},
		{map[string]any{"campaign_id": "cam_nothere"}, "campaign_id", "not_found"},
		{map[string]any{"campaign_id": "cam_x", "from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "campaign_id", "exclusive"},
		{map[string]any{"from": "2026-11-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "to", "out_of_range"},
		{map[string]any{"status": "completed"}, "status", "unknown_field"},
	} {
		r := s.call("POST", "/api/v1/admin/reconciliations", admin, tc.body)
		if r.Status != 422 || r.fieldCode(t, tc.field) != tc.code {
			t.Errorf("%v → %d %s, want 422 with %s %s", tc.body, r.Status, r.Body, tc.field, tc.code)
		}
	}
	if r := s.call("GET", "/api/v1/admin/reconciliations/rec_nothere", admin, nil); r.Status != 404 {
		t.Errorf("unknown run: %d", r.Status)
	}
	run := s.must(201, "POST", "/api/v1/admin/reconciliations", admin, map[string]any{"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
	done := s.awaitRun(admin, run["id"].(string))
	if done["open_findings"] != float64(0) {
		t.Errorf("empty period: %v", done)
	}
	for _, q := range []string{"?limit=0", "?status=closed", "?kind=nonsense", "?format=pdf", "?cursor=x"} {
		if r := s.call("GET", "/api/v1/admin/reconciliations/"+run["id"].(string)+q, admin, nil); r.Status != 422 {
			t.Errorf("GET run%s → %d", q, r.Status)
		}
	}
}

// A pledge left "charging" (Stripe rate-limited every attempt, then the settler gave up) is
// reported stuck once it has been charging longer than BACKSTITCH_RECONCILE_STUCK_AFTER, and
// resync finishes its charge with the same attempt: one PaymentIntent, collected.
func TestStuckPledgeIsFoundAndResumed(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 800000, "pm_card_visa", "pm_card_visa")
	s.passDeadline(c.slug)
	s.double().SetFaults(stripedouble.Faults{RateLimitRate: 1, Match: func(method, path string) bool { return method == "POST" && path == "/v1/payment_intents" }})
	giveUp := settlement.New(s.store, s.app.Pledges(), s.clock.Now, settlement.Options{Owner: "impatient", MaxProviderRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err := giveUp.Settle(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	s.double().SetFaults(stripedouble.Faults{})
	admin := s.admin()
	if run := s.reconcileRun(admin, c.id); run["open_findings"] != float64(0) {
		t.Fatalf("charges in flight reported before the threshold: %v", run["findings"])
	}
	s.clock.Advance(2 * time.Hour)
	admin = s.admin()
	run := s.reconcileRun(admin, c.id)
	found := findingsByKind(t, run)
	if len(found) != 2 || found["stuck_pledge "+b[0].id] == nil || found["stuck_pledge "+b[1].id] == nil {
		t.Fatalf("findings: %v", found)
	}
	r := s.must(200, "POST", "/api/v1/admin/reconciliations/"+run["id"].(string)+"/findings/"+found["stuck_pledge "+b[0].id]["id"].(string)+"/resolve",
		admin, map[string]any{"action": "resync"})
	if r["resolution"].(map[string]any)["action"] != "resync" {
		t.Fatalf("resolution: %v", r)
	}
	s.waitWebhooks()
	if st := s.pledgeStatus(b[0])["status"]; st != "collected" {
		t.Fatalf("stuck pledge after resync: %v", st)
	}
	if st := s.pledgeStatus(b[1])["status"]; st != "charging" {
		t.Fatalf("the other stuck pledge moved: %v", st)
	}
	perPledge := map[string]int{}
	for _, pi := range s.double().PaymentIntents() {
		perPledge[pi.Metadata["pledge_id"]]++
	}
	if perPledge[b[0].id] != 1 {
		t.Fatalf("%d payment intents for the resumed pledge", perPledge[b[0].id])
	}
}

// A run whose instance died mid-way (lease held, status running) is finished by another
// instance once the lease has expired, and never by two at once.
func TestInterruptedRunIsResumedByAnotherInstance(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	c := s.pledgeSetup("all_or_nothing", 10)
	s.backAll(c, 800000, "pm_card_visa", "pm_card_visa")
	s.passDeadline(c.slug)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run, err := reconcile.NewRun(reconcile.Scope{CampaignID: c.id}, "usr_admin", s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	run.Status, run.Attempt = reconcile.RunRunning, 1 // as the dead instance left it
	if err := s.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.AcquireLease(ctx, "reconcile:"+run.ID, "dead-instance", time.Minute, s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// Another instance: same store, same Stripe (a second app in offline mode would get a Stripe
	// double of its own).
	other := reconcile.NewRunner(s.store, stripepay.New(stripepay.Options{SecretKey: s.app.StripeSecretKey(), BackendURL: s.app.StripeURL(), Timeout: 10 * time.Second}),
		s.clock.Now, reconcile.RunnerOptions{Owner: "other-instance", PlatformFeeBPS: 500})
	for _, r := range []*reconcile.Runner{s.app.Reconciler(), other} {
		if err := r.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.store.FindRun(ctx, run.ID); got.Status != reconcile.RunRunning || got.Attempt != 1 {
		t.Fatalf("run taken over while its lease holds: %s attempt %d", got.Status, got.Attempt)
	}
	s.clock.Advance(2 * time.Minute)
	if err := other.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.store.FindRun(ctx, run.ID)
	if err != nil || got.Status != reconcile.RunCompleted || got.Attempt != 2 || got.Summary == nil || got.Summary.Totals[0].Gross != 1600000 {
		t.Fatalf("after the lease expired: %+v %+v %v", got, got.Summary, err)
	}
	if err := s.app.Reconciler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.store.FindRun(ctx, run.ID); again.Attempt != 2 {
		t.Fatalf("a completed run ran again: attempt %d", again.Attempt)
	}
}

// slowStripe lists charges as a slow Stripe would: a minute passes with each one.
type slowStripe struct {
	reconcile.StripeSource
	clock interface{ Advance(time.Duration) }
}

func (s slowStripe) ListCharges(ctx context.Context, f reconcile.Filter, fn func(reconcile.Charge) error) error {
	return s.StripeSource.ListCharges(ctx, f, func(c reconcile.Charge) error {
		s.clock.Advance(time.Minute)
		return fn(c)
	})
}

// A run whose listing outlasts its lease (2 minutes; 100,000 charges are 1,000 pages from Stripe)
// keeps the lease as it goes and completes in one attempt, instead of losing it at the end of the
// listing and starting again, as long, up to failing.
func TestReconciliationOutlastingItsLeaseKeepsIt(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	c := s.pledgeSetup("all_or_nothing", 10)
	s.backAll(c, 800000, "pm_card_visa", "pm_card_visa", "pm_card_visa")
	s.passDeadline(c.slug)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run, err := reconcile.NewRun(reconcile.Scope{CampaignID: c.id}, "usr_admin", s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	pay := stripepay.New(stripepay.Options{SecretKey: s.app.StripeSecretKey(), BackendURL: s.app.StripeURL(), Timeout: 10 * time.Second})
	slow := reconcile.NewRunner(s.store, slowStripe{StripeSource: pay, clock: s.clock}, s.clock.Now,
		reconcile.RunnerOptions{Owner: "slow-instance", LeaseTTL: 2 * time.Minute, PlatformFeeBPS: 500})
	start := s.clock.Now()
	if err := slow.Execute(ctx, run.ID); err != nil {
		t.Fatalf("execute: %v", err)
	}
	got, err := s.store.FindRun(ctx, run.ID)
	if err != nil || got.Status != reconcile.RunCompleted || got.Attempt != 1 || got.Summary == nil || got.Summary.Totals[0].Gross != 2400000 {
		t.Fatalf("run = %+v %+v %v", got, got.Summary, err)
	}
	if took := s.clock.Now().Sub(start); took < 3*time.Minute {
		t.Fatalf("the listing took %v of the clock, not more than the lease", took)
	}
}
