//go:build !production

package app_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/pledge"
)

// campaignPledges are the pledges stored for a campaign.
func (s *service) campaignPledges(campaignID string) []pledge.Pledge {
	s.t.Helper()
	var out []pledge.Pledge
	if err := s.store.FindCampaignPledges(context.Background(), campaignID, func(p pledge.Pledge) error {
		out = append(out, p)
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// storedRemaining is a tier's remaining units as stored (not through the public cache).
func (s *service) storedRemaining(campaignID, tierID string) int64 {
	s.t.Helper()
	t, err := s.store.FindTier(context.Background(), campaignID, tierID)
	if err != nil || t.Remaining == nil {
		s.t.Fatalf("tier %s: %+v %v", tierID, t.Remaining, err)
	}
	return *t.Remaining
}

// refusedAndVoid checks that the campaign's one pledge was refused (409 campaign_not_live) and
// ended void, its unit back and its intent cancelled at Stripe, and that a retry of the request
// gets the same refusal rather than the pledge's client secret (retry nil: the key has expired).
func (s *service) refusedAndVoid(t *testing.T, c pledgeSetup, r response, retry func() response) {
	t.Helper()
	if r.Status != 409 || r.JSON(t)["code"] != "campaign_not_live" {
		t.Fatalf("pledge racing the campaign's end: %d %s, want 409 campaign_not_live", r.Status, r.Body)
	}
	ps := s.campaignPledges(c.id)
	if len(ps) != 1 || ps[0].Status != pledge.StatusVoid {
		t.Fatalf("pledges after the race: %+v, want one void", ps)
	}
	if rem := s.storedRemaining(c.id, c.coatTier); rem != 5 {
		t.Fatalf("remaining %d after the race, want 5 (the unit given back)", rem)
	}
	p := ps[0]
	switch {
	case p.PaymentIntentID != "":
		pi, err := s.browserStripe().PaymentIntents.Get(p.PaymentIntentID, nil)
		if err != nil || pi.Status != stripe.PaymentIntentStatusCanceled {
			t.Fatalf("payment intent of the refused pledge: %+v %v, want canceled", pi, err)
		}
	case p.SetupIntentID != "":
		si, err := s.browserStripe().SetupIntents.Get(p.SetupIntentID, nil)
		if err != nil || si.Status != stripe.SetupIntentStatusCanceled {
			t.Fatalf("setup intent of the refused pledge: %+v %v, want canceled", si, err)
		}
	default:
		t.Fatalf("refused pledge has no intent: %+v", p)
	}
	if retry == nil {
		return
	}
	if r := retry(); r.Status != 409 || r.JSON(t)["code"] != "campaign_not_live" {
		t.Fatalf("retry of the refused pledge: %d %s, want 409 campaign_not_live", r.Status, r.Body)
	}
}

// TestPledgeRacingTheCampaignsEnd: a pledge read its campaign live, and before its insert the
// campaign ended and the settler swept its pledges (a cancellation wound down; a deadline
// decided). No sweep comes after that one, so the pledge must see the end itself: it reads the
// campaign's gate, which the settler closed before its sweep, after its insert, and voids
// itself. Otherwise a pending pledge lives on in a closed campaign, and a flexible one's backer
// can still pay with the client secret she was given: money nobody refunds.
func TestPledgeRacingTheCampaignsEnd(t *testing.T) {
	s := startService(t, nil)
	for _, tc := range []struct {
		name, model string
		end         func(t *testing.T, c pledgeSetup)
	}{
		{"cancelled and wound down", "flexible", func(t *testing.T, c pledgeSetup) {
			s.must(200, "POST", "/api/v1/campaigns/"+c.id+"/cancel", c.owner, map[string]any{"reason": "The mill closed."})
			if err := s.app.Settler().Settle(context.Background(), c.id); err != nil {
				t.Errorf("wind-down: %v", err)
			}
		}},
		{"decided at the deadline", "all_or_nothing", func(t *testing.T, c pledgeSetup) {
			s.passDeadline(c.slug)
			if err := s.app.Settler().Settle(context.Background(), c.id); err != nil {
				t.Errorf("decision: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.pledgeSetup(tc.model, 5)
			var once sync.Once
			s.app.Pledges().SetFaultHook(func(at pledge.FaultPoint) error {
				if at == pledge.BeforePledgeInsert {
					once.Do(func() { tc.end(t, c) })
				}
				return nil
			})
			defer s.app.Pledges().SetFaultHook(nil)
			key := "racing-the-end-" + tc.model
			r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), key)
			retry := func() response { return s.pledge(c.slug, coatPledge(c.coatTier, 32000), key) }
			if tc.model == "all_or_nothing" {
				retry = nil // past the deadline, weeks on: the key's replay window is over
			}
			s.refusedAndVoid(t, c, r, retry)
		})
	}
}

// TestPledgeOnAStaleCopy: an instance pledges from copies of the campaign and its tier up to a
// second old, while another instance changes them. A tier repriced meanwhile is priced anew
// (its claim requires the tier its copy was), and a campaign cancelled and wound down meanwhile
// refuses the pledge (its gate), whatever the copy says.
func TestPledgeOnAStaleCopy(t *testing.T) {
	a := startService(t, nil)
	b := a.secondInstance(nil)

	t.Run("tier repriced", func(t *testing.T) {
		c := a.pledgeSetup("all_or_nothing", 5)
		// A refused pledge leaves a's copies of the campaign and the tier, and no backer, so the
		// price may still change.
		if r := a.pledge(c.slug, coatPledge(c.coatTier, 100), "warm-copies"); r.Status != 422 {
			t.Fatalf("pledge below the price: %d %s", r.Status, r.Body)
		}
		b.must(200, "PATCH", "/api/v1/campaigns/"+c.id+"/tiers/"+c.coatTier, c.owner,
			map[string]any{"price": map[string]any{"amount": 40000, "currency": "CHF"}})
		if r := a.pledge(c.slug, coatPledge(c.coatTier, 32000), "old-price"); r.Status != 422 {
			t.Fatalf("pledge at the old price after a repricing on another instance: %d %s, want 422", r.Status, r.Body)
		}
		r := a.pledge(c.slug, coatPledge(c.coatTier, 40000), "new-price")
		if r.Status != 201 {
			t.Fatalf("pledge at the new price: %d %s", r.Status, r.Body)
		}
		if p := a.findPledge(r.JSON(t)["id"].(string)); p.RewardPrice != 40000 {
			t.Fatalf("pledge priced at %d, want 40000", p.RewardPrice)
		}
		if rem := a.storedRemaining(c.id, c.coatTier); rem != 4 {
			t.Fatalf("remaining %d, want 4", rem)
		}
	})

	t.Run("campaign cancelled", func(t *testing.T) {
		c := a.pledgeSetup("flexible", 5)
		if r := a.pledge(c.slug, coatPledge(c.coatTier, 100), "warm-copies"); r.Status != 422 {
			t.Fatalf("pledge below the price: %d %s", r.Status, r.Body)
		}
		b.must(200, "POST", "/api/v1/campaigns/"+c.id+"/cancel", c.owner, map[string]any{"reason": "The mill closed."})
		if err := b.app.Settler().Settle(context.Background(), c.id); err != nil {
			t.Fatal(err)
		}
		r := a.pledge(c.slug, coatPledge(c.coatTier, 32000), "stale-live")
		a.refusedAndVoid(t, c, r, func() response { return a.pledge(c.slug, coatPledge(c.coatTier, 32000), "stale-live") })
	})
}
