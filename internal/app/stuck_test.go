//go:build !production

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// A pledge left "charging" for longer than Stripe keeps idempotency keys is finished by reading
// Stripe, never by repeating the request blindly: a charge Stripe made (its answer lost, and its
// key stored with a 500 as Stripe does for its own errors) is recorded without another
// PaymentIntent, and an attempt Stripe never received is made again under a new key, once.
func TestChargeStuckPastTheKeyLifetimeIsResolvedFromStripe(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	// One backer each, pledging the whole goal.
	stuck := func() (pledgeSetup, []backer) {
		c := s.pledgeSetup("all_or_nothing", 10)
		return c, s.backAll(c, 1500000, "pm_card_visa")
	}
	made, madeBackers := stuck()
	lost, lostBackers := stuck()
	// The deadline passes with the webhook endpoint down, so only Stripe itself knows.
	s.double().SetWebhook("", s.app.WebhookSecret())
	s.passDeadline(made.slug)
	impatient := settlement.New(s.store, s.app.Pledges(), s.clock.Now, settlement.Options{Owner: "impatient", MaxProviderRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	isCreate := func(method, path string) bool { return method == "POST" && path == "/v1/payment_intents" }
	for _, c := range []struct {
		setup pledgeSetup
		mode  stripedouble.FaultMode
	}{{made, stripedouble.FaultStoredError}, {lost, stripedouble.FaultRejected}} {
		s.double().SetFaults(stripedouble.Faults{ErrorRate: 1, ErrorMode: c.mode, Match: isCreate})
		if err := impatient.Settle(ctx, c.setup.id); err != nil {
			t.Fatal(err)
		}
	}
	s.double().SetFaults(stripedouble.Faults{})
	perPledge := func() map[string]int {
		out := map[string]int{}
		for _, pi := range s.double().PaymentIntents() {
			out[pi.Metadata["pledge_id"]]++
		}
		return out
	}
	madeID, lostID := madeBackers[0].id, lostBackers[0].id
	if n := perPledge(); n[madeID] != 1 || n[lostID] != 0 {
		t.Fatalf("before: payment intents per pledge %v; want 1 made, 0 for the lost one", n)
	}
	for _, id := range []string{madeID, lostID} {
		if p, _ := s.store.FindPledge(ctx, id); p.Status != pledge.StatusCharging {
			t.Fatalf("pledge %s is %s, want charging", id, p.Status)
		}
	}
	// Within a day the same key is repeated: Stripe replays its stored 500 and nothing moves.
	s.clock.Advance(2 * time.Hour)
	if err := impatient.Settle(ctx, made.id); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.store.FindPledge(ctx, madeID); p.Status != pledge.StatusCharging || p.ChargeAttempts != 1 {
		t.Fatalf("within the key's life: %s attempt %d, want charging attempt 1", p.Status, p.ChargeAttempts)
	}
	// A day later the key may be gone: Stripe is read first.
	s.clock.Advance(pledge.KeyLifetime)
	for _, c := range []pledgeSetup{made, lost} {
		if err := s.app.Settler().Settle(ctx, c.id); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := s.store.FindPledge(ctx, madeID)
	l, _ := s.store.FindPledge(ctx, lostID)
	if m.Status != pledge.StatusCollected || m.ChargeAttempts != 1 || m.ChargeID == "" {
		t.Fatalf("charge Stripe made: %s attempt %d charge %q; want collected on attempt 1", m.Status, m.ChargeAttempts, m.ChargeID)
	}
	if l.Status != pledge.StatusCollected || l.ChargeAttempts != 2 {
		t.Fatalf("charge Stripe never got: %s attempt %d; want collected on attempt 2", l.Status, l.ChargeAttempts)
	}
	if n := perPledge(); n[madeID] != 1 || n[lostID] != 1 {
		t.Fatalf("after: payment intents per pledge %v; want exactly one each", n)
	}
	if charged := len(s.double().Charges()); charged != 2 {
		t.Fatalf("%d charges at Stripe, want 2", charged)
	}
}
