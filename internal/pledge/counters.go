package pledge

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
)

// SettleWithin bounds how long a transition takes from its pledge write to its counter update
// (a request's timeout, with room to spare). A Pending record older than this belongs to a
// transition that died; a younger one may still be under way, and its campaign's counters are
// left alone until it is done.
const SettleWithin = time.Minute

// Drift is what a counter check found on one campaign: the counters, what the pledges say they
// should be, and whether it could be checked at all.
type Drift struct {
	CampaignID            string
	PledgedWas, PledgedIs int64
	BackersWas, BackersIs int64
	Tiers                 []TierDrift
	// Busy: a transition of this campaign is under way, so its counters were not compared.
	Busy bool
	// Fixed: the counters now say what the pledges say.
	Fixed bool
	// stale are the Pending records of dead transitions that the check accounted for.
	stale []staleRecord
}

type staleRecord struct{ pledgeID, seq string }

// TierDrift is one tier whose claimed units differ from the pledges holding one.
type TierDrift struct {
	TierID                string
	ClaimedWas, ClaimedIs int64
}

// Any reports whether anything was out of step.
func (d Drift) Any() bool {
	return d.PledgedWas != d.PledgedIs || d.BackersWas != d.BackersIs || len(d.Tiers) > 0
}

func (d Drift) String() string {
	s := fmt.Sprintf("campaign %s: pledged %d→%d, backers %d→%d", d.CampaignID, d.PledgedWas, d.PledgedIs, d.BackersWas, d.BackersIs)
	for _, t := range d.Tiers {
		s += fmt.Sprintf(", tier %s claimed %d→%d", t.TierID, t.ClaimedWas, t.ClaimedIs)
	}
	return s
}

// CheckCounters compares a campaign's totals and its tiers' claimed units with what its pledges
// say, and with fix writes the truth where they differ. The pledges are the truth; the counters
// are kept in step by transition and only need this after a crash.
//
// Writing is safe while the service runs: the counters' revisions are read before the pledges,
// and every write is conditional on them, so a counter update landing meanwhile makes the write
// a no-op (retried on a later tick). A campaign with a transition under way (a Pending record
// younger than SettleWithin) is left alone. A tier's claimed count is lowered only when it has
// not changed for SettleWithin, because a unit is claimed just before its pledge is written.
func (s *Service) CheckCounters(ctx context.Context, campaignID string, fix bool) (Drift, error) {
	d := Drift{CampaignID: campaignID}
	camp, err := s.store.FindCampaign(ctx, campaignID)
	if err != nil {
		return d, err
	}
	tiers, err := s.store.FindTiers(ctx, campaignID)
	if err != nil {
		return d, err
	}
	now := s.now()
	settled := now.Add(-SettleWithin)
	held := map[string]int64{}
	heldStock := map[string]map[string]int64{} // tier → stock id → units
	err = s.store.FindCampaignPledges(ctx, campaignID, func(p Pledge) error {
		if p.Pending != nil {
			if p.Pending.At.After(settled) {
				d.Busy = true
			}
			d.stale = append(d.stale, staleRecord{p.ID, p.Pending.Seq})
		}
		a, b := counts(p)
		d.PledgedIs += a
		d.BackersIs += b
		if u := heldUnit(p); u.tier != "" {
			held[u.tier]++
			for _, slot := range u.slots() {
				if heldStock[u.tier] == nil {
					heldStock[u.tier] = map[string]int64{}
				}
				heldStock[u.tier][slot]++
			}
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	d.PledgedWas, d.BackersWas = camp.Pledged, camp.BackersCount
	var fixTiers []campaign.Tier
	for _, t := range tiers {
		want, wantStock := held[t.ID], stockWanted(t, heldStock[t.ID])
		if want != t.Claimed || !maps.Equal(wantStock, t.StockClaimed) {
			d.Tiers = append(d.Tiers, TierDrift{TierID: t.ID, ClaimedWas: t.Claimed, ClaimedIs: want})
			fixTiers = append(fixTiers, t)
		}
	}
	if d.Busy || !fix {
		return d, nil
	}
	d.Fixed = true
	defer s.countersMoved(campaignID)
	if d.PledgedWas != d.PledgedIs || d.BackersWas != d.BackersIs {
		ok, err := s.store.SetTotals(ctx, campaignID, camp.CounterRev, d.PledgedIs, d.BackersIs)
		if err != nil {
			return d, err
		}
		d.Fixed = d.Fixed && ok
	}
	for _, t := range fixTiers {
		want, wantStock := held[t.ID], stockWanted(t, heldStock[t.ID])
		if lowers(t, want, wantStock) && t.CountedAt != nil && t.CountedAt.After(settled) {
			d.Fixed = false // a claim may be just ahead of its pledge: look again later
			continue
		}
		ok, err := s.store.SetTierClaimed(ctx, t, want, wantStock)
		if err != nil {
			return d, err
		}
		d.Fixed = d.Fixed && ok
	}
	return d, nil
}

// stockWanted is what each stocked combination of t should show as claimed, from the units the
// pledges hold (nil for a tier without stock, as the store keeps it).
func stockWanted(t campaign.Tier, held map[string]int64) map[string]int64 {
	if len(t.Stock) == 0 && len(t.Sessions) == 0 {
		return nil
	}
	out := make(map[string]int64, len(t.Stock)+len(t.Sessions))
	for _, st := range t.Stock {
		out[st.ID] = held[st.ID]
	}
	for _, se := range t.Sessions {
		out[se.ID] = held[se.ID]
	}
	return out
}

// lowers reports whether writing these counts would give units back, which a recount does only
// once the tier has been quiet (a claim is made just before its pledge is written).
func lowers(t campaign.Tier, claimed int64, stock map[string]int64) bool {
	if claimed < t.Claimed {
		return true
	}
	for id, n := range stock {
		if n < t.StockClaimed[id] {
			return true
		}
	}
	return false
}

// healCounters is the sweeper's part of transitions: it finds pledges whose transition died
// between the pledge write and the counter update (a Pending record older than SettleWithin),
// recomputes their campaigns' counters, and clears the records. It returns the campaigns healed.
func (s *Service) healCounters(ctx context.Context, stale []Pledge) ([]Drift, error) {
	var campaigns []string
	for _, p := range stale {
		if !slices.Contains(campaigns, p.CampaignID) {
			campaigns = append(campaigns, p.CampaignID)
		}
	}
	var healed []Drift
	for _, id := range campaigns {
		d, err := s.CheckCounters(ctx, id, true)
		if err != nil {
			return healed, fmt.Errorf("heal counters of %s: %w", id, err)
		}
		if !d.Fixed {
			continue // busy, or a counter moved meanwhile: the next tick tries again
		}
		for _, r := range d.stale {
			if err := s.store.ClearPending(ctx, r.pledgeID, r.seq); err != nil {
				return healed, err
			}
		}
		healed = append(healed, d)
	}
	return healed, nil
}

// staleAt reports whether a pledge has the record of a transition that died.
func staleAt(p Pledge, now time.Time) bool {
	return p.Pending != nil && !p.Pending.Since.After(now.Add(-SettleWithin))
}
