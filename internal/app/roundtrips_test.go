//go:build !production

package app_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/testenv"
)

// TestPledgeSendsFourCommandsByID: every store command of a pledge waits its turn for the
// embedded store's one connection, and any filter but a bare _id reads the whole collection, so
// the pledge rate follows how many commands a pledge sends and what they filter on. A pledge
// sends four (its rate limit is counted in memory and flushed apart, see internal/ratelimit): the
// pledge read by the _id its idempotency key derives (the pledge is the key's record); no read
// of the campaign or the tier, which come from copies at most a second old (pledge.CopyTTL);
// the unit's claim, which requires the tier to be as its copy was; the pledge inserted with its
// Stripe ids, its answer (a retry is answered from it, so no response is stored for the key)
// and its manage token sealed for the confirmation (written to the outbox when the pledge is
// confirmed, not held there from the start); and the campaign's gate, read after the insert so
// that a campaign closed meanwhile is seen (TestPledgeRacingTheCampaignsEnd). On the embedded
// store the two reads go to its files through the Scanner (as "Scanner <collection>" below),
// so only the claim and the insert wait their turn for FerretDB's connection. Once confirmed,
// the confirmation names the campaign and the reward and links the token the pledge's answer
// showed, and the pledge keeps no seal of it.
func TestPledgeSendsFourCommandsByID(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var mu sync.Mutex
	counting := false
	sent := map[string]int{}
	var filters []string
	// The request's collections; stripe_events are the webhooks', and the relay reads the outbox
	// on its own ticks (a pledge's request used to insert there).
	request := map[string]bool{"campaigns": true, "tiers": true, "pledges": true, "outbox": true,
		"idempotency_keys": true, "idempotency_responses": true, "rate_limits": true, "campaign_gates": true}
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		if !counting || !request[coll] || (coll == "outbox" && e.CommandName != "insert") {
			return
		}
		sent[e.CommandName+" "+coll]++
		if f, ok := e.Command.Lookup("filter").DocumentOK(); ok && (coll == "pledges" || coll == "campaign_gates" || e.CommandName == "find" && (coll == "tiers" || coll == "campaigns")) {
			elems, _ := f.Elements()
			keys := make([]string, len(elems))
			for i, el := range elems {
				keys[i] = el.Key()
			}
			filters = append(filters, e.CommandName+" "+coll+" by "+strings.Join(keys, ","))
		}
	}}
	if opts.Scanner != nil {
		opts.Scanner = &countingScanner{Scanner: opts.Scanner, mu: &mu, counting: &counting, sent: sent}
	}
	s := startServiceOn(t, nil, testenv.MustStoreAt(t, opts))
	setup := s.pledgeSetup("all_or_nothing", 5)
	// The first pledge on a campaign resolves its slug with a query on slug and reads its tier;
	// later ones use the copies it left.
	if r := s.pledge(setup.slug, coatPledge(setup.coatTier, 32000), "first-pledge"); r.Status != 201 {
		t.Fatalf("first pledge: %d %s", r.Status, r.Body)
	}
	s.waitWebhooks()
	mu.Lock()
	counting = true
	mu.Unlock()
	r := s.pledge(setup.slug, coatPledge(setup.coatTier, 32000), "four-commands")
	s.waitWebhooks()
	mu.Lock()
	counting = false
	mu.Unlock()
	if r.Status != 201 {
		t.Fatalf("pledge: %d %s", r.Status, r.Body)
	}
	want := map[string]int{"find pledges": 1, "update tiers": 1, "insert pledges": 1, "find campaign_gates": 1}
	if opts.Scanner != nil {
		want = map[string]int{"update tiers": 1, "insert pledges": 1, "Scanner pledges": 1, "Scanner campaign_gates": 1}
	}
	if !maps.Equal(sent, want) {
		t.Errorf("one pledge sent %v, want %v", sent, want)
	}
	for _, f := range filters {
		if !strings.HasSuffix(f, " by _id") {
			t.Errorf("%s: on the embedded store a filter on more than _id reads the whole collection", f)
		}
	}
	id, token := r.JSON(t)["id"].(string), r.JSON(t)["manage_token"].(string)
	if _, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed"); err == nil {
		t.Fatal("a pending pledge's confirmation is in the outbox")
	}
	if c := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); c.Status != 200 {
		t.Fatalf("confirm: %d %s", c.Status, c.Body)
	}
	s.waitWebhooks()
	m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Data["campaign"] != "Pledge test all_or_nothing" || m.Data["reward"] != "Coat" {
		t.Errorf("confirmation names campaign %q and reward %q", m.Data["campaign"], m.Data["reward"])
	}
	if gotID, gotToken := manageToken(t, m.Data["manage_url"]); gotID != id || gotToken != token {
		t.Errorf("confirmation links %q, not the pledge's manage token", m.Data["manage_url"])
	}
	if p := s.findPledge(id); len(p.ManageSeal) != 0 || len(p.Owed) != 0 {
		t.Errorf("confirmed pledge keeps its manage token's seal (%d bytes) or owed %+v", len(p.ManageSeal), p.Owed)
	}
}

// countingScanner counts, as "Scanner <collection>", the reads by _id the store makes from the
// embedded store's files while counting is on.
type countingScanner struct {
	mongostore.Scanner
	mu       *sync.Mutex
	counting *bool
	sent     map[string]int
}

func (c *countingScanner) count(collection string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.counting {
		c.sent["Scanner "+collection]++
	}
}

func (c *countingScanner) ScanDocs(ctx context.Context, database, collection string, ids []string, fn func(bson.Raw) error) error {
	c.count(collection)
	return c.Scanner.ScanDocs(ctx, database, collection, ids, fn)
}

func (c *countingScanner) ScanIDs(ctx context.Context, database, collection string, ids, paths []string, fn func([]any) error) error {
	c.count(collection)
	return c.Scanner.ScanIDs(ctx, database, collection, ids, paths, fn)
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
