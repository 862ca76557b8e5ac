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
// per charge. The settler has the pledge it just moved to "charging"; recording Stripe's answer
// starts from that copy instead of reading it again. On the embedded store each write compares
// the pledge under its lock from the fields read straight from the store's files (a batch of
// claims in one read), not through a FerretDB find; on MongoDB the writes are conditional.
// Either way recording reads no pledge by id. Each pledge is still charged once.
func TestDeadlineChargeReadsNoPledgeByID(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var mu sync.Mutex
	counting := false
	byID := 0
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup("find").StringValueOK(); e.CommandName != "find" || coll != "pledges" {
			return
		}
		filter, _ := e.Command.Lookup("filter").Document().Elements()
		mu.Lock()
		defer mu.Unlock()
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
	got := byID
	mu.Unlock()
	collectedAtFirstAttempt(t, store, n)
	if pis := len(d.PaymentIntents()); pis != n {
		t.Fatalf("%d payment intents for %d pledges", pis, n)
	}
	// On the embedded store the listing itself reads each pledge of a page by id once, after
	// its ids come from an index (see FindPledgesByStatus); recording reads none.
	want := 0
	if opts.Scanner != nil {
		want = n
	}
	if got != want {
		t.Errorf("settling %d pledges read a pledge by id %d times, want %d", n, got, want)
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
