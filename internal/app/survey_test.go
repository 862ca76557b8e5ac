//go:build !production

package app_test

import (
	"context"
	"sync"
	"testing"
	"time"
)

// After success each backer whose reward ships or has options or dates answers a survey with
// their manage token: an address may move only where shipping costs what was paid; another
// option or date is claimed atomically (racing backers for the last place get one place); the
// designer sees who answered; the survey closes at its deadline.
func TestSurveyAfterSuccess(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_SESSION_TTL": "2000h"})
	f := s.succeededWithRewards(6)
	survey := func(p map[string]any, method string, body any) response {
		return s.call(method, "/api/v1/pledges/"+p["id"].(string)+"/survey", "", body, "X-Manage-Token", p["manage_token"].(string))
	}
	got := survey(f.ch, "GET", nil)
	if got.Status != 200 {
		t.Fatalf("survey: %d %s", got.Status, got.Body)
	}
	sv := got.JSON(t)
	if asks := sv["asks"].([]any); len(asks) != 2 || asks[0] != "shipping_address" || asks[1] != "options" || sv["answered_at"] != nil {
		t.Fatalf("the tote's survey: %v", sv)
	}
	deadline, _ := time.Parse(time.RFC3339, sv["deadline"].(string))
	if d := deadline.Sub(s.clock.Now()); d < 6*24*time.Hour || d > 7*24*time.Hour {
		t.Fatalf("survey deadline %v from now, want 7 days from the decision", d)
	}
	if r := s.call("GET", "/api/v1/pledges/"+f.ch["id"].(string)+"/survey", "", nil, "X-Manage-Token", f.pt["manage_token"].(string)); r.Status != 404 {
		t.Fatalf("another pledge's token: %d %s", r.Status, r.Body)
	}
	if r := survey(f.patron, "GET", nil); r.Status != 404 {
		t.Fatalf("a pledge without reward has a survey: %d %s", r.Status, r.Body)
	}
	// Switzerland → France ships at another rate: refused, saying why; within Switzerland: fine.
	fr := addressIn("FR")
	if r := survey(f.ch, "POST", map[string]any{"shipping_address": fr}); r.Status != 422 || r.fieldCode(t, "shipping_address.country") != "shipping_rate_differs" {
		t.Fatalf("moving to another rate: %d %s", r.Status, r.Body)
	}
	if r := survey(f.ws, "POST", map[string]any{"shipping_address": addressIn("CH")}); r.Status != 422 {
		t.Fatalf("an address for a workshop: %d %s", r.Status, r.Body)
	}
	if r := survey(f.ch, "POST", map[string]any{"options": map[string]string{"colour": "gold"}}); r.Status != 422 {
		t.Fatalf("an option that does not exist: %d %s", r.Status, r.Body)
	}
	lausanne := map[string]any{"name": "Ana Muster", "line1": "Rue du Bourg 1", "postal_code": "1003", "city": "Lausanne", "country": "CH"}
	ans := s.must(200, "POST", "/api/v1/pledges/"+f.ch["id"].(string)+"/survey", "", map[string]any{"shipping_address": lausanne, "options": map[string]string{"colour": "natural"}},
		"X-Manage-Token", f.ch["manage_token"].(string))
	if ans["answered_at"] == nil || ans["shipping_address"].(map[string]any)["city"] != "Lausanne" || ans["options"].(map[string]any)["colour"] != "natural" {
		t.Fatalf("answered: %v", ans)
	}
	stored, _ := s.store.FindPledge(context.Background(), f.ch["id"].(string))
	if stored.Amount.Amount != 4700 || stored.Shipping != 700 {
		t.Fatalf("the survey moved the money: %+v", stored)
	}
	// The last place of the small date: six backers and the first workshop backer race for it.
	racers := append(f.racers, f.ws)
	var wg sync.WaitGroup
	statuses := make([]int, len(racers))
	codes := make([]string, len(racers))
	for i, p := range racers {
		wg.Go(func() {
			r := survey(p, "POST", map[string]any{"session_id": f.small})
			statuses[i] = r.Status
			if r.Status != 200 {
				codes[i], _ = r.JSON(t)["code"].(string)
			}
		})
	}
	wg.Wait()
	won := 0
	for i, st := range statuses {
		switch {
		case st == 200:
			won++
		case st != 409 || codes[i] != "sold_out":
			t.Fatalf("a racer lost with %d %s", st, codes[i])
		}
	}
	tier, err := s.store.FindTier(context.Background(), f.id, f.workshop)
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || tier.StockClaimed[f.small] != 1 || tier.StockLeft[f.small] != 0 || tier.StockClaimed[f.session] != int64(len(racers)-1) {
		t.Fatalf("%d won the last place; small date claimed %d left %d, first date claimed %d", won, tier.StockClaimed[f.small], tier.StockLeft[f.small], tier.StockClaimed[f.session])
	}
	// The designer sees who answered; nobody else does.
	rep := s.must(200, "GET", "/api/v1/campaigns/"+f.id+"/survey", f.owner, nil)
	answered, unanswered := rep["answered"].([]any), rep["unanswered"].([]any)
	if len(answered) != 2 || len(unanswered) != len(racers)-1+1 { // the winner and the Swiss tote; the rest and the Portuguese tote
		t.Fatalf("survey report: %v", rep)
	}
	other, _ := s.designer("Other")
	if r := s.call("GET", "/api/v1/campaigns/"+f.id+"/survey", other, nil); r.Status != 403 {
		t.Fatalf("another designer reads the survey: %d %s", r.Status, r.Body)
	}
	// Closed at its deadline.
	s.clock.Advance(8 * 24 * time.Hour)
	if r := survey(f.pt, "POST", map[string]any{}); r.Status != 409 {
		t.Fatalf("answering after the survey closed: %d %s", r.Status, r.Body)
	}
}
