//go:build !production

package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/backstitch/backstitch/internal/pledge"
)

// sizedCoat adds a coat in sizes S–L limited to 20 in all, of which size M is stocked at 10.
func (s *service) sizedCoat(c pledgeSetup) (tierID, stockM string) {
	s.t.Helper()
	// Tiers are added while the campaign is live here, as designers do when a size sells fast.
	tier := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers", c.owner, map[string]any{
		"title": "Sized coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 20,
		"options": []map[string]any{{"name": "size", "values": []string{"S", "M", "L"}}},
		"stock":   []map[string]any{{"options": map[string]string{"size": "M"}, "limit": 10}}})
	stock := tier["stock"].([]any)[0].(map[string]any)
	if stock["remaining"] != float64(10) || stock["options"].(map[string]any)["size"] != "M" {
		s.t.Fatalf("stocked combination: %v", stock)
	}
	return tier["id"].(string), stock["id"].(string)
}

func sizedPledge(tier, size string) map[string]any {
	p := coatPledge(tier, 32000)
	if size != "" {
		p["options"] = map[string]string{"size": size}
	}
	return p
}

// A backer picks a size. Invalid choices are refused with a field error; a stocked size is
// claimed with the tier in one update, so 500 racing pledges, with cancels and size changes
// interleaved, never take more than 10 of size M nor more than 20 coats.
func TestSizedRewardIsNeverOversoldPerSize(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "100000"})
	c := s.pledgeSetup("all_or_nothing", 100)
	tierID, stockM := s.sizedCoat(c)
	for _, bad := range []map[string]any{
		sizedPledge(tierID, ""),   // no size chosen
		sizedPledge(tierID, "XL"), // not a size of this coat
		func() map[string]any {
			p := sizedPledge(tierID, "M")
			p["options"] = map[string]string{"size": "M", "colour": "red"}
			return p
		}(),
		func() map[string]any { p := sizedPledge(c.workshop, "M"); delete(p, "shipping_address"); return p }(), // no options there
	} {
		if r := s.pledge(c.slug, bad, fmt.Sprint("bad-size-", bad["options"], bad["tier_id"])); r.Status != 422 || r.fieldCode(t, "options") != "invalid" {
			t.Fatalf("bad choice %v: %d %s", bad["options"], r.Status, r.Body)
		}
	}
	type made struct{ id, token, size string }
	var mu sync.Mutex
	var got []made
	var created, soldOut atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 48)
	for i := range 500 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			size := []string{"M", "M", "M", "S", "L"}[i%5]
			r := s.pledge(c.slug, sizedPledge(tierID, size), fmt.Sprint("size-rush-", i))
			switch {
			case r.Status == 201:
				created.Add(1)
				p := r.JSON(t)
				mu.Lock()
				got = append(got, made{p["id"].(string), p["manage_token"].(string), size})
				n := len(got)
				mu.Unlock()
				// Every fourth backer changes her mind: cancels, or moves to size M.
				switch n % 8 {
				case 0:
					s.manage("POST", p["id"].(string), p["manage_token"].(string), nil)
				case 4:
					s.manage("PATCH", p["id"].(string), p["manage_token"].(string), map[string]any{"options": map[string]string{"size": "M"}})
				}
			case r.Status == 409 && r.JSON(t)["code"] == "sold_out":
				soldOut.Add(1)
			default:
				t.Errorf("unexpected %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	// Count what the pledges hold, independently of the counters.
	var holdM, hold int64
	holds := map[string]bool{"pending": true, "active": true}
	err := s.store.FindCampaignPledges(context.Background(), c.id, func(p pledge.Pledge) error {
		if p.TierID == tierID && holds[string(p.Status)] {
			hold++
			if p.StockID == stockM {
				holdM++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tier, err := s.store.FindTier(context.Background(), c.id, tierID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d created, %d sold out; held %d coats, %d in size M", created.Load(), soldOut.Load(), hold, holdM)
	if hold > 20 || holdM > 10 {
		t.Fatalf("oversold: %d coats held of 20, %d of size M of 10", hold, holdM)
	}
	if tier.Claimed != hold || tier.StockClaimed[stockM] != holdM || *tier.Remaining != 20-hold || tier.StockLeft[stockM] != 10-holdM {
		t.Fatalf("counters: claimed %d (pledges hold %d), M claimed %d left %d (pledges hold %d), remaining %d",
			tier.Claimed, hold, tier.StockClaimed[stockM], tier.StockLeft[stockM], holdM, *tier.Remaining)
	}
	if holdM == 0 || soldOut.Load() == 0 {
		t.Fatalf("the rush never reached the limits (%d sold out, %d of size M held): it proved nothing", soldOut.Load(), holdM)
	}
	// The public page shows what is left of each stocked size; the options are locked now.
	for _, tv := range s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)["tiers"].([]any) {
		if m := tv.(map[string]any); m["id"] == tierID && m["stock"].([]any)[0].(map[string]any)["remaining"] != float64(10-holdM) {
			t.Fatalf("public stock: %v", m["stock"])
		}
	}
	if r := s.call("PATCH", "/api/v1/campaigns/"+c.id+"/tiers/"+tierID, c.owner, map[string]any{
		"options": []map[string]any{{"name": "size", "values": []string{"M"}}}}); r.Status != 422 || r.fieldCode(t, "options") != "locked" {
		t.Fatalf("changing options with backers: %d %s", r.Status, r.Body)
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() {
		t.Fatalf("drift: %+v %v", drift, err)
	}
}
