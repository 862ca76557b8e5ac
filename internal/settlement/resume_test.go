package settlement_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/stripepay"
	"github.com/backstitch/backstitch/internal/testenv"
)

// errStoreDown is the outage a dyingStore answers once its writes run out.
var errStoreDown = backstitch.Errorf(backstitch.CodeUnavailable, "store down (injected)")

// dyingStore lets a settler through the campaign's decision and then fails: fenced pledge
// writes after the first writes ones, or (writes < 0) every pledge listing, as a store outage
// or a process dying mid-sweep would leave it.
type dyingStore struct {
	*mongostore.Store
	writes atomic.Int64
}

func (s *dyingStore) FencedReplacePledge(ctx context.Context, prev, next pledge.Pledge, token int64) (pledge.Pledge, error) {
	if s.writes.Add(-1) < 0 {
		return prev, errStoreDown
	}
	return s.Store.FencedReplacePledge(ctx, prev, next, token)
}

func (s *dyingStore) FindPledgesByStatus(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error) {
	if s.writes.Load() < 0 {
		return nil, errStoreDown
	}
	return s.Store.FindPledgesByStatus(ctx, campaignID, statuses, afterID, limit)
}

// settlerOn builds one settler instance over store.
func settlerOn(store interface {
	settlement.Store
	settlement.PayoutStore
	pledge.Store
}, pay *stripepay.Client, owner string) *settlement.Settler {
	clock := func() time.Time { return time.Now().UTC() }
	svc := pledge.NewService(store, pay, clock, 30*time.Minute, testDunning)
	return settlement.New(store, svc, clock, settlement.Options{Owner: owner, Concurrency: 1})
}

// stripePosts counts the POSTs the double applied (answers replayed for a repeated idempotency
// key, and injected failures, left out) whose path ends with suffix, by path.
func stripePosts(d *stripedouble.Double, suffix string) map[string]int {
	out := map[string]int{}
	for _, r := range d.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, suffix) && !r.Replayed && !r.Fault {
			out[r.Path]++
		}
	}
	return out
}

// mustSendNothingMore ticks and settles the campaign twice more and fails if that sent Stripe
// anything or wrote the campaign.
func mustSendNothingMore(t *testing.T, store *mongostore.Store, d *stripedouble.Double, s *settlement.Settler, campaignID string) {
	t.Helper()
	ctx := context.Background()
	before, err := store.FindCampaign(ctx, campaignID)
	if err != nil {
		t.Fatal(err)
	}
	sent := len(d.Requests())
	for range 2 {
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Settle(ctx, campaignID); err != nil {
			t.Fatal(err)
		}
	}
	if more := d.Requests()[sent:]; len(more) > 0 {
		t.Errorf("settling a swept campaign again sent Stripe %d more requests, first %s %s", len(more), more[0].Method, more[0].Path)
	}
	after, err := store.FindCampaign(ctx, campaignID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version {
		t.Errorf("settling a swept campaign wrote it again (version %d → %d)", before.Version, after.Version)
	}
}

// mustBeListed says whether FindCampaignsToSettle lists the campaign, and fails unless it is want.
func mustBeListed(t *testing.T, store *mongostore.Store, id string, want bool, when string) {
	t.Helper()
	ids, err := store.FindCampaignsToSettle(context.Background(), time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Contains(ids, id); got != want {
		t.Fatalf("%s: campaign listed to settle %v, want %v", when, got, want)
	}
}

// TestFailedCampaignSweepResumedByNextTick: the settler decides a campaign failed, voids two of
// its four pledges, and then its store fails (the process might as well have died). The
// campaign stays listed to settle, and the next tick, on another instance, voids the two left
// and detaches their cards, and marks the campaign swept; ticks after that send nothing more.
// Before, a failed campaign was never listed again: two backers kept saved cards forever.
func TestFailedCampaignSweepResumedByNextTick(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const n = 4
	camp, d, pay := mustFailingCampaign(t, store, n)

	dying := &dyingStore{Store: store}
	dying.writes.Store(2)
	if err := settlerOn(dying, pay, "dies").Settle(ctx, camp.ID); !errors.Is(err, errStoreDown) {
		t.Fatalf("settling through the outage: %v", err)
	}
	after, err := store.FindCampaign(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != campaign.StatusFailed || after.Settlement.SweptAt != nil {
		t.Fatalf("after the outage: %s, swept %v; want failed, not swept", after.Status, after.Settlement.SweptAt)
	}
	if active := mustActivePledges(t, store, camp.ID); len(active) != n-2 {
		t.Fatalf("%d pledges still active after the outage, want %d", len(active), n-2)
	}
	mustBeListed(t, store, camp.ID, true, "failed, half swept")

	next := settlerOn(store, pay, "next")
	if err := next.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	mustCardsDetached(t, store, d, n)
	swept, err := store.FindCampaign(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if swept.Settlement.SweptAt == nil {
		t.Fatal("the campaign is not marked swept once no pledge is left")
	}
	mustBeListed(t, store, camp.ID, false, "swept")
	mustSendNothingMore(t, store, d, next, camp.ID)
}

// mustFailingCampaign is mustFundedCampaign with a goal its n pledges do not reach: it fails at
// its deadline.
func mustFailingCampaign(t *testing.T, store *mongostore.Store, n int) (campaign.Campaign, *stripedouble.Double, *stripepay.Client) {
	t.Helper()
	camp, d, pay := mustFundedCampaign(t, store, n, time.Now().UTC())
	raised := camp
	raised.Goal.Amount = int64(n+1) * 5000
	camp, err := store.ReplaceCampaign(context.Background(), camp, raised)
	if err != nil {
		t.Fatal(err)
	}
	return camp, d, pay
}

// mustCardsDetached fails unless each seeded pledge is void and its card detached at the
// double, by exactly one request each (a repeat with the same key, replayed, aside).
func mustCardsDetached(t *testing.T, store *mongostore.Store, d *stripedouble.Double, n int) {
	t.Helper()
	cards := map[string]string{} // payment method → its customer at the double ("" when detached)
	for _, pm := range d.PaymentMethods() {
		cards[pm.ID] = ""
		if pm.Customer != nil {
			cards[pm.ID] = pm.Customer.ID
		}
	}
	detaches := stripePosts(d, "/detach")
	for _, p := range seededPledges(t, store, n) {
		if p.Status != pledge.StatusVoid {
			t.Errorf("%s is %s, want void", p.ID, p.Status)
		}
		if cus, ok := cards[p.PaymentMethodID]; !ok || cus != "" {
			t.Errorf("%s: card %s still attached to %q", p.ID, p.PaymentMethodID, cus)
		}
		if got := detaches["/v1/payment_methods/"+p.PaymentMethodID+"/detach"]; got != 1 {
			t.Errorf("%s: card detach sent %d times, want once", p.ID, got)
		}
	}
}

// TestFailedCampaignVoidCrashAfterWriteStillDetachesCard: the settler of a failed campaign
// dies right after writing a pledge void (the pledge fault point), before anything else. A void
// pledge is never looked at again, so its card is detached before the write: the next tick
// finds the other pledges to void, and every card is released exactly once.
func TestFailedCampaignVoidCrashAfterWriteStillDetachesCard(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const n = 3
	camp, d, pay := mustFailingCampaign(t, store, n)
	clock := func() time.Time { return time.Now().UTC() }
	dying := pledge.NewService(store, pay, clock, 30*time.Minute, testDunning)
	writes := 0
	dying.SetFaultHook(func(at pledge.FaultPoint) error {
		if at == pledge.AfterPledgeWrite {
			if writes++; writes == 2 {
				return pledge.ErrInjectedFault
			}
		}
		return nil
	})
	err := settlement.New(store, dying, clock, settlement.Options{Owner: "dies", Concurrency: 1}).Settle(ctx, camp.ID)
	if !errors.Is(err, pledge.ErrInjectedFault) {
		t.Fatalf("settling through the crash: %v", err)
	}
	if active := mustActivePledges(t, store, camp.ID); len(active) != n-2 {
		t.Fatalf("%d pledges still active after the crash, want %d", len(active), n-2)
	}
	next := settlerOn(store, pay, "next")
	if err := next.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	mustCardsDetached(t, store, d, n)
	mustBeListed(t, store, camp.ID, false, "swept")
	mustSendNothingMore(t, store, d, next, camp.ID)
}

// mustFlexibleCampaign stores a live flexible campaign past its deadline with paid pledges of
// CHF 50 (collected, their charges at the double) and unpaid ones (pending, their
// PaymentIntents open at the double), and its designer, ready to be paid out.
func mustFlexibleCampaign(t *testing.T, store *mongostore.Store, paid, unpaid int) (campaign.Campaign, *stripedouble.Double, *stripepay.Client) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	camp, d, pay := mustFundedCampaign(t, store, 0, now)
	flex := camp
	flex.FundingModel = campaign.Flexible
	camp, err := store.ReplaceCampaign(ctx, camp, flex)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := pay.CreateExpressAccount(ctx, "designer@example.com", camp.DesignerID, "acct-"+camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CompleteOnboarding(acct); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(ctx, account.User{ID: camp.DesignerID, Email: "designer@example.com", Name: "D", Role: account.RoleDesigner,
		CreatedAt: now, StripeAccountID: acct, PayoutsEnabled: true}); err != nil {
		t.Fatal(err)
	}
	amount := money.Money{Amount: 5000, Currency: "CHF"}
	for i := range paid + unpaid {
		id := fmt.Sprintf("plg_flex%d", i)
		req := pledge.PaymentRequest{Amount: amount, TransferGroup: camp.ID, PledgeID: id, CampaignID: camp.ID, IdempotencyKey: id + "/pay"}
		p := pledge.Pledge{ID: id, CampaignID: camp.ID, FundingModel: campaign.Flexible, Amount: amount, Status: pledge.StatusPending,
			CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}}
		if i < paid {
			req.PaymentMethodID, req.Confirm = "pm_card_visa", true
		}
		in, err := pay.CreatePaymentIntent(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		p.PaymentIntentID = in.ID
		if i < paid {
			if in.Status != pledge.IntentSucceeded || in.ChargeID == "" {
				t.Fatalf("paid pledge's intent: %+v", in)
			}
			p.Status, p.ChargeID, p.CollectedAt = pledge.StatusCollected, in.ChargeID, &now
		}
		if err := store.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.AddToTotals(ctx, camp.ID, int64(paid+unpaid)*5000, int64(paid+unpaid)); err != nil {
		t.Fatal(err)
	}
	return camp, d, pay
}

// TestFlexibleSweepResumedBeforePayout: a flexible campaign is decided succeeded and its store
// fails before the unpaid pledges are voided. Its payout waits (a pledge still pending might be
// paid yet, and a campaign marked paid out would never transfer it), the campaign stays listed,
// and the next tick voids the unpaid pledges, cancels their PaymentIntents once each, marks the
// campaign swept, then pays the designer each paid pledge once.
func TestFlexibleSweepResumedBeforePayout(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const paid, unpaid = 2, 3
	camp, d, pay := mustFlexibleCampaign(t, store, paid, unpaid)

	dying := &dyingStore{Store: store}
	dying.writes.Store(-1)
	dead := settlerOn(dying, pay, "dies")
	if err := dead.Settle(ctx, camp.ID); !errors.Is(err, errStoreDown) {
		t.Fatalf("settling through the outage: %v", err)
	}
	after, err := store.FindCampaign(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != campaign.StatusSucceeded || after.Settlement.SweptAt != nil {
		t.Fatalf("after the outage: %s, swept %v; want succeeded, not swept", after.Status, after.Settlement.SweptAt)
	}
	if got := settlement.StateOf(after, time.Now().UTC(), false, false); got != settlement.StateClosing {
		t.Errorf("state before the sweep is done: %q, want closing", got)
	}
	mustBeListed(t, store, camp.ID, true, "decided, not swept")
	// The dead instance's payout loop, or another instance's, runs before any settler resumes.
	if err := settlerOn(store, pay, "payer").PayOut(ctx); err != nil {
		t.Fatal(err)
	}
	if tr := d.Transfers(); len(tr) != 0 {
		t.Fatalf("%d transfers before the unpaid pledges were swept", len(tr))
	}

	next := settlerOn(store, pay, "next")
	if err := next.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range paid + unpaid {
		p, err := store.FindPledge(ctx, fmt.Sprintf("plg_flex%d", i))
		if err != nil {
			t.Fatal(err)
		}
		want := pledge.StatusVoid
		if i < paid {
			want = pledge.StatusCollected
		}
		if p.Status != want {
			t.Errorf("%s is %s, want %s", p.ID, p.Status, want)
		}
	}
	swept, err := store.FindCampaign(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if swept.Settlement.SweptAt == nil || swept.Settlement.PaidOutAt == nil {
		t.Fatalf("after the next tick: swept %v, paid out %v; want both", swept.Settlement.SweptAt, swept.Settlement.PaidOutAt)
	}
	mustBeListed(t, store, camp.ID, false, "swept")
	mustSendNothingMore(t, store, d, next, camp.ID)
	cancels := stripePosts(d, "/cancel")
	if len(cancels) != unpaid {
		t.Errorf("intents cancelled: %v, want the %d unpaid pledges'", cancels, unpaid)
	}
	for path, count := range cancels {
		if count != 1 {
			t.Errorf("%s sent %d times, want once", path, count)
		}
	}
	perPledge := map[string]int{}
	for _, tr := range d.Transfers() {
		perPledge[tr.Metadata["pledge_id"]]++
	}
	if len(perPledge) != paid {
		t.Errorf("transfers by pledge %v, want one for each of the %d paid pledges", perPledge, paid)
	}
	for id, count := range perPledge {
		if count != 1 {
			t.Errorf("%s transferred %d times", id, count)
		}
	}
}

// TestFailedCampaignDetachOutageKeepsSweepOpen: Stripe does not answer the detach of a failed
// campaign's cards. The pledges stay open and the campaign unswept rather than void with their
// cards saved for good; once Stripe answers, the next tick releases every card.
func TestFailedCampaignDetachOutageKeepsSweepOpen(t *testing.T) {
	store := testenv.MustStore(t)
	ctx := context.Background()
	const n = 2
	camp, d, pay := mustFailingCampaign(t, store, n)
	d.SetFaults(stripedouble.Faults{ErrorRate: 1, ErrorMode: stripedouble.FaultRejected,
		Match: func(method, path string) bool { return method == "POST" && strings.HasSuffix(path, "/detach") }})
	settler := settlerOn(store, pay, "test")
	if err := settler.Settle(ctx, camp.ID); backstitch.ErrorCode(err) != backstitch.CodePaymentProvider {
		t.Fatalf("settling while Stripe fails the detaches: %v, want a provider error", err)
	}
	if active := mustActivePledges(t, store, camp.ID); len(active) != n {
		t.Fatalf("%d pledges active while their cards could not be detached, want %d", len(active), n)
	}
	mustBeListed(t, store, camp.ID, true, "cards not detached")
	d.SetFaults(stripedouble.Faults{})
	if err := settler.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	mustCardsDetached(t, store, d, n)
	mustBeListed(t, store, camp.ID, false, "swept")
}
