//go:build !production

package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// The tier limit holds under racing requests: sixteen concurrent creates on a campaign with 44
// tiers end at exactly 50, every refused one with a clear 422, and a deleted tier frees its slot.
func TestTierLimitHoldsUnderRacingCreates(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Mira")
	id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Patchwork"))["id"].(string)
	tierBody := func(n int) map[string]any {
		return map[string]any{"title": fmt.Sprintf("Tier %d", n), "kind": "digital", "price": map[string]any{"amount": 1000 + n, "currency": "CHF"}}
	}
	for n := range 44 {
		s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", tok, tierBody(n))
	}
	statuses := make([]response, 16)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() { statuses[i] = s.call("POST", "/api/v1/campaigns/"+id+"/tiers", tok, tierBody(100+i)) })
	}
	wg.Wait()
	created := 0
	for _, r := range statuses {
		switch {
		case r.Status == 201:
			created++
		case r.Status != 422 || r.JSON(t)["code"] != "validation_failed":
			t.Errorf("racing create → %d: %s", r.Status, r.Body)
		}
	}
	tiers := s.must(200, "GET", "/api/v1/campaigns/"+id, tok, nil)["tiers"].([]any)
	if created != 6 || len(tiers) != 50 {
		t.Fatalf("%d racing creates succeeded and the campaign has %d tiers; want 6 and 50", created, len(tiers))
	}
	first := tiers[0].(map[string]any)["id"].(string)
	s.must(204, "DELETE", "/api/v1/campaigns/"+id+"/tiers/"+first, tok, nil)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", tok, tierBody(200))
	if r := s.call("POST", "/api/v1/campaigns/"+id+"/tiers", tok, tierBody(201)); r.Status != 422 {
		t.Fatalf("51st tier after a delete and a create → %d: %s", r.Status, r.Body)
	}
}

// A tier with backers keeps its kind and shipping: a digital reward turned into a shipped one
// would leave its backers without an address, and the reverse would drop a parcel they paid for.
func TestTierWithBackersKeepsKindAndShipping(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Noor")
	admin := s.admin()
	id, _ := s.liveCampaign(tok, admin, "Pattern library")
	tier := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", tok, map[string]any{
		"title": "PDF patterns", "kind": "digital", "price": map[string]any{"amount": 2500, "currency": "CHF"}})
	path := "/api/v1/campaigns/" + id + "/tiers/" + tier["id"].(string)
	if err := s.store.ClaimTierUnit(context.Background(), tier["id"].(string), s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	r := s.call("PATCH", path, tok, map[string]any{"kind": "physical", "ships": true})
	if r.Status != 422 || r.JSON(t)["code"] != "validation_failed" || r.fieldCode(t, "kind") != "locked" || r.fieldCode(t, "ships") != "locked" {
		t.Fatalf("digital tier with a backer made physical and shipping → %d: %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", path, tok, map[string]any{"kind": "experience"}); r.Status != 422 || r.fieldCode(t, "kind") != "locked" {
		t.Fatalf("kind change with a backer → %d: %s", r.Status, r.Body)
	}
	// Sending the values it already has, or changing what backers did not agree on, is fine.
	got := s.must(200, "PATCH", path, tok, map[string]any{"kind": "digital", "ships": false, "title": "PDF patterns, all sizes"})
	if got["kind"] != "digital" || got["ships"] != false || got["title"] != "PDF patterns, all sizes" {
		t.Fatalf("harmless edit: %v", got)
	}
}
