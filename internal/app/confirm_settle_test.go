//go:build !production

package app_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/pledge"
)

// Stripe's webhook records a payment before the backer's confirm request does, and its change
// is still on its way to the totals when the request reads the pledge. The request answers
// "active" or "collected" only once that change is counted: the page she reads next shows her
// pledge, and her confirmation is in the outbox.
func TestConfirmAnswersOnceTheWebhooksChangeIsCounted(t *testing.T) {
	s := startService(t, nil)
	for _, tc := range []struct{ model, status string }{{"all_or_nothing", "active"}, {"flexible", "collected"}} {
		t.Run(tc.model, func(t *testing.T) {
			c := s.pledgeSetup(tc.model, 5)
			p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "webhook-first-"+tc.model).JSON(t)
			id, token := p["id"].(string), p["manage_token"].(string)
			if pledged, backers := s.campaignTotals(c.slug); pledged != 0 || backers != 0 {
				t.Fatalf("totals before any payment: %v/%v", pledged, backers)
			}

			// The webhook's change stops right after its pledge write, before the totals follow,
			// until the confirm request has had ample time to answer without waiting for it.
			reached, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			s.app.Pledges().SetFaultHook(func(at pledge.FaultPoint) error {
				if at == pledge.AfterPledgeWrite {
					once.Do(func() { close(reached); <-resume })
				}
				return nil
			})
			t.Cleanup(func() { s.app.Pledges().SetFaultHook(nil) })
			// The backer's browser pays at Stripe (Stripe.js); Stripe tells the service at once.
			stored := s.findPledge(id)
			var err error
			if stored.SetupIntentID != "" {
				_, err = s.browserStripe().SetupIntents.Confirm(stored.SetupIntentID, &stripe.SetupIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
			} else {
				_, err = s.browserStripe().PaymentIntents.Confirm(stored.PaymentIntentID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
			}
			if err != nil {
				t.Fatalf("paying at Stripe: %v", err)
			}
			select {
			case <-reached:
			case <-time.After(20 * time.Second):
				t.Fatal("the webhook's change never reached the pledge")
			}
			if got := s.findPledge(id); string(got.Status) != tc.status || got.Pending == nil {
				t.Fatalf("staged webhook change: %s, pending %+v; want %s with its counters owed", got.Status, got.Pending, tc.status)
			}
			go func() {
				time.Sleep(300 * time.Millisecond)
				close(resume)
			}()

			r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"})
			if r.Status != 200 || r.JSON(t)["status"] != tc.status {
				t.Fatalf("confirm after the webhook: %d %s", r.Status, r.Body)
			}
			if pledged, backers := s.campaignTotals(c.slug); pledged != 32000 || backers != 1 {
				t.Fatalf("totals right after the confirm's 200: %v/%v, want 32000/1", pledged, backers)
			}
			if got := s.findPledge(id); got.Pending != nil || len(got.Owed) != 0 || transitionsTo(got, pledge.Status(tc.status)) != 1 {
				t.Fatalf("after the confirm's 200: pending %+v, owed %+v, history %+v; want counted once and the confirmation in the outbox",
					got.Pending, got.Owed, got.History)
			}
			s.waitWebhooks()
		})
	}
}
