package app_test

import (
	"context"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/testenv"
)

// TestPledgeReadsItsCampaignAndTierOnce: every store command of a pledge waits its turn for the
// embedded store's one connection, so a pledge must not read what its request already read.
// Resolving the slug into the idempotency scope reads the campaign; the pledge service and the
// held confirmation use that copy, and the confirmation reuses the tier the claim was checked
// against. The confirmation still names both.
func TestPledgeReadsItsCampaignAndTierOnce(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var mu sync.Mutex
	counting := false
	finds := map[string]int{}
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		if counting && e.CommandName == "find" {
			coll, _ := e.Command.Lookup("find").StringValueOK()
			finds[coll]++
		}
	}}
	s := startServiceOn(t, nil, testenv.MustStoreAt(t, opts))
	setup := s.pledgeSetup("all_or_nothing", 5)
	mu.Lock()
	counting = true
	mu.Unlock()
	r := s.pledge(setup.slug, coatPledge(setup.coatTier, 32000), "reads-once")
	mu.Lock()
	counting = false
	got := map[string]int{"campaigns": finds["campaigns"], "tiers": finds["tiers"]}
	mu.Unlock()
	if r.Status != 201 {
		t.Fatalf("pledge: %d %s", r.Status, r.Body)
	}
	if got["campaigns"] != 1 || got["tiers"] != 1 {
		t.Errorf("one pledge read campaigns %d times and tiers %d times, want once each", got["campaigns"], got["tiers"])
	}
	m, err := s.store.FindMessage(context.Background(), "msg_"+r.JSON(t)["id"].(string)+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Data["campaign"] != "Pledge test all_or_nothing" || m.Data["reward"] != "Coat" {
		t.Errorf("held confirmation names campaign %q and reward %q", m.Data["campaign"], m.Data["reward"])
	}
}
