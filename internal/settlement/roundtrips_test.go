package settlement_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/stripepay"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestDeadlineChargeReadsNoPledgeByID: every store command of the settler waits its turn
// for the embedded store's one connection, so the settler's rate is the store commands it sends
// per charge. The pages of pledges to charge come without a find per pledge, and the settler
// has the pledge it just moved to "charging"; recording Stripe's answer starts from that copy
// instead of reading it again. On the embedded store each write compares
// the pledge under its lock from the fields read straight from the store's files (a batch of
// claims in one read), not through a FerretDB find; on MongoDB the writes are conditional.
// Either way recording reads no pledge by id. On the embedded store the claims and the outcomes
// are written to its files too (Options.Writer), in transactions shared by the writes waiting
// together, so no pledge write waits for FerretDB's connection; on MongoDB they are a command per
// batch of claims and one per outcome. Each pledge is still charged once.
func TestDeadlineChargeReadsNoPledgeByID(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var mu sync.Mutex
	counting := false
	byID, updates := 0, 0
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		if coll, _ := e.Command.Lookup("update").StringValueOK(); counting && e.CommandName == "update" && coll == "pledges" {
			updates++
		}
		if coll, _ := e.Command.Lookup("find").StringValueOK(); e.CommandName != "find" || coll != "pledges" {
			return
		}
		filter, _ := e.Command.Lookup("filter").Document().Elements()
		if counting && len(filter) == 1 && filter[0].Key() == "_id" {
			byID++
		}
	}}
	store := testenv.MustStoreAt(t, opts)
	ctx := context.Background()
	const n = 4
	camp, d, pay := mustFundedCampaign(t, store, n, time.Now().UTC())
	clock := func() time.Time { return time.Now().UTC() }
	svc := pledge.NewService(store, pay, clock, 30*time.Minute, pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour})
	settler := settlement.New(store, svc, clock, settlement.Options{Owner: "test", Concurrency: 2})
	mu.Lock()
	counting = true
	mu.Unlock()
	if err := settler.Settle(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	counting = false
	got, wrote := byID, updates
	mu.Unlock()
	collectedAtFirstAttempt(t, store, n)
	if pis := len(d.PaymentIntents()); pis != n {
		t.Fatalf("%d payment intents for %d pledges", pis, n)
	}
	// On the embedded store the listing reads a page's pledges straight from the store's files
	// after their ids come from an index (see FindPledgesByStatus), not one find each.
	if got != 0 {
		t.Errorf("settling %d pledges read a pledge by id %d times, want none", n, got)
	}
	want := n + 1 // a batch of claims, then each outcome
	if opts.Writer != nil {
		want = 0
	}
	if wrote != want {
		t.Errorf("settling %d pledges sent %d updates of pledges to the server, want %d", n, wrote, want)
	}
}

// mustFundedCampaign stores a live all-or-nothing campaign past its deadline (at now) with n
// active pledges of CHF 50 whose cards are saved at a Stripe double, as pledging leaves them,
// and answers the double and a gateway to it.
func mustFundedCampaign(t *testing.T, store *mongostore.Store, n int, now time.Time) (campaign.Campaign, *stripedouble.Double, *stripepay.Client) {
	t.Helper()
	ctx := context.Background()
	d, err := stripedouble.New(stripedouble.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	sc := client.New("sk_test_settlement", stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(srv.URL),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}))
	pay := stripepay.New(stripepay.Options{SecretKey: "sk_test_settlement", BackendURL: srv.URL, Timeout: 30 * time.Second})

	title, deadline, tz := "Settle me", now.Add(48*time.Hour).Format(time.RFC3339), "Europe/Zurich"
	goal := money.Money{Amount: 10000, Currency: "CHF"}
	camp, err := campaign.New(campaign.Fields{Title: &title, Goal: &goal, Deadline: &deadline, Timezone: &tz}, "usr_designer",
		now, campaign.Rules{MinDuration: time.Hour, MaxDuration: 1000 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	launched := now.Add(-30 * 24 * time.Hour)
	camp.Status, camp.LaunchedAt, camp.Deadline = campaign.StatusLive, &launched, now.Add(-time.Minute)
	if camp, err = store.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		cus, err := sc.Customers.New(&stripe.CustomerParams{Email: stripe.String(fmt.Sprintf("b%d@example.com", i))})
		if err != nil {
			t.Fatal(err)
		}
		si, err := sc.SetupIntents.New(&stripe.SetupIntentParams{Customer: stripe.String(cus.ID), Usage: stripe.String("off_session"),
			PaymentMethodTypes: stripe.StringSlice([]string{"card"}), Confirm: stripe.Bool(true), PaymentMethod: stripe.String("pm_card_visa")})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreatePledge(ctx, pledge.Pledge{ID: fmt.Sprintf("plg_settle%d", i), CampaignID: camp.ID, FundingModel: campaign.AllOrNothing,
			Amount: money.Money{Amount: 5000, Currency: "CHF"}, Status: pledge.StatusActive, CustomerID: cus.ID, SetupIntentID: si.ID,
			PaymentMethodID: si.PaymentMethod.ID, CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.AddToTotals(ctx, camp.ID, int64(n)*5000, int64(n)); err != nil {
		t.Fatal(err)
	}
	return camp, d, pay
}

// seededPledges reads the n pledges mustFundedCampaign made, in the order it made them.
func seededPledges(t *testing.T, store *mongostore.Store, n int) []pledge.Pledge {
	t.Helper()
	out := make([]pledge.Pledge, n)
	for i := range n {
		p, err := store.FindPledge(context.Background(), fmt.Sprintf("plg_settle%d", i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = p
	}
	return out
}

// collectedAtFirstAttempt checks that each of the n seeded pledges was collected by one charge
// attempt.
func collectedAtFirstAttempt(t *testing.T, store *mongostore.Store, n int) {
	t.Helper()
	for _, p := range seededPledges(t, store, n) {
		if p.Status != pledge.StatusCollected || p.ChargeAttempts != 1 {
			t.Errorf("%s: %s after %d attempts, want collected after 1", p.ID, p.Status, p.ChargeAttempts)
		}
	}
}

// TestDeadlineChargeTakesTheFeeFromTheChargeAnswer: the answer that confirms a deadline charge
// carries the charge's balance transaction (expand[]), so recording Stripe's fee sends no further
// request, where it used to read the charge and then its balance transaction for every pledge
// settled: one Stripe request per charge instead of three. The fee recorded is Stripe's.
func TestDeadlineChargeTakesTheFeeFromTheChargeAnswer(t *testing.T) {
	store := testenv.MustStoreAt(t, testenv.StoreOptions(t))
	const n = 3
	camp, d, pay := mustFundedCampaign(t, store, n, time.Now().UTC())
	clock := func() time.Time { return time.Now().UTC() }
	svc := pledge.NewService(store, pay, clock, 30*time.Minute, pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour})
	settler := settlement.New(store, svc, clock, settlement.Options{Owner: "test", Concurrency: 2})
	before := len(d.Requests())
	if err := settler.Settle(context.Background(), camp.ID); err != nil {
		t.Fatal(err)
	}
	collectedAtFirstAttempt(t, store, n)
	var sent []string
	for _, r := range d.Requests()[before:] {
		sent = append(sent, r.Method+" "+r.Path)
	}
	if len(sent) != n {
		t.Errorf("settling %d pledges sent %d Stripe requests, want one charge each: %v", n, len(sent), sent)
	}
	fees := map[string]int64{}
	for _, bt := range d.BalanceTransactions() {
		fees[bt.Source.ID] = bt.Fee
	}
	for _, p := range seededPledges(t, store, n) {
		if want, ok := fees[p.ChargeID]; !ok || want == 0 || p.StripeFee != want {
			t.Errorf("%s: fee %d recorded for charge %q, Stripe's is %d (known: %v)", p.ID, p.StripeFee, p.ChargeID, want, ok)
		}
	}
}

// TestResumedChargeFirstSentWithoutTheFee: a pledge left "charging" by a settler that sent its
// charge without asking for the balance transaction (a version before it did, killed after
// Stripe answered) is resumed with the same key. Stripe replays a key only for the same
// parameters, so the charge is asked again as it was first asked: the answer is Stripe's replay
// (no second charge), without the fee, which is then read from Stripe and recorded.
func TestResumedChargeFirstSentWithoutTheFee(t *testing.T) {
	store := testenv.MustStoreAt(t, testenv.StoreOptions(t))
	ctx := context.Background()
	camp, d, pay := mustFundedCampaign(t, store, 2, time.Now().UTC()) // the goal takes both
	clock := func() time.Time { return time.Now().UTC() }
	svc := pledge.NewService(store, pay, clock, 30*time.Minute, pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour})
	p := seededPledges(t, store, 2)[0]
	claimed, err := svc.ClaimCharges(ctx, []pledge.Pledge{p}, 1)
	if err != nil || claimed[0].Status != pledge.StatusCharging {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	sc := client.New("sk_test_settlement", stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(srv.URL),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}))
	first := &stripe.PaymentIntentParams{Amount: stripe.Int64(5000), Currency: stripe.String("chf"), PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Customer: stripe.String(p.CustomerID), PaymentMethod: stripe.String(p.PaymentMethodID), TransferGroup: stripe.String(camp.ID),
		Confirm: stripe.Bool(true), OffSession: stripe.Bool(true)}
	first.Metadata = map[string]string{"pledge_id": p.ID, "campaign_id": camp.ID, "charge_attempt": "1"}
	first.SetIdempotencyKey(pledge.ChargeKey(p.ID, 1))
	pi, err := sc.PaymentIntents.New(first)
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("first charge: %+v %v", pi, err)
	}

	settler := settlement.New(store, svc, clock, settlement.Options{Owner: "test", MaxProviderRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err := settler.Settle(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	collectedAtFirstAttempt(t, store, 2)
	got := seededPledges(t, store, 2)[0]
	if pis := d.PaymentIntents(); len(pis) != 2 || got.PaymentIntentID != pi.ID {
		t.Fatalf("%d payment intents for 2 pledges, the first records %s, its charge was %s", len(pis), got.PaymentIntentID, pi.ID)
	}
	var fee int64
	for _, bt := range d.BalanceTransactions() {
		if bt.Source.ID == got.ChargeID {
			fee = bt.Fee
		}
	}
	if fee == 0 || got.StripeFee != fee {
		t.Errorf("fee recorded %d, Stripe's %d", got.StripeFee, fee)
	}
}
