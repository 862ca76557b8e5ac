package settlement_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/testenv"
)

var testDunning = pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour}

// mustActivePledges reads the campaign's active pledges as the settler lists them.
func mustActivePledges(t *testing.T, store *mongostore.Store, campaignID string) []pledge.Pledge {
	t.Helper()
	ps, err := store.FindPledgesByStatus(context.Background(), campaignID, []pledge.Status{pledge.StatusActive}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestBatchClaimUnderStaleFenceClaimsNothing: a settler whose lease was taken over (a newer
// holder has written the pledges with its larger fencing token) claims a batch with its old
// token: not one pledge moves, while the current holder's token claims them all.
func TestBatchClaimUnderStaleFenceClaimsNothing(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const n = 5
	camp, _, pay := mustFundedCampaign(t, store, n, time.Now().UTC())
	svc := pledge.NewService(store, pay, func() time.Time { return time.Now().UTC() }, 30*time.Minute, testDunning)
	for _, p := range mustActivePledges(t, store, camp.ID) {
		if _, err := store.FencedReplacePledge(ctx, p, p, 8); err != nil {
			t.Fatal(err)
		}
	}
	ps := mustActivePledges(t, store, camp.ID)
	got, err := svc.ClaimCharges(ctx, ps, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		stored, err := store.FindPledge(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != pledge.StatusActive || stored.Status != pledge.StatusActive || stored.ChargeAttempts != 0 || stored.Version != ps[i].Version {
			t.Errorf("%s claimed under a stale fence: answered %s, stored %s attempt %d version %d", p.ID, p.Status, stored.Status, stored.ChargeAttempts, stored.Version)
		}
	}
	got, err = svc.ClaimCharges(ctx, ps, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		stored, err := store.FindPledge(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != pledge.StatusCharging || stored.Status != pledge.StatusCharging || stored.ChargeAttempts != 1 || stored.Fence != 8 {
			t.Errorf("%s under the current fence: answered %s, stored %s attempt %d fence %d, want charging attempt 1 fence 8", p.ID, p.Status, stored.Status, stored.ChargeAttempts, stored.Fence)
		}
	}
}

// cancelsBeforeClaim is a store on which one pledge is cancelled by its backer right before the
// settler's batch claim reaches the store, after the settler listed it as active.
type cancelsBeforeClaim struct {
	*mongostore.Store
	t      *testing.T
	victim string
	done   bool
}

func (s *cancelsBeforeClaim) FencedReplacePledges(ctx context.Context, prevs, nexts []pledge.Pledge, token int64) ([]pledge.Pledge, error) {
	if !s.done {
		s.done = true
		p, err := s.FindPledge(ctx, s.victim)
		if err != nil {
			s.t.Error(err)
		} else if _, err := s.ReplacePledge(ctx, p, p.MoveTo(pledge.StatusCancelled, "backer", "changed my mind", time.Now().UTC())); err != nil {
			s.t.Error(err)
		}
	}
	return s.Store.FencedReplacePledges(ctx, prevs, nexts, token)
}

// TestPledgeCancelledBeforeBatchClaimIsNotCharged: the settler lists a page of active pledges;
// one is cancelled before the batch claim. The claim's compare-and-set refuses it, and the
// settler, looking at it again, finds it cancelled: it is never sent to Stripe, the others are
// charged once.
func TestPledgeCancelledBeforeBatchClaimIsNotCharged(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const n = 4
	camp, d, pay := mustFundedCampaign(t, store, n, time.Now().UTC())
	clock := func() time.Time { return time.Now().UTC() }
	victim := "plg_settle2"
	racing := &cancelsBeforeClaim{Store: store, t: t, victim: victim}
	settler := settlement.New(store, pledge.NewService(racing, pay, clock, 30*time.Minute, testDunning), clock, settlement.Options{Owner: "test", Concurrency: 2})
	if err := settler.Settle(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	if !racing.done {
		t.Fatal("the settler claimed no batch")
	}
	for _, p := range seededPledges(t, store, n) {
		want := pledge.StatusCollected
		if p.ID == victim {
			want = pledge.StatusCancelled
		}
		if p.Status != want {
			t.Errorf("%s is %s, want %s", p.ID, p.Status, want)
		}
	}
	pis := d.PaymentIntents()
	for _, pi := range pis {
		if pi.Metadata["pledge_id"] == victim {
			t.Errorf("the pledge cancelled before the claim was sent to Stripe: %s", pi.ID)
		}
	}
	if len(pis) != n-1 {
		t.Errorf("%d payment intents, want %d", len(pis), n-1)
	}
}

// TestCrashAfterBatchClaimResumesWithSameKeys: the settler dies right after claiming a batch.
// One of its charges had in fact reached Stripe (as if the crash came after the call: the
// same attempt's key is already known there). The next settler resumes every pledge of the
// batch with its claimed attempt, so Stripe answers that one with the charge it already made:
// each pledge is charged exactly once.
func TestCrashAfterBatchClaimResumesWithSameKeys(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const n = 5
	camp, d, pay := mustFundedCampaign(t, store, n, time.Now().UTC())
	clock := func() time.Time { return time.Now().UTC() }
	dying := pledge.NewService(store, pay, clock, 30*time.Minute, testDunning)
	dying.SetFaultHook(func(at pledge.FaultPoint) error {
		if at == pledge.AfterChargeClaim {
			return pledge.ErrInjectedFault
		}
		return nil
	})
	err := settlement.New(store, dying, clock, settlement.Options{Owner: "dies", Concurrency: 2}).Settle(ctx, camp.ID)
	if !errors.Is(err, pledge.ErrInjectedFault) {
		t.Fatalf("settling through the crash: %v", err)
	}
	if pis := len(d.PaymentIntents()); pis != 0 {
		t.Fatalf("%d payment intents made before the crash after the claim", pis)
	}
	for _, p := range seededPledges(t, store, n) {
		if p.Status != pledge.StatusCharging || p.ChargeAttempts != 1 {
			t.Fatalf("%s after the claim: %s attempt %d, want charging attempt 1", p.ID, p.Status, p.ChargeAttempts)
		}
	}
	early, err := store.FindPledge(ctx, "plg_settle3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pay.CreatePaymentIntent(ctx, pledge.PaymentRequest{Amount: money.Money{Amount: 5000, Currency: "CHF"}, CustomerID: early.CustomerID,
		PaymentMethodID: early.PaymentMethodID, OffSession: true, Confirm: true, TransferGroup: camp.ID, PledgeID: early.ID, CampaignID: camp.ID,
		Attempt: 1, IdempotencyKey: pledge.ChargeKey(early.ID, 1)}); err != nil {
		t.Fatal(err)
	}

	next := pledge.NewService(store, pay, clock, 30*time.Minute, testDunning)
	if err := settlement.New(store, next, clock, settlement.Options{Owner: "next", Concurrency: 2}).Settle(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	collectedAtFirstAttempt(t, store, n)
	perPledge := map[string]int{}
	for _, pi := range d.PaymentIntents() {
		perPledge[pi.Metadata["pledge_id"]]++
	}
	for i := range n {
		if id := fmt.Sprintf("plg_settle%d", i); perPledge[id] != 1 {
			t.Errorf("%s has %d payment intents, want 1", id, perPledge[id])
		}
	}
}
