//go:build !production

package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

var allStatuses = []pledge.Status{pledge.StatusPending, pledge.StatusActive, pledge.StatusCollected, pledge.StatusCancelled,
	pledge.StatusExpired, pledge.StatusCharging, pledge.StatusPaymentFailed, pledge.StatusDropped, pledge.StatusVoid,
	pledge.StatusPartiallyRefunded, pledge.StatusRefunded, pledge.StatusDisputed, pledge.StatusDisputeLost}

// Chaos on the webhook path: across two campaigns' lives (pledges, a change, 3-D Secure at saving
// and at the deadline, deadline charges, dunning with a fixed card and a dropped one, a
// cancellation, refunds, a dispute, a flexible campaign charged at once), every event Stripe sends
// is delivered three times when it is delivered at all, one in five never arrives, and a third
// are held back and overtaken. The service must never charge twice, and after a reconciliation
// run whose findings are resynced, every pledge's money must be what Stripe says it is: charged
// or not, how much, how much refunded, disputed or not.
func TestWebhookChaosEndsWhereStripeIs(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	chaos := stripedouble.WebhookFaults{DropRate: 0.2, DuplicateRate: 1, Copies: 3,
		ReorderRate: 0.3, DelayRate: 0.2, Delay: 30 * time.Millisecond}
	s.double().SetWebhookFaults(chaos)
	admin := s.admin()

	// All or nothing, goal 15,000: eight backers of 4,000 (one saving with 3-D Secure, one card
	// that fails at the deadline and is fixed, one that fails and is never fixed, one that needs
	// 3-D Secure at the deadline), then one raises her pledge and one cancels.
	aon := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(aon, 400000, "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_authenticationRequired",
		"pm_card_chargeCustomerFail", "pm_card_chargeCustomerFail", "pm_card_visa", "pm_card_visa")
	raiser, canceller, fixer, dropper := b[0], b[7], b[4], b[5]
	s.must(200, "PATCH", "/api/v1/pledges/"+raiser.id, "", map[string]any{"amount": chf(450000)}, "X-Manage-Token", raiser.token)
	s.must(200, "POST", "/api/v1/pledges/"+canceller.id+"/cancel", "", nil, "X-Manage-Token", canceller.token)

	// Flexible: three backers charged at once, one through 3-D Secure in the browser.
	flex := s.pledgeSetup("flexible", 10)
	flexA, _ := s.collectedFlexible(flex, 10000, "chaos-flex-a")
	flexB, _ := s.collectedFlexible(flex, 25000, "chaos-flex-b")
	p := s.pledge(flex.slug, map[string]any{"amount": chf(12000), "backer": map[string]any{"email": "flex@example.com", "name": "Flex"}}, "chaos-flex-3ds").JSON(t)
	flex3DS := backer{id: p["id"].(string), token: p["manage_token"].(string)}
	if r := s.manage("POST", flex3DS.id, flex3DS.token, map[string]any{"payment_method": "pm_card_authenticationRequired"}); r.Status != 200 {
		t.Fatalf("3-D Secure flexible pledge: %d %s", r.Status, r.Body)
	}
	// Whatever the seed draws, this backer's payment_intent.succeeded is among the lost: Stripe has
	// her money while the pledge still waits, and its hold runs out.
	s.double().SetWebhookFaults(stripedouble.WebhookFaults{DropRate: 1})
	stored, _ := s.store.FindPledge(ctx, flex3DS.id)
	if _, err := s.browserStripe().PaymentIntents.Confirm(stored.PaymentIntentID, &stripe.PaymentIntentConfirmParams{}); err != nil {
		t.Fatalf("completing 3-D Secure: %v", err)
	}
	s.waitWebhooks()
	s.double().SetWebhookFaults(chaos)
	s.clock.Advance(time.Hour)
	s.app.SweepPledges(ctx)
	if st := s.pledgeStatusOf(flex3DS.id, flex3DS.token); st != "collected" {
		t.Fatalf("the flexible 3-D Secure pledge whose webhook was lost, after its hold: %s", st)
	}

	// The deadline: charges, dunning, a fixed card, the window closing on the other.
	s.passDeadline(aon.slug)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	if st := s.pledgeStatus(fixer)["status"]; st == "payment_failed" {
		s.must(200, "POST", "/api/v1/pledges/"+fixer.id+"/payment-method", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", fixer.token)
	} else {
		t.Fatalf("the failing card at the deadline: %v", st)
	}
	for _, step := range []time.Duration{24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 24 * time.Hour} {
		s.clock.Advance(step)
		if err := s.app.Settler().Tick(ctx); err != nil {
			t.Fatal(err)
		}
		s.app.SweepPledges(ctx)
	}
	if st := s.pledgeStatus(dropper)["status"]; st != "dropped" {
		t.Fatalf("the never-fixed card after the window: %v", st)
	}

	// After collection: a partial and a full refund by admins, a dispute from the bank. (A week
	// has passed: the admin signs in again.)
	admin = s.admin()
	s.must(201, "POST", "/api/v1/admin/pledges/"+b[1].id+"/refunds", admin, map[string]any{"amount": chf(100000), "reason": "requested_by_customer"})
	s.must(201, "POST", "/api/v1/admin/pledges/"+flexA+"/refunds", admin, map[string]any{"reason": "requested_by_customer"})
	disputed, _ := s.store.FindPledge(ctx, b[2].id)
	if _, err := s.double().DashboardDispute(disputed.ChargeID, "product_not_received"); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()

	deliveries := s.double().WebhookDeliveries()
	dropped, sent := 0, map[string]int{}
	for _, d := range deliveries {
		if d.Dropped {
			dropped++
		} else {
			sent[d.EventID]++
		}
	}
	t.Logf("webhooks: %d events, %d dropped, %d delivered (%d deliveries)", len(s.double().Events()), dropped, len(sent), len(deliveries)-dropped)
	if dropped == 0 {
		t.Fatal("no webhook was dropped: the chaos did not happen")
	}

	// Reconcile both campaigns; resync whatever Stripe knows better; the next run is clean.
	resolved := 0
	for _, c := range []pledgeSetup{aon, flex} {
		run := s.reconcileRun(admin, c.id)
		for _, f := range run["findings"].([]any) {
			f := f.(map[string]any)
			r := s.call("POST", "/api/v1/admin/reconciliations/"+run["id"].(string)+"/findings/"+f["id"].(string)+"/resolve", admin,
				map[string]any{"action": "resync"})
			if r.Status != 200 {
				t.Fatalf("resync of %v: %d %s", f["kind"], r.Status, r.Body)
			}
			resolved++
		}
		if again := s.reconcileRun(admin, c.id); len(again["findings"].([]any)) != 0 {
			t.Fatalf("after resyncing, campaign %s still has findings: %v", c.id, again["findings"])
		}
	}
	t.Logf("reconciliation: %d findings resynced", resolved)

	// Every pledge's money equals Stripe's, and nobody was charged twice.
	type truth struct {
		charged, refunded int64
		succeeded         int
		disputed          bool
	}
	stripeSays := map[string]*truth{}
	at := func(id string) *truth {
		if stripeSays[id] == nil {
			stripeSays[id] = &truth{}
		}
		return stripeSays[id]
	}
	chargeOf := map[string]string{}
	for _, pi := range s.double().PaymentIntents() {
		if pi.Status == stripe.PaymentIntentStatusSucceeded {
			tr := at(pi.Metadata["pledge_id"])
			tr.succeeded++
			tr.charged += pi.AmountReceived
			if pi.LatestCharge != nil {
				chargeOf[pi.LatestCharge.ID] = pi.Metadata["pledge_id"]
			}
		}
	}
	for _, r := range s.double().Refunds() {
		if r.Status == stripe.RefundStatusSucceeded && r.Charge != nil {
			at(chargeOf[r.Charge.ID]).refunded += r.Amount
		}
	}
	for _, d := range s.double().Disputes() {
		if d.Charge != nil {
			at(chargeOf[d.Charge.ID]).disputed = true
		}
	}
	checked := 0
	for _, c := range []pledgeSetup{aon, flex} {
		pledges, err := s.store.FindPledgesByStatus(ctx, c.id, allStatuses, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, pl := range pledges {
			tr := at(pl.ID)
			where := fmt.Sprintf("pledge %s (%s)", pl.ID, pl.Status)
			if tr.succeeded > 1 {
				t.Errorf("%s: charged %d times", where, tr.succeeded)
			}
			if pl.Status.Charged() != (tr.succeeded == 1) {
				t.Errorf("%s: charged here %v, Stripe charged %d times", where, pl.Status.Charged(), tr.succeeded)
			}
			if tr.succeeded == 1 && pl.Amount.Amount != tr.charged {
				t.Errorf("%s: amount %d, Stripe charged %d", where, pl.Amount.Amount, tr.charged)
			}
			if pl.AmountRefunded != tr.refunded {
				t.Errorf("%s: refunded %d, Stripe refunded %d", where, pl.AmountRefunded, tr.refunded)
			}
			if (pl.Dispute != nil) != tr.disputed {
				t.Errorf("%s: dispute here %v, at Stripe %v", where, pl.Dispute != nil, tr.disputed)
			}
			if pl.Status == pledge.StatusCharging || pl.Pending != nil {
				t.Errorf("%s: left mid-way (pending %v)", where, pl.Pending)
			}
			checked++
		}
	}
	t.Logf("pledges checked against Stripe: %d", checked)
	for _, want := range []string{flexB, flex3DS.id, raiser.id, fixer.id} {
		if at(want).succeeded != 1 {
			t.Errorf("pledge %s was never charged", want)
		}
	}
}
