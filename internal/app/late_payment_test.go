//go:build !production

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/stripedouble"
)

// A backer completes 3-D Secure in her browser at the last moment and Stripe's webhook about it is
// lost. Whatever ends her pending pledge next (the hold running out, her own cancellation, the
// deadline) must find the money or the saved card at Stripe first, never end the pledge while
// Stripe has her money: her reward stays hers, the campaign counts her, and a charge is refunded
// only when she cancels.
func TestLatePaymentIsRecordedBeforeAPendingPledgeEnds(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	flex := s.pledgeSetup("flexible", 10)
	aon := s.pledgeSetup("all_or_nothing", 10)

	// start makes a pending pledge whose 3-D Secure the browser completes, with every webhook lost.
	start := func(c pledgeSetup, key string, amount int) backer {
		t.Helper()
		p := s.pledge(c.slug, coatPledge(c.coatTier, amount), key).JSON(t)
		b := backer{id: p["id"].(string), token: p["manage_token"].(string)}
		if r := s.manage("POST", b.id, b.token, map[string]any{"payment_method": "pm_card_authenticationRequired"}); r.Status != 200 || r.JSON(t)["action_required"] != true {
			t.Fatalf("3-D Secure pledge: %d %s", r.Status, r.Body)
		}
		s.double().SetWebhookFaults(stripedouble.WebhookFaults{DropRate: 1})
		stored, _ := s.store.FindPledge(ctx, b.id)
		var err error
		if stored.SetupIntentID != "" {
			_, err = s.browserStripe().SetupIntents.Confirm(stored.SetupIntentID, &stripe.SetupIntentConfirmParams{})
		} else {
			_, err = s.browserStripe().PaymentIntents.Confirm(stored.PaymentIntentID, &stripe.PaymentIntentConfirmParams{})
		}
		if err != nil {
			t.Fatalf("completing 3-D Secure: %v", err)
		}
		s.waitWebhooks()
		s.double().SetWebhookFaults(stripedouble.WebhookFaults{})
		if st := s.pledgeStatusOf(b.id, b.token); st != "pending" {
			t.Fatalf("the lost webhook reached the pledge anyway: %s", st)
		}
		return b
	}
	paidFlex := start(flex, "late-flex-hold", 32000)
	cancelledFlex := start(flex, "late-flex-cancel", 33000)
	savedCard := start(aon, "late-aon-hold", 32000)

	// The backer cancels: the money Stripe took is found and refunded in full.
	if r := s.manage("POST", cancelledFlex.id, cancelledFlex.token, nil); r.Status != 200 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	refunded := int64(0)
	stored, _ := s.store.FindPledge(ctx, cancelledFlex.id)
	for _, r := range s.double().Refunds() {
		if r.PaymentIntent != nil && r.PaymentIntent.ID == stored.PaymentIntentID {
			refunded += r.Amount
		}
	}
	if stored.Status != "cancelled" || refunded != 33000 {
		t.Fatalf("cancelled late payment: status %s, refunded at Stripe %d", stored.Status, refunded)
	}

	// The holds run out: the sweeper records what Stripe has instead of expiring.
	leftBefore := s.tierRemaining(flex.slug, flex.coatTier)
	s.clock.Advance(time.Hour)
	s.app.SweepPledges(ctx)
	if st := s.pledgeStatusOf(paidFlex.id, paidFlex.token); st != "collected" {
		t.Fatalf("flexible pledge paid at the last moment, after its hold: %s", st)
	}
	if st := s.pledgeStatusOf(savedCard.id, savedCard.token); st != "active" {
		t.Fatalf("all-or-nothing pledge whose card was saved at the last moment, after its hold: %s", st)
	}
	if left := s.tierRemaining(flex.slug, flex.coatTier); left != leftBefore {
		t.Fatalf("the paid pledge's coat went back: %v → %v left", leftBefore, left)
	}
	if pledged, backers := s.campaignTotals(flex.slug); pledged != 32000 || backers != 1 {
		t.Fatalf("flexible totals: %v from %v backers, want 320.00 from 1", pledged, backers)
	}

	// At the deadline of the all-or-nothing campaign (its goal not met), a pledge pending with a
	// card saved at the last moment is voided like the others, its card released.
	late := start(aon, "late-aon-deadline", 32000)
	s.passDeadline(aon.slug)
	if err := s.app.Settler().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range []backer{savedCard, late} {
		if st := s.pledgeStatusOf(b.id, b.token); st != "void" {
			t.Errorf("all-or-nothing pledge after a missed goal: %s", st)
		}
	}
	for _, pi := range s.double().PaymentIntents() {
		if pi.Metadata["campaign_id"] == aon.id {
			t.Errorf("a campaign that missed its goal charged %s", pi.ID)
		}
	}
}
