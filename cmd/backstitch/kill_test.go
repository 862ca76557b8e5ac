package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSettlerKilledMidRunChargesEachPledgeOnce settles a funded campaign in a real service
// process, kills it with SIGKILL part-way through the deadline charges, starts it again, and
// checks that every pledge was charged exactly once: one PaymentIntent per pledge at the Stripe
// double (which lives in this test, so it outlives the killed process), and the database agrees.
func TestSettlerKilledMidRunChargesEachPledgeOnce(t *testing.T) {
	bin := buildBinary(t)
	ctx := context.Background()
	opts := testenv.StoreOptions(t)
	store := testenv.MustStoreAt(t, opts)

	d, err := stripedouble.New(stripedouble.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d)
	defer srv.Close()
	sc := client.New("sk_test_kill", stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(srv.URL),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}))

	const n = 40
	camp := seedFundedCampaign(t, ctx, store, sc, n)
	// Slow charges down so the kill lands in the middle of the run.
	d.SetFaults(stripedouble.Faults{Latency: 40 * time.Millisecond, Match: func(method, path string) bool {
		return method == "POST" && path == "/v1/payment_intents"
	}})

	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = cleanEnv("BACKSTITCH_ADDR="+freeAddr(t), "MONGODB_URI="+opts.URI, "MONGODB_DATABASE="+opts.Database,
			"MONGODB_MAX_POOL_SIZE=1", "STRIPE_SECRET_KEY=sk_test_kill", "STRIPE_API_URL="+srv.URL,
			"STRIPE_WEBHOOK_SECRET=whsec_kill", "BACKSTITCH_SETTLE_INTERVAL=100ms", "BACKSTITCH_SETTLE_CONCURRENCY=4",
			"BACKSTITCH_SETTLE_LEASE_TTL=2s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := start()
	deadline := time.Now().Add(60 * time.Second)
	for d.RequestCount("POST", "/v1/payment_intents") < n/3 {
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatal("the settler never started charging")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := d.RequestCount("POST", "/v1/payment_intents")
	if killedAt >= n {
		t.Fatalf("the kill came too late (%d of %d charges made)", killedAt, n)
	}

	second := start()
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
	}()
	for {
		c, err := store.FindCampaign(ctx, camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Settlement != nil && c.Settlement.ChargedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("settlement not finished after the restart (%d payment intent requests)", d.RequestCount("POST", "/v1/payment_intents"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("killed after %d of %d charge requests; %d requests in all", killedAt, n, d.RequestCount("POST", "/v1/payment_intents"))

	perPledge := map[string]*stripe.PaymentIntent{}
	for _, pi := range d.PaymentIntents() {
		id := pi.Metadata["pledge_id"]
		if perPledge[id] != nil {
			t.Errorf("pledge %s has two payment intents: %s and %s", id, perPledge[id].ID, pi.ID)
		}
		perPledge[id] = pi
	}
	if len(perPledge) != n {
		t.Fatalf("%d pledges charged, want %d", len(perPledge), n)
	}
	err = store.FindCampaignPledges(ctx, camp.ID, func(p pledge.Pledge) error {
		pi := perPledge[p.ID]
		if p.Status != pledge.StatusCollected || pi == nil || pi.ID != p.PaymentIntentID || pi.Status != stripe.PaymentIntentStatusSucceeded || pi.Amount != p.Amount.Amount {
			t.Errorf("pledge %s: %s with %s; Stripe has %+v", p.ID, p.Status, p.PaymentIntentID, pi)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// seedFundedCampaign stores a live all-or-nothing campaign whose deadline has passed, with n
// active pledges whose cards are saved at the double, as pledging would have left them.
func seedFundedCampaign(t *testing.T, ctx context.Context, store *mongostore.Store, sc *client.API, n int) campaign.Campaign {
	t.Helper()
	now := time.Now().UTC()
	title, deadline, tz := "Killed settler", now.Add(48*time.Hour).Format(time.RFC3339), "Europe/Zurich"
	goal := money.Money{Amount: 100000, Currency: "CHF"}
	camp, err := campaign.New(campaign.Fields{Title: &title, Goal: &goal, Deadline: &deadline, Timezone: &tz}, "usr_designer",
		now, campaign.Rules{MinDuration: time.Hour, MaxDuration: 1000 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	launched := now.Add(-30 * 24 * time.Hour)
	camp.Status, camp.LaunchedAt, camp.Deadline = campaign.StatusLive, &launched, now.Add(-time.Minute)
	camp.Pledged, camp.BackersCount = int64(n)*5000, int64(n)
	if camp, err = store.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		cus, err := sc.Customers.New(&stripe.CustomerParams{Email: stripe.String(fmt.Sprintf("b%d@example.com", i))})
		if err != nil {
			t.Fatal(err)
		}
		si, err := sc.SetupIntents.New(&stripe.SetupIntentParams{Customer: stripe.String(cus.ID), Usage: stripe.String("off_session"),
			PaymentMethodTypes: stripe.StringSlice([]string{"card"})})
		if err != nil {
			t.Fatal(err)
		}
		si, err = sc.SetupIntents.Confirm(si.ID, &stripe.SetupIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
		if err != nil {
			t.Fatal(err)
		}
		p := pledge.Pledge{ID: fmt.Sprintf("plg_kill%04d", i), CampaignID: camp.ID, FundingModel: campaign.AllOrNothing,
			Amount: money.Money{Amount: 5000, Currency: "CHF"}, Status: pledge.StatusActive, CustomerID: cus.ID,
			SetupIntentID: si.ID, PaymentMethodID: si.PaymentMethod.ID, CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}}
		if err := store.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	return camp
}
