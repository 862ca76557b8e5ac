//go:build !production

package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

type backer struct {
	id, token, pm string
}

// backAll makes one confirmed all-or-nothing pledge of amount per payment method.
func (s *service) backAll(c pledgeSetup, amount int, pms ...string) []backer {
	s.t.Helper()
	var out []backer
	for i, pm := range pms {
		p := s.pledge(c.slug, map[string]any{"tier_id": c.workshop, "amount": map[string]any{"amount": amount, "currency": "CHF"},
			"backer": map[string]any{"email": "backer@example.com", "name": "Bea"}}, fmt.Sprint(c.id, "-", i, "-", pm)).JSON(s.t)
		b := backer{id: p["id"].(string), token: p["manage_token"].(string), pm: pm}
		res := s.must(200, "POST", "/api/v1/pledges/"+b.id+"/confirm", "", map[string]any{"payment_method": pm}, "X-Manage-Token", b.token)
		if res["action_required"] == true {
			// 3-D Secure while saving the card: the browser completes it with Stripe.js.
			stored, err := s.store.FindPledge(context.Background(), b.id)
			if err != nil {
				s.t.Fatal(err)
			}
			if _, err := s.browserStripe().SetupIntents.Confirm(stored.SetupIntentID, &stripe.SetupIntentConfirmParams{}); err != nil {
				s.t.Fatalf("completing 3-D Secure: %v", err)
			}
		}
		out = append(out, b)
	}
	s.waitWebhooks()
	return out
}

// browserStripe is a Stripe client acting as the backer's browser (Stripe.js) against the double.
func (s *service) browserStripe() *client.API {
	return client.New(s.app.StripeSecretKey(), stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(s.app.StripeURL())}))
}

func (s *service) pledgeStatus(b backer) map[string]any {
	s.t.Helper()
	return s.must(200, "GET", "/api/v1/pledges/"+b.id, "", nil, "X-Manage-Token", b.token)
}

func (s *service) paymentIntentCreates() int {
	return s.double().RequestCount("POST", "/v1/payment_intents")
}

// passDeadline moves the clock just past the campaign's deadline.
func (s *service) passDeadline(slug string) {
	s.t.Helper()
	c := s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)
	deadline, err := time.Parse(time.RFC3339, c["deadline"].(string))
	if err != nil {
		s.t.Fatal(err)
	}
	s.clock.Advance(deadline.Sub(s.clock.Now()) + time.Second)
}

func TestGoalMetChargesEveryActivePledgeOnce(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	// Goal 15,000 CHF: four pledges of 4,000 CHF meet it. Cards that decline outright
	// (pm_card_chargeDeclined…) are refused when saved, so the deadline failures come from a card
	// that saves fine and then fails (chargeCustomerFail) and from one that needs 3-D Secure.
	backers := s.backAll(c, 400000, "pm_card_visa", "pm_card_visa", "pm_card_authenticationRequired", "pm_card_chargeCustomerFail")
	if s.paymentIntentCreates() != 0 {
		t.Fatal("payment intents before the deadline")
	}
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if camp := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil); camp["status"] != "live" {
		t.Fatalf("settled before the deadline: %v", camp["status"])
	}
	s.passDeadline(c.slug)
	for range 2 { // a second tick changes nothing
		if err := s.app.Settler().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s.waitWebhooks()
	if n := s.paymentIntentCreates(); n != len(backers) {
		t.Fatalf("%d payment intents for %d pledges", n, len(backers))
	}
	want := map[string][2]string{
		"pm_card_authenticationRequired": {"authentication_required", ""},
		"pm_card_chargeCustomerFail":     {"card_declined", "generic_decline"},
	}
	for _, b := range backers {
		p := s.pledgeStatus(b)
		codes, fails := want[b.pm]
		switch {
		case !fails && p["status"] != "collected":
			t.Errorf("%s: %v, want collected", b.pm, p["status"])
		case fails && p["status"] != "payment_failed":
			t.Errorf("%s: %v, want payment_failed", b.pm, p["status"])
		case fails:
			f := p["last_failure"].(map[string]any)
			if f["code"] != codes[0] || (codes[1] != "" && f["decline_code"] != codes[1]) {
				t.Errorf("%s: failure %v, want %v", b.pm, f, codes)
			}
		}
	}
	owner := s.admin()
	r := s.must(200, "GET", "/api/v1/campaigns/"+c.id+"/settlement", owner, nil)
	by := r["by_status"].(map[string]any)
	// Stripe's fee (the double's default 2.9% + 30) on each 4,000.00 charge: 116.30.
	if r["stripe_fees"].(map[string]any)["amount"] != float64(2*11630) {
		t.Fatalf("stripe fees: %v", r["stripe_fees"])
	}
	if by["collected"].(map[string]any)["count"] != float64(2) || by["payment_failed"].(map[string]any)["count"] != float64(2) ||
		r["collected"].(map[string]any)["amount"] != float64(800000) || r["platform_fee"].(map[string]any)["amount"] != float64(40000) ||
		r["payable"].(map[string]any)["amount"] != float64(760000) || r["charges_done_at"] == nil {
		t.Fatalf("settlement report: %v", r)
	}
	// Every charge carried the campaign's transfer group and the pledge's id.
	for _, pi := range s.double().PaymentIntents() {
		if pi.TransferGroup != c.id || pi.Metadata["pledge_id"] == "" || !strings.HasPrefix(pi.Metadata["campaign_id"], "cam_") {
			t.Errorf("payment intent %s: transfer group %q metadata %v", pi.ID, pi.TransferGroup, pi.Metadata)
		}
	}
}

// DESIGN invariant 3: a failed all-or-nothing campaign charges nobody.
func TestGoalMissedChargesNobody(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	backers := s.backAll(c, 9000, "pm_card_visa", "pm_card_visa")
	pending := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "never-confirmed").JSON(t)
	s.passDeadline(c.slug)
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.paymentIntentCreates(); n != 0 {
		t.Fatalf("a failed campaign made %d payment intents", n)
	}
	camp := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)
	if camp["status"] != "failed" {
		t.Fatalf("campaign %v, want failed", camp["status"])
	}
	for _, b := range backers {
		if st := s.pledgeStatus(b)["status"]; st != "void" {
			t.Errorf("pledge %v, want void", st)
		}
	}
	if st := s.manage("GET", pending["id"].(string), pending["manage_token"].(string), nil).JSON(t)["status"]; st != "void" {
		t.Errorf("unconfirmed pledge %v, want void", st)
	}
	detached := 0
	for _, r := range s.double().Requests() {
		if strings.HasSuffix(r.Path, "/detach") && r.Status == 200 {
			detached++
		}
	}
	if detached != len(backers) {
		t.Fatalf("%d saved cards detached, want %d", detached, len(backers))
	}
}

// Two settlers racing on one campaign: one lease holder at a time, one payment intent per pledge.
func TestTwoSettlersChargeEachPledgeOnce(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	var pms []string
	for range 20 {
		pms = append(pms, "pm_card_visa")
	}
	s.backAll(c, 100000, pms...)
	s.passDeadline(c.slug)
	other := settlement.New(s.store, s.app.Pledges(), s.clock.Now, settlement.Options{Owner: "second-instance", Concurrency: 4})
	var wg sync.WaitGroup
	for _, st := range []*settlement.Settler{s.app.Settler(), other, s.app.Settler(), other} {
		wg.Go(func() {
			if err := st.Settle(context.Background(), c.id); err != nil && err != settlement.ErrBusy {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Whoever lost the race finishes nothing twice: settle again until done.
	if err := other.Settle(context.Background(), c.id); err != nil {
		t.Fatal(err)
	}
	if n := s.paymentIntentCreates(); n != 20 {
		t.Fatalf("%d payment intents for 20 pledges", n)
	}
	byPledge := map[string]int{}
	for _, pi := range s.double().PaymentIntents() {
		byPledge[pi.Metadata["pledge_id"]]++
	}
	for id, n := range byPledge {
		if n != 1 {
			t.Errorf("pledge %s has %d payment intents", id, n)
		}
	}
}

// A settler paused past its lease's expiry cannot write once a successor has: its fencing token
// is older than the one on the pledges.
func TestStaleSettlerIsFenced(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 400000, "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_visa")
	s.passDeadline(c.slug)
	ctx := context.Background()
	stale, err := s.store.AcquireLease(ctx, "settle:"+c.id, "paused-instance", time.Minute, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.Settler().Settle(ctx, c.id); err != settlement.ErrBusy {
		t.Fatalf("settle while another holds the lease: %v", err)
	}
	s.clock.Advance(2 * time.Minute) // the paused holder's lease runs out
	if err := s.app.Settler().Settle(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	p, err := s.store.FindPledge(ctx, b[0].id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != pledge.StatusCollected || p.Fence <= stale.Token {
		t.Fatalf("pledge %s fence %d, stale token %d", p.Status, p.Fence, stale.Token)
	}
	// The paused settler wakes and tries to write what it had computed.
	next := p
	next.Status = pledge.StatusPaymentFailed
	if _, err := s.store.FencedReplacePledge(ctx, p, next, stale.Token); err == nil {
		t.Fatal("a stale settler's write was accepted")
	}
	if _, err := s.store.RenewLease(ctx, stale, time.Minute, s.clock.Now()); err == nil {
		t.Fatal("a stale settler renewed a lease it lost")
	}
	if n := s.paymentIntentCreates(); n != 4 {
		t.Fatalf("%d payment intents for 4 pledges", n)
	}
}

func TestDunningRetriesFixAndDrop(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 500000, "pm_card_visa", "pm_card_chargeCustomerFail", "pm_card_chargeCustomerFail", "pm_card_authenticationRequired")
	paid, fixer, dropper, authn := b[0], b[1], b[2], b[3]
	s.passDeadline(c.slug)
	ctx := context.Background()
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	failedAt := s.clock.Now()
	p := s.pledgeStatus(dropper)
	if p["status"] != "payment_failed" {
		t.Fatalf("dropper: %v", p["status"])
	}
	stored, _ := s.store.FindPledge(ctx, dropper.id)
	if stored.NextRetryAt == nil || !stored.NextRetryAt.Equal(failedAt.Add(24*time.Hour)) {
		t.Fatalf("first retry at %v, want %v", stored.NextRetryAt, failedAt.Add(24*time.Hour))
	}
	// Just before the retry nothing happens; at it, one new attempt with its own key.
	s.clock.Advance(24*time.Hour - time.Second)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	before := s.paymentIntentCreates()
	s.clock.Advance(time.Second)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.paymentIntentCreates() - before; got != 3 {
		t.Fatalf("automatic retries at 24h: %d payment intents, want 3 (one per failed pledge)", got)
	}
	stored, _ = s.store.FindPledge(ctx, dropper.id)
	if stored.ChargeAttempts != 2 || !stored.NextRetryAt.Equal(failedAt.Add(72*time.Hour)) {
		t.Fatalf("after first retry: attempts %d next %v", stored.ChargeAttempts, stored.NextRetryAt)
	}
	// The backer fixes the card: collected once, and later ticks leave it alone.
	fixed := s.must(200, "POST", "/api/v1/pledges/"+fixer.id+"/payment-method", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", fixer.token)
	if fixed["status"] != "collected" {
		t.Fatalf("fixed payment: %v", fixed)
	}
	// 3-D Secure: the on-session fix needs the backer's action; the browser completes it with
	// Stripe.js and the webhook brings the result.
	auth := s.must(200, "POST", "/api/v1/pledges/"+authn.id+"/payment-method", "", map[string]any{"payment_method": "pm_card_authenticationRequired"}, "X-Manage-Token", authn.token)
	if auth["action_required"] != true || auth["client_secret"] == nil {
		t.Fatalf("3DS fix: %v", auth)
	}
	authStored, _ := s.store.FindPledge(ctx, authn.id)
	if _, err := s.browserStripe().PaymentIntents.Confirm(authStored.PaymentIntentID, &stripe.PaymentIntentConfirmParams{}); err != nil {
		t.Fatalf("completing 3-D Secure: %v", err)
	}
	s.waitWebhooks()
	if st := s.pledgeStatus(authn)["status"]; st != "collected" {
		t.Fatalf("after 3-D Secure: %v", st)
	}
	// The window closes: the pledge still failing is dropped and its unit released.
	s.clock.Advance(168*time.Hour - 24*time.Hour)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.pledgeStatus(dropper)["status"]; st != "dropped" {
		t.Fatalf("after the window: %v", st)
	}
	if st := s.pledgeStatus(paid)["status"]; st != "collected" {
		t.Fatalf("paid pledge: %v", st)
	}
	r := s.must(200, "GET", "/api/v1/campaigns/"+c.id+"/settlement", s.admin(), nil)
	by := r["by_status"].(map[string]any)
	if by["collected"].(map[string]any)["count"] != float64(3) || by["dropped"].(map[string]any)["count"] != float64(1) || r["pending"].(map[string]any)["amount"] != float64(0) {
		t.Fatalf("report after dunning: %v", r)
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 1500000 || backers != 3 {
		t.Fatalf("totals after drop: %v / %v", pledged, backers)
	}
	byPledge := map[string]int{}
	for _, pi := range s.double().PaymentIntents() {
		if pi.Status == "succeeded" {
			byPledge[pi.Metadata["pledge_id"]]++
		}
	}
	for id, n := range byPledge {
		if n != 1 {
			t.Errorf("pledge %s charged %d times", id, n)
		}
	}
}

// A deadline at the end of the day clocks fall back in Zurich is settled at the right instant:
// 2026-10-25 23:59:59 CET is 22:59:59 UTC.
func TestDeadlineOnTheNightClocksChange(t *testing.T) {
	s := startService(t, nil)
	s.clock.Advance(-30 * 24 * time.Hour) // start in early October so the deadline fits the window
	owner, _ := s.designer("Zurich")
	admin := s.admin()
	body := s.campaignBody("Autumn coat")
	body["deadline"] = "2026-10-25"
	body["funding_model"] = "flexible"
	c := s.must(201, "POST", "/api/v1/campaigns", owner, body)
	if c["deadline"] != "2026-10-25T22:59:59Z" {
		t.Fatalf("deadline %v", c["deadline"])
	}
	id := c["id"].(string)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", owner, nil)
	deadline := time.Date(2026, 10, 25, 22, 59, 59, 0, time.UTC)
	s.clock.Advance(deadline.Add(-time.Millisecond).Sub(s.clock.Now()))
	p := s.pledge(c["slug"].(string), map[string]any{"amount": map[string]any{"amount": 5000, "currency": "CHF"},
		"backer": map[string]any{"email": "backer@example.com", "name": "Bea"}}, "just-in-time")
	if p.Status != 201 {
		t.Fatalf("pledge 1 ms before the deadline: %d %s", p.Status, p.Body)
	}
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.must(200, "GET", "/api/v1/campaigns/"+id, "", nil)["status"]; st != "live" {
		t.Fatalf("settled 1 ms early: %v", st)
	}
	s.clock.Advance(2 * time.Millisecond)
	if r := s.pledge(c["slug"].(string), map[string]any{"amount": map[string]any{"amount": 5000, "currency": "CHF"},
		"backer": map[string]any{"email": "backer@example.com", "name": "Bea"}}, "too-late"); r.Status != 409 {
		t.Fatalf("pledge 1 ms after the deadline: %d", r.Status)
	}
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.must(200, "GET", "/api/v1/campaigns/"+id, "", nil)["status"]; st != "succeeded" {
		t.Fatalf("after the deadline: %v", st)
	}
}

func TestRefundsAndDisputesAfterCollection(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 600000, "pm_card_visa", "pm_card_visa", "pm_card_visa")
	s.passDeadline(c.slug)
	ctx := context.Background()
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	admin := s.admin()
	refund := func(id string, body map[string]any, key string) response {
		return s.call("POST", "/api/v1/admin/pledges/"+id+"/refunds", admin, body, "Idempotency-Key", key)
	}
	// Admin refunds: part, then a retry of the same request (same key: no second refund), then the rest.
	if r := refund(b[0].id, map[string]any{"amount": chf(100000), "reason": "Coat arrives without hood"}, "r1"); r.Status != 201 || r.JSON(t)["status"] != "partially_refunded" {
		t.Fatalf("partial refund: %d %s", r.Status, r.Body)
	}
	refund(b[0].id, map[string]any{"amount": chf(100000), "reason": "Coat arrives without hood"}, "r1")
	if r := refund(b[0].id, map[string]any{"amount": chf(600000), "reason": "too much"}, "r2"); r.Status != 422 {
		t.Fatalf("refund beyond what is left: %d %s", r.Status, r.Body)
	}
	if r := refund(b[0].id, map[string]any{"reason": "Backer moved abroad"}, "r3"); r.Status != 201 || r.JSON(t)["status"] != "refunded" {
		t.Fatalf("refund of the rest: %d %s", r.Status, r.Body)
	}
	if n := len(s.double().Refunds()); n != 2 {
		t.Fatalf("%d refunds at Stripe, want 2", n)
	}
	// A refund made in Stripe's dashboard reaches the pledge through charge.refunded.
	p1, _ := s.store.FindPledge(ctx, b[1].id)
	if _, err := s.double().DashboardRefund(p1.ChargeID, 250000); err != nil {
		t.Fatal(err)
	}
	// A dispute opened by the backer's bank, then lost.
	p2, _ := s.store.FindPledge(ctx, b[2].id)
	disputeID, err := s.double().DashboardDispute(p2.ChargeID, "product_not_received")
	if err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	if got := s.pledgeStatus(b[1]); got["status"] != "partially_refunded" || got["amount_refunded"].(map[string]any)["amount"] != float64(250000) {
		t.Fatalf("after a dashboard refund: %v", got)
	}
	if got := s.pledgeStatus(b[2]); got["status"] != "disputed" {
		t.Fatalf("after a dispute: %v", got["status"])
	}
	if err := s.double().CloseDispute(disputeID, false); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	if got := s.pledgeStatus(b[2]); got["status"] != "dispute_lost" {
		t.Fatalf("after losing the dispute: %v", got["status"])
	}
	r := s.must(200, "GET", "/api/v1/campaigns/"+c.id+"/settlement", admin, nil)
	amount := func(k string) float64 { return r[k].(map[string]any)["amount"].(float64) }
	// Collected 18,000.00; refunded 6,000.00 + 2,500.00; dispute lost 6,000.00; kept 3,500.00;
	// fee 5% = 175.00; payable 3,325.00.
	if amount("collected") != 1800000 || amount("refunded") != 850000 || amount("disputes_lost") != 600000 ||
		amount("platform_fee") != 17500 || amount("payable") != 332500 {
		t.Fatalf("report: %v", r)
	}
	audit, err := s.store.FindAudit(ctx, backstitch.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	refunds := 0
	for _, e := range audit {
		if e.Action == "pledge.refund" {
			refunds++
		}
	}
	if refunds != 2 {
		t.Fatalf("%d refund audit entries, want 2", refunds)
	}
}

// Designers are paid once the dunning window closes: one transfer per charge with
// source_transaction, summing to collected − refunds − platform fee to the cent, exactly once.
func TestDesignerPayout(t *testing.T) {
	s := startService(t, nil)
	owner, _ := s.designer("Payee")
	admin := s.admin()
	body := s.campaignBody("Payout coat")
	c := s.must(201, "POST", "/api/v1/campaigns", owner, body)
	id, slug := c["id"].(string), c["slug"].(string)
	tier := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Workshop", "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}})
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", owner, nil)
	setup := pledgeSetup{id: id, slug: slug, workshop: tier["id"].(string)}
	// Amounts chosen so per-charge fee rounding matters: 5% of 500,001 is 25,000.05.
	b := s.backAll(setup, 500001, "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_chargeCustomerFail")

	onboard := s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", owner, nil)
	if !strings.HasPrefix(onboard["url"].(string), "http") || onboard["payouts_enabled"] != false {
		t.Fatalf("onboarding: %v", onboard)
	}
	again := s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", owner, nil)
	if n := len(s.double().Accounts()); n != 1 {
		t.Fatalf("%d connected accounts after two onboarding calls, want 1 (%v)", n, again)
	}
	if err := s.double().CompleteOnboarding(s.double().Accounts()[0].ID); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()

	s.passDeadline(slug)
	ctx := context.Background()
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	admin = s.admin() // sessions from a month ago have expired
	if r := s.call("POST", "/api/v1/admin/pledges/"+b[0].id+"/refunds", admin, map[string]any{"amount": chf(100000), "reason": "Partial refund"}, "Idempotency-Key", "p1"); r.Status != 201 {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	if n := len(s.double().Transfers()); n != 0 {
		t.Fatal("transfers before the dunning window closed")
	}
	s.clock.Advance(168*time.Hour + time.Minute)
	for range 2 {
		if err := s.app.Settler().Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	transfers := s.double().Transfers()
	if len(transfers) != 3 {
		t.Fatalf("%d transfers, want 3 (one per collected charge)", len(transfers))
	}
	var total int64
	for _, tr := range transfers {
		if tr.SourceTransaction == nil || tr.SourceTransaction.ID == "" || tr.TransferGroup != id || tr.Destination == nil {
			t.Errorf("transfer %s: source %v group %q destination %v", tr.ID, tr.SourceTransaction, tr.TransferGroup, tr.Destination)
		}
		total += tr.Amount
	}
	// Collected 1,500,003; refunded 100,000; fees per charge: 20,000.05→20,000 (400,001),
	// 25,000.05→25,000 twice: 70,000. Designer: 1,500,003 − 100,000 − 70,000 = 1,330,003.
	if total != 1330003 {
		t.Fatalf("transferred %d, want 1330003", total)
	}
	r := s.must(200, "GET", "/api/v1/campaigns/"+id+"/settlement", s.admin(), nil)
	if r["transferred"].(map[string]any)["amount"] != float64(1330003) || r["payable"].(map[string]any)["amount"] != float64(1330003) ||
		r["platform_fee"].(map[string]any)["amount"] != float64(70000) || r["paid_out_at"] == nil {
		t.Fatalf("report after payout: %v", r)
	}
}

// Stripe answering 429 and 500 for a share of requests: the settler backs off and retries with
// the same idempotency keys, and every pledge ends up charged exactly once.
func TestSettlementRidesOutRateLimitsAndOutages(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	var pms []string
	for range 15 {
		pms = append(pms, "pm_card_visa")
	}
	s.backAll(c, 100000, pms...)
	s.passDeadline(c.slug)
	s.double().SetFaults(stripedouble.Faults{RateLimitRate: 0.3, ErrorRate: 0.2, ErrorMode: stripedouble.FaultResponseLost,
		Match: func(method, path string) bool { return method == "POST" && path == "/v1/payment_intents" }})
	var slept []time.Duration
	var mu sync.Mutex
	settler := settlement.New(s.store, s.app.Pledges(), s.clock.Now, settlement.Options{Owner: "faulty", Concurrency: 4,
		MaxProviderRetries: 50, Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
			return nil
		}})
	if err := settler.Settle(context.Background(), c.id); err != nil {
		t.Fatal(err)
	}
	s.double().SetFaults(stripedouble.Faults{})
	if len(slept) == 0 {
		t.Fatal("no backoff happened: the faults did not bite")
	}
	byPledge := map[string]int{}
	for _, pi := range s.double().PaymentIntents() {
		byPledge[pi.Metadata["pledge_id"]]++
	}
	if len(byPledge) != 15 {
		t.Fatalf("%d pledges charged, want 15", len(byPledge))
	}
	for id, n := range byPledge {
		if n != 1 {
			t.Errorf("pledge %s has %d payment intents", id, n)
		}
	}
	camp, err := s.store.FindCampaign(context.Background(), c.id)
	if err != nil || camp.Settlement.ChargedAt == nil {
		t.Fatalf("charges not done: %v %+v", err, camp.Settlement)
	}
}

// A dunning retry that meets a Stripe outage past its retries leaves the pledge "charging" after
// the campaign's deadline charges are done: the settlement tick no longer looks at the campaign,
// so dunning must take the charge up again, with the same attempt's key (Stripe answers with what
// it already did: one PaymentIntent for the attempt, never two).
func TestChargeLeftChargingDuringDunningIsResumed(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 500000, "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_chargeCustomerFail")
	failing := b[3]
	s.passDeadline(c.slug)
	ctx := context.Background()
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.pledgeStatus(failing)["status"]; st != "payment_failed" {
		t.Fatalf("after the deadline charge: %v", st)
	}
	// The first retry is due; Stripe creates the intent but every answer is lost, past the
	// settler's retries, its events included (delivered, the decline's would settle the pledge
	// at whatever step of the test it arrived, and dunning would have nothing to take up).
	s.waitWebhooks()
	s.clock.Advance(24 * time.Hour)
	lost := s.double().HoldEvents(t)
	s.double().SetFaults(stripedouble.Faults{ErrorRate: 1, ErrorMode: stripedouble.FaultResponseLost,
		Match: func(method, path string) bool { return method == "POST" && path == "/v1/payment_intents" }})
	impatient := settlement.New(s.store, s.app.Pledges(), s.clock.Now, settlement.Options{Owner: "impatient", Concurrency: 1,
		MaxProviderRetries: 1, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err := impatient.Dunning(ctx); err != nil {
		t.Fatal(err)
	}
	s.double().SetFaults(stripedouble.Faults{})
	if len(lost.Events()) == 0 {
		t.Fatal("the retry made no event: the hold kept nothing")
	}
	lost.Discard()
	stored, _ := s.store.FindPledge(ctx, failing.id)
	if stored.Status != "charging" || stored.ChargeAttempts != 2 {
		t.Fatalf("after the outage: %s, attempt %d; want charging, attempt 2", stored.Status, stored.ChargeAttempts)
	}
	camp, err := s.store.FindCampaign(ctx, c.id)
	if err != nil || camp.Settlement == nil || camp.Settlement.ChargedAt == nil {
		t.Fatalf("the campaign's deadline charges are not marked done: %+v %v", camp.Settlement, err)
	}
	// A tick soon after leaves a charge that may still be in flight alone; a later one resumes it.
	s.clock.Advance(time.Minute)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if stored, _ = s.store.FindPledge(ctx, failing.id); stored.Status != "charging" {
		t.Fatalf("a minute later: %s; a charge this young is left to its settler", stored.Status)
	}
	s.clock.Advance(10 * time.Minute)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	stored, _ = s.store.FindPledge(ctx, failing.id)
	if stored.Status != "payment_failed" || stored.ChargeAttempts != 2 || stored.NextRetryAt == nil {
		t.Fatalf("after dunning took it up: %s, attempt %d, next retry %v; want payment_failed at attempt 2 with a retry", stored.Status, stored.ChargeAttempts, stored.NextRetryAt)
	}
	attempts := map[string]int{}
	for _, pi := range s.double().PaymentIntents() {
		if pi.Metadata["pledge_id"] == failing.id {
			attempts[pi.Metadata["charge_attempt"]]++
		}
	}
	if len(attempts) != 2 || attempts["1"] != 1 || attempts["2"] != 1 {
		t.Fatalf("payment intents per attempt: %v; want one for each of attempts 1 and 2", attempts)
	}
}
