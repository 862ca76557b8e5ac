package settlement_test

import (
	"context"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/testenv"
)

// answersAfterLeaseLost is a Stripe gateway whose charges are answered only once the charging
// worker's context ends (or after a while, should it never end): Stripe taking its time while the
// settler loses its lease. The charge itself is made, as Stripe would have made it.
type answersAfterLeaseLost struct {
	pledge.Gateway
	started chan string
}

func (g answersAfterLeaseLost) CreatePaymentIntent(ctx context.Context, r pledge.PaymentRequest) (pledge.Intent, error) {
	g.started <- r.PledgeID
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	return g.Gateway.CreatePaymentIntent(context.WithoutCancel(ctx), r)
}

// TestLostLeaseStopsInFlightCharges: a settler pauses with charges in flight, its lease expires
// and another instance takes it. The pledges' fences alone would not stop the old settler from
// recording the answers it then gets, since the new holder has not written those pledges yet:
// the failed renewal must stop its workers before they write. Nothing is recorded by the old
// settler, and the next one charges every pledge exactly once, repeating the in-flight charges
// with their idempotency keys.
func TestLostLeaseStopsInFlightCharges(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	clock := testenv.NewClock(time.Now().UTC())
	const n, inFlight, ttl = 6, 2, 150 * time.Millisecond
	camp, d, pay := mustFundedCampaign(t, store, n, clock.Now())
	dunning := pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour}

	slow := answersAfterLeaseLost{Gateway: pay, started: make(chan string, n)}
	old := settlement.New(store, pledge.NewService(store, slow, clock.Now, 30*time.Minute, dunning), clock.Now,
		settlement.Options{Owner: "old", Concurrency: inFlight, LeaseTTL: ttl})
	settled := make(chan error, 1)
	go func() { settled <- old.Settle(ctx, camp.ID) }()
	for range inFlight {
		select {
		case <-slow.started:
		case err := <-settled:
			t.Fatalf("settled before charging: %v", err)
		}
	}
	clock.Advance(2 * ttl)
	stolen, err := store.AcquireLease(ctx, "settle:"+camp.ID, "new", time.Hour, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-settled; err == nil {
		t.Error("the settler that lost its lease reported success")
	}
	charging := 0
	for _, p := range seededPledges(t, store, n) {
		switch p.Status {
		case pledge.StatusCharging:
			charging++
		case pledge.StatusActive:
		default:
			t.Errorf("%s is %s: written by a settler that had lost its lease", p.ID, p.Status)
		}
	}
	// Charges are claimed in batches before they go out, so more than the ones in flight may
	// be "charging": each resumes with its claimed attempt below.
	if charging < inFlight {
		t.Errorf("%d pledges charging, want at least the %d in flight when the lease was lost", charging, inFlight)
	}

	if err := store.ReleaseLease(ctx, stolen); err != nil {
		t.Fatal(err)
	}
	next := settlement.New(store, pledge.NewService(store, pay, clock.Now, 30*time.Minute, dunning), clock.Now,
		settlement.Options{Owner: "next", Concurrency: inFlight})
	if err := next.Settle(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	collectedAtFirstAttempt(t, store, n)
	if pis := len(d.PaymentIntents()); pis != n {
		t.Errorf("%d payment intents for %d pledges: a charge was made twice", pis, n)
	}
}
