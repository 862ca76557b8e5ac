//go:build !production

package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
)

// limitedWorkshop adds an experience tier limited to limit places in all, in two languages (French
// stocked at french places) on two dates of capacity places each.
func (s *service) limitedWorkshop(c pledgeSetup, limit, french, capacity int) (tier, fr string, dates [2]string) {
	s.t.Helper()
	t := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers", c.owner, map[string]any{
		"title": "Dyeing workshop", "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}, "limit": limit,
		"options": []map[string]any{{"name": "language", "values": []string{"fr", "en"}}},
		"stock":   []map[string]any{{"options": map[string]string{"language": "fr"}, "limit": french}}})
	tier = t["id"].(string)
	dates[0] = s.addSession(c, tier, 10*24*time.Hour, capacity)
	dates[1] = s.addSession(c, tier, 12*24*time.Hour, capacity)
	return tier, t["stock"].([]any)[0].(map[string]any)["id"].(string), dates
}

func languagePledge(tier, language, session string) map[string]any {
	p := workshopPledge(tier, session)
	p["options"] = map[string]string{"language": language}
	return p
}

// heldUnits counts the units the pledges of a campaign hold, per tier, per stocked combination
// and per session: the truth the counters must never exceed.
func (s *service) heldUnits(campaignID string) (tiers, slots map[string]int64) {
	s.t.Helper()
	tiers, slots = map[string]int64{}, map[string]int64{}
	err := s.store.FindCampaignPledges(context.Background(), campaignID, func(p pledge.Pledge) error {
		if p.TierID != "" && p.Status.HoldsUnit() {
			tiers[p.TierID]++
			slots[p.StockID]++
			slots[p.SessionID]++
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return tiers, slots
}

// A backer of a sold-out limited tier keeps her place in it while moving to another date or
// language: the move claims only the new date's or language's place, never a second unit of the
// tier, so "sold out" does not lock in those who already hold a place. A full date or language
// still refuses the move, with the field that is full.
func TestMovingWithinASoldOutTierKeepsTheUnit(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	tier, _, dates := s.limitedWorkshop(c, 3, 2, 3)
	type made struct{ id, token string }
	var got []made
	for i, p := range []map[string]any{
		languagePledge(tier, "fr", dates[0]), languagePledge(tier, "en", dates[0]), languagePledge(tier, "en", dates[0]),
	} {
		m := s.pledge(c.slug, p, fmt.Sprint("sold-out-move-", i)).JSON(t)
		got = append(got, made{m["id"].(string), m["manage_token"].(string)})
	}
	if r := s.pledge(c.slug, languagePledge(tier, "en", dates[1]), "one-too-many"); r.Status != 409 || r.JSON(t)["code"] != "sold_out" {
		t.Fatalf("a fourth place in a tier of three: %d %s", r.Status, r.Body)
	}
	// Another date, another language, both at once: each keeps the tier's unit.
	for _, ch := range []map[string]any{
		{"session_id": dates[1]},
		{"options": map[string]string{"language": "fr"}},
		{"session_id": dates[0], "options": map[string]string{"language": "en"}},
	} {
		if r := s.manage("PATCH", got[1].id, got[1].token, ch); r.Status != 200 {
			t.Fatalf("move %v within the sold-out tier: %d %s", ch, r.Status, r.Body)
		}
	}
	// A full language is refused as such, and changes nothing.
	if r := s.manage("PATCH", got[2].id, got[2].token, map[string]any{"options": map[string]string{"language": "fr"}}); r.Status != 200 {
		t.Fatalf("the second French place: %d %s", r.Status, r.Body)
	}
	if r := s.manage("PATCH", got[1].id, got[1].token, map[string]any{"options": map[string]string{"language": "fr"}}); r.Status != 409 || r.fieldCode(t, "options") != "sold_out" {
		t.Fatalf("a third French place of two: %d %s", r.Status, r.Body)
	}
	if r := s.manage("PATCH", got[1].id, got[1].token, map[string]any{"session_id": dates[1]}); r.Status != 200 {
		t.Fatalf("move to the other date: %d %s", r.Status, r.Body)
	}
	if r := s.pledge(c.slug, languagePledge(tier, "en", dates[1]), "still-sold-out"); r.Status != 409 || r.JSON(t)["code"] != "sold_out" {
		t.Fatalf("the tier stays sold out after moves: %d %s", r.Status, r.Body)
	}
	if left := s.tierRemaining(c.slug, tier); left != 0 {
		t.Fatalf("tier remaining after moves: %v", left)
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() {
		t.Fatalf("counters after moves: %+v %v", drift, err)
	}
	// A place given back reopens the tier, once.
	s.manage("POST", got[0].id, got[0].token, nil)
	if left := s.tierRemaining(c.slug, tier); left != 1 {
		t.Fatalf("tier remaining after a cancel: %v", left)
	}
}

// Racing new pledges, moves between dates and languages, and cancels on a small limited tier
// never take more places than the tier, a language or a date has, and leave the counters as the
// pledges say.
func TestMovesAndPledgesRacingNeverOversell(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "100000"})
	c := s.pledgeSetup("all_or_nothing", 10)
	const limit, french, capacity = 8, 4, 5
	tier, fr, dates := s.limitedWorkshop(c, limit, french, capacity)
	type made struct{ id, token string }
	var mu sync.Mutex
	var got []made
	var created, soldOut, moved, moveRefused atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 24)
	for i := range 120 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := s.pledge(c.slug, languagePledge(tier, []string{"fr", "en"}[i%2], dates[i%2]), fmt.Sprint("move-race-", i))
			switch {
			case r.Status == 201:
				created.Add(1)
				p := r.JSON(t)
				mu.Lock()
				got = append(got, made{p["id"].(string), p["manage_token"].(string)})
				mu.Unlock()
			case r.Status == 409 && r.JSON(t)["code"] == "sold_out":
				soldOut.Add(1)
			default:
				t.Errorf("pledge: %d %s", r.Status, r.Body)
				return
			}
			// Whoever holds a place moves someone (herself or another backer) around.
			mu.Lock()
			if len(got) == 0 {
				mu.Unlock()
				return
			}
			m := got[i%len(got)]
			mu.Unlock()
			ch := []map[string]any{
				{"session_id": dates[(i+1)%2]},
				{"options": map[string]string{"language": []string{"en", "fr"}[i%2]}},
				{"session_id": dates[i%2], "options": map[string]string{"language": "fr"}},
			}[i%3]
			switch r := s.manage("PATCH", m.id, m.token, ch); {
			case r.Status == 200:
				moved.Add(1)
			case r.Status == 409 && r.JSON(t)["code"] == "sold_out" && r.fieldCode(t, "options") == "" && r.fieldCode(t, "session_id") == "":
				t.Errorf("a move within the tier refused for the tier's own unit: %s", r.Body)
			case r.Status == 409:
				moveRefused.Add(1) // a full date or language, or the pledge cancelled meanwhile
			default:
				t.Errorf("move: %d %s", r.Status, r.Body)
			}
			if i%10 == 0 {
				s.manage("POST", m.id, m.token, nil)
			}
		})
	}
	wg.Wait()
	tiers, slots := s.heldUnits(c.id)
	t.Logf("%d pledged, %d sold out, %d moved, %d moves refused; held %v %v", created.Load(), soldOut.Load(), moved.Load(), moveRefused.Load(), tiers, slots)
	if tiers[tier] > limit || slots[fr] > french || slots[dates[0]] > capacity || slots[dates[1]] > capacity {
		t.Fatalf("oversold: tier %d/%d, French %d/%d, dates %d and %d of %d", tiers[tier], limit, slots[fr], french, slots[dates[0]], slots[dates[1]], capacity)
	}
	if soldOut.Load() == 0 || moved.Load() == 0 {
		t.Fatalf("the race never reached the limit or never moved anyone: %d sold out, %d moved", soldOut.Load(), moved.Load())
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() {
		t.Fatalf("counters after the race: %+v %v", drift, err)
	}
	if left := s.tierRemaining(c.slug, tier); left != float64(limit-tiers[tier]) {
		t.Fatalf("public remaining %v, held %d of %d", left, tiers[tier], limit)
	}
}
