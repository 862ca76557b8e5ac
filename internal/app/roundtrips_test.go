//go:build !production

package app_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v76"
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

// TestWebhooksFindTheirPledgeByID: an intent's webhook names its pledge in the intent's metadata.
// Looking the pledge up by intent id reads every pledge on the embedded store (its filter is not
// a bare _id), once per webhook: at a deadline, once per charge. The pledge the metadata names is
// read by id instead, and used when it records the intent; the webhooks still bring the pledge
// to the state Stripe says.
func TestWebhooksFindTheirPledgeByID(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var mu sync.Mutex
	byIntent := 0
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup("find").StringValueOK(); e.CommandName != "find" || coll != "pledges" {
			return
		}
		if _, err := e.Command.Lookup("filter").Document().LookupErr("$or"); err == nil {
			mu.Lock()
			byIntent++
			mu.Unlock()
		}
	}}
	s := startServiceOn(t, nil, testenv.MustStoreAt(t, opts))
	setup := s.pledgeSetup("all_or_nothing", 5)
	created := s.pledge(setup.slug, coatPledge(setup.coatTier, 32000), "by-id").JSON(t)
	id, token := created["id"].(string), created["manage_token"].(string)
	stored, err := s.store.FindPledge(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	// The browser confirms with Stripe.js: only the webhook tells the service.
	if _, err := s.browserStripe().SetupIntents.Confirm(stored.SetupIntentID, &stripe.SetupIntentConfirmParams{
		PaymentMethod: stripe.String("pm_card_visa")}); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	if p := s.must(200, "GET", "/api/v1/pledges/"+id, "", nil, "X-Manage-Token", token); p["status"] != "active" {
		t.Fatalf("after the webhook: %v, want active", p["status"])
	}
	mu.Lock()
	defer mu.Unlock()
	if byIntent != 0 {
		t.Errorf("webhooks looked pledges up by intent id %d times", byIntent)
	}
}
