//go:build !production

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/testenv"
)

// proxiedService runs the service on a store reached through a proxy that the test can make drop
// connections or refuse them, as a replica set does while it elects a new primary.
func proxiedService(t *testing.T) (*service, *testenv.Proxy) {
	t.Helper()
	proxy, opts := testenv.MustProxy(t, testenv.StoreOptions(t))
	opts.ServerSelectionTimeout = time.Second
	return startServiceOn(t, nil, testenv.MustStoreAt(t, opts)), proxy
}

func pledgeWrites(c testenv.Command) bool { return c.Collection == "pledges" && c.Name == "update" }

// With the store gone, a pledge is refused with 503, Retry-After and problem+json (never 500,
// never half stored); when the store is back, the same request (same Idempotency-Key) makes the
// pledge once. A confirmation and the deadline charges whose store writes lose their answers still
// end with every pledge collected, each charged once.
func TestStoreFailoverMidPledgeChargeAndLease(t *testing.T) {
	s, proxy := proxiedService(t)
	c := s.pledgeSetup("all_or_nothing", 10)
	body := map[string]any{"tier_id": c.workshop, "amount": map[string]any{"amount": 800000, "currency": "CHF"},
		"backer": map[string]any{"email": "backer@example.com", "name": "Bea"}}

	proxy.Down()
	down := s.pledge(c.slug, body, "failover-1")
	proxy.Up()
	if down.Status != 503 || down.Header.Get("Retry-After") == "" || down.JSON(t)["code"] != "unavailable" {
		t.Fatalf("pledge while the store is down: %d Retry-After %q %s", down.Status, down.Header.Get("Retry-After"), down.Body)
	}
	created := s.pledge(c.slug, body, "failover-1")
	if created.Status != 201 {
		t.Fatalf("pledge after recovery: %d %s", created.Status, created.Body)
	}
	p := created.JSON(t)
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != 1 {
		t.Fatalf("%d pledges stored (%v), want 1", n, err)
	}

	// The confirmation's pledge writes lose their answers; the backer still gets the saved card.
	proxy.Fail(pledgeWrites, testenv.DropReply)
	proxy.Fail(pledgeWrites, testenv.DropReply)
	confirmed := s.must(200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"},
		"X-Manage-Token", p["manage_token"].(string))
	if confirmed["status"] != "active" || proxy.Pending() != 0 {
		t.Fatalf("confirm with lost answers: %v (faults pending: %d)", confirmed["status"], proxy.Pending())
	}
	backers := append(s.backAll(c, 400000, "pm_card_visa", "pm_card_visa"), backer{id: p["id"].(string), token: p["manage_token"].(string)})
	if pledged, _ := s.campaignTotals(c.slug); pledged != 1600000 {
		t.Fatalf("pledged %v, want 1600000", pledged)
	}

	// Deadline: the first settlement tick runs into a store that goes away in the middle of it.
	s.passDeadline(c.slug)
	proxy.Fail(func(c testenv.Command) bool { return c.Collection == "leases" && c.Name == "update" }, testenv.DropReply)
	for range 3 {
		proxy.Fail(pledgeWrites, testenv.DropReply)
	}
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatalf("settlement with lost answers: %v", err)
	}
	if proxy.Pending() != 0 {
		t.Fatalf("%d faults never struck during settlement", proxy.Pending())
	}
	proxy.Down()
	if err := s.app.Settler().Tick(context.Background()); err == nil {
		t.Log("the second tick had nothing to write")
	}
	proxy.Up()
	s.clock.Advance(time.Hour) // any lease a failed tick left behind has run out
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatalf("settlement after recovery: %v", err)
	}
	s.waitWebhooks()
	for _, b := range backers {
		if st := s.pledgeStatus(b)["status"]; st != "collected" {
			t.Errorf("pledge %s: %v, want collected", b.id, st)
		}
	}
	charged := map[string]int{}
	for _, pi := range s.double().PaymentIntents() {
		if pi.Status == "succeeded" {
			charged[pi.Metadata["pledge_id"]]++
		}
	}
	for _, b := range backers {
		if charged[b.id] != 1 {
			t.Errorf("pledge %s charged %d times, want once", b.id, charged[b.id])
		}
	}
}
