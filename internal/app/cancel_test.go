//go:build !production

package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// pledgeStatusOf reads a pledge's status as its backer sees it.
func (s *service) pledgeStatusOf(id, token string) string {
	s.t.Helper()
	return s.must(200, "GET", "/api/v1/pledges/"+id, "", nil, "X-Manage-Token", token)["status"].(string)
}

// Cancelling a live all-or-nothing campaign leaves nobody's card saved for nothing and no unit
// held: its pledges become void, cards are detached, units and totals go back, nobody is charged.
func TestCancelledAllOrNothingCampaignReleasesEveryPledge(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 5)
	type made struct{ id, token string }
	var active []made
	for i, tier := range []string{c.coatTier, c.coatTier, c.workshop} {
		p := s.pledge(c.slug, coatPledge(tier, 32000), fmt.Sprint("cancel-aon-", i)).JSON(t)
		m := made{p["id"].(string), p["manage_token"].(string)}
		s.must(200, "POST", "/api/v1/pledges/"+m.id+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", m.token)
		active = append(active, m)
	}
	pendingOne := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "cancel-aon-pending").JSON(t)
	s.waitWebhooks()
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 2 {
		t.Fatalf("remaining before cancelling: %v", rem)
	}
	// Another designer cannot cancel it; its own designer can, with or without a reason.
	other, _ := s.designer("Stranger")
	if r := s.call("POST", "/api/v1/campaigns/"+c.id+"/cancel", other, map[string]any{"reason": "mine now"}); r.Status != 403 && r.Status != 404 {
		t.Fatalf("another designer cancelling: %d %s", r.Status, r.Body)
	}
	got := s.must(200, "POST", "/api/v1/campaigns/"+c.id+"/cancel", c.owner, map[string]any{"reason": "The mill closed."})
	cc, _ := got["cancellation"].(map[string]any)
	if got["status"] != "cancelled" || cc == nil || cc["reason"] != "The mill closed." || cc["winding_down"] != true {
		t.Fatalf("cancelled campaign: %v", got)
	}
	// Nobody can pledge, change or confirm any more.
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "cancel-aon-late"); r.Status != 409 || r.JSON(t)["code"] != "campaign_not_live" {
		t.Fatalf("pledge on a cancelled campaign: %d %s", r.Status, r.Body)
	}
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range append(active, made{pendingOne["id"].(string), pendingOne["manage_token"].(string)}) {
		if st := s.pledgeStatusOf(m.id, m.token); st != "void" {
			t.Fatalf("pledge %s after the wind-down: %s, want void", m.id, st)
		}
	}
	public := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)
	if pledged, backers := s.campaignTotals(c.slug); pledged != 0 || backers != 0 {
		t.Fatalf("totals after the wind-down: %v/%v", pledged, backers)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 5 {
		t.Fatalf("units after the wind-down: %v remaining, want all 5", rem)
	}
	if cc := public["cancellation"].(map[string]any); cc["winding_down"] != false || cc["reason"] != "The mill closed." {
		t.Fatalf("public cancellation: %v", cc)
	}
	if n := len(s.double().PaymentIntents()); n != 0 {
		t.Fatalf("%d PaymentIntents for a cancelled all-or-nothing campaign", n)
	}
	for _, pm := range s.double().PaymentMethods() {
		if pm.Customer != nil {
			t.Fatalf("payment method %s still attached to %s", pm.ID, pm.Customer.ID)
		}
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() {
		t.Fatalf("counters after the wind-down: %+v %v", drift, err)
	}
	// After its deadline a campaign can no longer be cancelled: settlement decides.
	late := s.pledgeSetup("all_or_nothing", 5)
	s.passDeadline(late.slug)
	if r := s.call("POST", "/api/v1/campaigns/"+late.id+"/cancel", s.admin(), map[string]any{"reason": "too late"}); r.Status != 409 || r.JSON(t)["code"] != "invalid_state" {
		t.Fatalf("cancel after the deadline: %d %s", r.Status, r.Body)
	}
}

// Cancelling a live flexible campaign refunds every charge in full, once, even when the wind-down
// is interrupted by Stripe refusing service and resumed by a later tick; nothing is paid out and
// the settlement report shows nothing payable. An admin must say why she cancels.
func TestCancelledFlexibleCampaignRefundsEveryCharge(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_CANCEL_FEES_BORNE_BY": "designer"})
	c := s.pledgeSetup("flexible", 5)
	type made struct{ id, token string }
	var paid []made
	for i, amount := range []int{32000, 45000, 32000} {
		p := s.pledge(c.slug, coatPledge(c.coatTier, amount), fmt.Sprint("cancel-flex-", i)).JSON(t)
		m := made{p["id"].(string), p["manage_token"].(string)}
		s.must(200, "POST", "/api/v1/pledges/"+m.id+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", m.token)
		paid = append(paid, m)
	}
	s.waitWebhooks()
	admin := s.admin()
	if r := s.call("POST", "/api/v1/campaigns/"+c.id+"/cancel", admin, map[string]any{}); r.Status != 422 || r.fieldCode(t, "reason") != "required" {
		t.Fatalf("admin cancel without a reason: %d %s", r.Status, r.Body)
	}
	s.must(200, "POST", "/api/v1/campaigns/"+c.id+"/cancel", admin, map[string]any{"reason": "The designer asked us to stop."})
	audit := s.must(200, "GET", "/api/v1/admin/audit-log?action=campaign.cancel", admin, nil)
	if entries, _ := audit["entries"].([]any); len(entries) != 1 {
		t.Fatalf("audit log of the cancel: %v", audit)
	}
	// The first wind-down meets Stripe refusing every refund (rate limited): nothing is lost.
	isRefund := func(method, path string) bool { return method == "POST" && path == "/v1/refunds" }
	s.double().SetFaults(stripedouble.Faults{RateLimitRate: 1, Match: isRefund})
	impatient := settlement.New(s.store, s.app.Pledges(), s.clock.Now, settlement.Options{Owner: "impatient", MaxProviderRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err := impatient.Settle(context.Background(), c.id); err == nil {
		t.Fatal("wind-down reported done while Stripe refused every refund")
	}
	if cc := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)["cancellation"].(map[string]any); cc["winding_down"] != true {
		t.Fatalf("cancellation after a failed wind-down: %v", cc)
	}
	s.double().SetFaults(stripedouble.Faults{})
	for range 2 { // the next tick finishes it; another changes nothing
		if err := s.app.Settler().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s.waitWebhooks()
	for _, m := range paid {
		if st := s.pledgeStatusOf(m.id, m.token); st != "refunded" {
			t.Fatalf("pledge %s after the wind-down: %s, want refunded", m.id, st)
		}
	}
	var refunded int64
	perCharge := map[string]int{}
	for _, r := range s.double().Refunds() {
		refunded += r.Amount
		perCharge[r.Charge.ID]++
	}
	if refunded != 109000 || len(perCharge) != 3 {
		t.Fatalf("Stripe refunded %d over %d charges, want 109000 over 3 (%v)", refunded, len(perCharge), perCharge)
	}
	for ch, n := range perCharge {
		if n != 1 {
			t.Fatalf("charge %s refunded %d times", ch, n)
		}
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 5 {
		t.Fatalf("units after the wind-down: %v remaining", rem)
	}
	report := s.must(200, "GET", "/api/v1/campaigns/"+c.id+"/settlement", c.owner, nil)
	if report["payable"].(map[string]any)["amount"] != float64(0) {
		t.Fatalf("a cancelled campaign is payable: %v", report)
	}
	mine := s.must(200, "GET", "/api/v1/campaigns/"+c.id, c.owner, nil)["cancellation"].(map[string]any)
	if mine["refunded"].(map[string]any)["amount"] != float64(109000) || mine["stripe_fees_owed_by_designer"] == nil {
		t.Fatalf("cancellation seen by its designer: %v", mine)
	}
	if public := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)["cancellation"].(map[string]any); public["stripe_fees_owed_by_designer"] != nil {
		t.Fatalf("the public sees what the designer owes: %v", public)
	}
	s.clock.Advance(40 * 24 * time.Hour) // long past any payout window
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.double().Transfers()); n != 0 {
		t.Fatalf("%d transfers for a cancelled campaign", n)
	}
}
