package mongostore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var rules = campaign.Rules{MinDuration: time.Hour, MaxDuration: 60 * 24 * time.Hour}

func newCampaign(t *testing.T, title string) campaign.Campaign {
	t.Helper()
	deadline := "2030-01-10"
	tz := "Europe/Zurich"
	goal := money.Money{Amount: 500000, Currency: "CHF"}
	c, err := campaign.New(campaign.Fields{Title: &title, Goal: &goal, Deadline: &deadline, Timezone: &tz},
		"usr_a", time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC), rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlugsStayUniqueUnderConcurrency(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	const n = 12
	slugs := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := s.CreateCampaign(ctx, newCampaign(t, "Linen Coat"))
			if err != nil {
				t.Error(err)
				return
			}
			slugs <- c.Slug
		})
	}
	wg.Wait()
	close(slugs)
	seen := map[string]bool{}
	for slug := range slugs {
		if seen[slug] {
			t.Fatalf("slug %q given twice", slug)
		}
		seen[slug] = true
		if _, err := s.FindCampaignBySlug(ctx, slug); err != nil {
			t.Fatalf("slug %q not stored: %v", slug, err)
		}
	}
	if len(seen) != n || !seen["linen-coat"] || !seen["linen-coat-2"] {
		t.Fatalf("slugs = %v", seen)
	}
}

func TestReplaceCampaignIsCompareAndSet(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, newCampaign(t, "Wool"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	a, _ := c.Do(campaign.ActionSubmit, "usr_a", "", now, rules)
	b, _ := c.Do(campaign.ActionCancel, "usr_a", "", now, rules)
	if _, err := s.ReplaceCampaign(ctx, c, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceCampaign(ctx, c, b); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("second writer from the same read: err %v, want conflict", err)
	}
	got, err := s.FindCampaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.StatusInReview || len(got.History) != 1 || got.Version != 1 {
		t.Fatalf("stored %s v%d with %d history entries", got.Status, got.Version, len(got.History))
	}
}

func TestRateLimitCountsAcrossCalls(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := s.HitRateLimit(ctx, "login:a", time.Minute, now); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, end, err := s.HitRateLimit(ctx, "login:a", time.Minute, now)
	if err != nil || n != 21 || !end.Equal(now.Add(time.Minute)) {
		t.Fatalf("count %d end %v err %v; want 21 at %v", n, end, err, now.Add(time.Minute))
	}
	if n, _, _ := s.HitRateLimit(ctx, "login:a", time.Minute, now.Add(time.Minute)); n != 1 {
		t.Fatalf("next window starts at %d, want 1", n)
	}
}

func TestSessionsExpireAndPurge(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	_, sess := account.NewSession(account.User{ID: "usr_a", Role: account.RoleDesigner}, now, time.Hour)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindSession(ctx, sess.ID, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("live session not found: %v", err)
	}
	if _, err := s.FindSession(ctx, sess.ID, now.Add(time.Hour)); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("expired session: err %v, want not_found", err)
	}
	n, err := s.PurgeExpired(ctx, now.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d, err %v; want 1", n, err)
	}
}

// DESIGN invariant 1: 1,000 concurrent claims on a tier limited to 100 → exactly 100 succeed,
// the rest are sold_out, and remaining never goes below zero.
func TestClaimTierUnitNeverOversells(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, newCampaign(t, "Limited"))
	if err != nil {
		t.Fatal(err)
	}
	title, price := "Workshop", money.Money{Amount: 9000, Currency: "CHF"}
	kind := campaign.KindExperience
	limited, err := campaign.NewTier(c, campaign.TierFields{Title: &title, Kind: &kind, Price: &price,
		Limit: campaign.Nullable[int64]{Set: true, Value: 100}}, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	open := limited
	open.ID, open.Limit, open.Remaining = "tier_open", nil, nil
	for _, tier := range []campaign.Tier{limited, open} {
		if err := s.CreateTier(ctx, tier); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	results := map[backstitch.Code]int{}
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() {
			code := backstitch.Code("ok")
			if err := s.ClaimTierUnit(ctx, limited.ID, time.Now()); err != nil {
				code = backstitch.ErrorCode(err)
			}
			mu.Lock()
			results[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if results["ok"] != 100 || results[backstitch.CodeSoldOut] != 900 || len(results) != 2 {
		t.Fatalf("claims: %v, want 100 ok and 900 sold_out", results)
	}
	got, err := s.FindTier(ctx, c.ID, limited.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Remaining != 0 || got.Claimed != 100 {
		t.Fatalf("tier after the rush: remaining %d claimed %d", *got.Remaining, got.Claimed)
	}
	for range 3 {
		if err := s.ClaimTierUnit(ctx, open.ID, time.Now()); err != nil {
			t.Fatalf("unlimited tier refused a claim: %v", err)
		}
	}
	if got, _ := s.FindTier(ctx, c.ID, open.ID); got.Claimed != 3 || got.Remaining != nil {
		t.Fatalf("unlimited tier: claimed %d remaining %v", got.Claimed, got.Remaining)
	}
}

// Opening a database that already has its indexes must work: every restart does it.
func TestReopenKeepsIndexes(t *testing.T) {
	opts := testenv.StoreOptions(t)
	ctx := context.Background()
	for i := range 3 {
		s, err := mongostore.Open(ctx, opts)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		if i == 2 {
			if err := s.CreateUser(ctx, account.User{ID: "usr_1", Email: "a@b.example"}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUser(ctx, account.User{ID: "usr_2", Email: "a@b.example"}); backstitch.ErrorCode(err) != backstitch.CodeEmailTaken {
				t.Fatalf("unique email index lost after reopen: %v", err)
			}
			_ = s.Drop(ctx)
		}
		_ = s.Close(ctx)
	}
}

// Recounts write only over the counters they read: a claim, a release or a totals change landing
// between the read and the write makes the write a no-op, so a recount running beside live
// pledging can never overwrite a move it did not see.
func TestRecountsWriteOnlyOverTheCountersTheyRead(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, newCampaign(t, "Drift"))
	if err != nil {
		t.Fatal(err)
	}
	title, price, kind := "Coat", money.Money{Amount: 30000, Currency: "CHF"}, campaign.KindPhysical
	tier, err := campaign.NewTier(c, campaign.TierFields{Title: &title, Kind: &kind, Price: &price,
		Limit: campaign.Nullable[int64]{Set: true, Value: 10}}, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTier(ctx, tier); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC)
	readCamp, _ := s.FindCampaign(ctx, c.ID)
	readTier, _ := s.FindTier(ctx, c.ID, tier.ID)
	// A pledge moves both counters after the recount read them.
	if err := s.AddToTotals(ctx, c.ID, 30000, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimTierUnit(ctx, tier.ID, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SetTotals(ctx, c.ID, readCamp.CounterRev, 99, 9); err != nil || ok {
		t.Fatalf("totals recount over a moved counter: ok=%v err=%v", ok, err)
	}
	if ok, err := s.SetTierClaimed(ctx, readTier, 5, nil); err != nil || ok {
		t.Fatalf("tier recount over a moved counter: ok=%v err=%v", ok, err)
	}
	got, _ := s.FindCampaign(ctx, c.ID)
	gotTier, _ := s.FindTier(ctx, c.ID, tier.ID)
	if got.Pledged != 30000 || got.BackersCount != 1 || gotTier.Claimed != 1 || *gotTier.Remaining != 9 {
		t.Fatalf("a stale recount wrote: pledged %d backers %d claimed %d remaining %d", got.Pledged, got.BackersCount, gotTier.Claimed, *gotTier.Remaining)
	}
	if gotTier.CountedAt == nil || !gotTier.CountedAt.Equal(now) {
		t.Fatalf("claim did not record when it counted: %v", gotTier.CountedAt)
	}
	// Read afresh, the recount writes, and remaining follows the limit.
	if ok, err := s.SetTotals(ctx, c.ID, got.CounterRev, 60000, 2); err != nil || !ok {
		t.Fatalf("fresh totals recount: ok=%v err=%v", ok, err)
	}
	if ok, err := s.SetTierClaimed(ctx, gotTier, 3, nil); err != nil || !ok {
		t.Fatalf("fresh tier recount: ok=%v err=%v", ok, err)
	}
	got, _ = s.FindCampaign(ctx, c.ID)
	gotTier, _ = s.FindTier(ctx, c.ID, tier.ID)
	if got.Pledged != 60000 || got.BackersCount != 2 || gotTier.Claimed != 3 || *gotTier.Remaining != 7 {
		t.Fatalf("after recount: pledged %d backers %d claimed %d remaining %d", got.Pledged, got.BackersCount, gotTier.Claimed, *gotTier.Remaining)
	}
}

// Compare-and-set on pledges: of many writers starting from the same read exactly one wins,
// and counters bumped meanwhile are not lost (on the embedded store this runs through the
// per-document locks that stand in for FerretDB's missing filter pushdown).
func TestPledgeCompareAndSet(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	p := pledge.Pledge{ID: "plg_cas", CampaignID: "cam_x", Status: pledge.StatusPending, Amount: money.Money{Amount: 5000, Currency: "CHF"}}
	if err := s.CreatePledge(ctx, p); err != nil {
		t.Fatal(err)
	}
	read, err := s.FindPledge(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			next := read.MoveTo(pledge.StatusActive, fmt.Sprint("writer-", i), "", time.Now())
			_, err := s.FencedReplacePledge(ctx, read, next, 1)
			switch backstitch.ErrorCode(err) {
			case "":
				wins.Add(1)
			case backstitch.CodeConflict:
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := s.CountConfirmAttempt(ctx, p.ID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, _ := s.FindPledge(ctx, p.ID)
	if wins.Load() > 1 || wins.Load()+conflicts.Load() != 30 {
		t.Fatalf("%d writers won, %d lost; want at most one winner", wins.Load(), conflicts.Load())
	}
	if got.ConfirmAttempts != 30 {
		t.Fatalf("confirm attempts %d, want 30: increments were lost", got.ConfirmAttempts)
	}
	// A write with an older fence than the stored one is refused.
	cur, _ := s.FindPledge(ctx, p.ID)
	bumped, err := s.FencedReplacePledge(ctx, cur, cur, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FencedReplacePledge(ctx, bumped, bumped, 4); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("stale fence accepted: %v", err)
	}
}

// Tier slots: a campaign written before the counters existed starts them from its tiers; slots
// stop at the limit, come back when released, and positions are never handed out twice.
func TestTierSlots(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, newCampaign(t, "Slots"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.CreateTier(ctx, campaign.Tier{ID: fmt.Sprint("tier_old", i), CampaignID: c.ID, Position: i}); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	for {
		pos, err := s.ReserveTierSlot(ctx, c.ID, 4)
		if backstitch.ErrorCode(err) == backstitch.CodeValidation {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pos)
	}
	if fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("positions %v, want [2 3]: two old tiers and a limit of 4", got)
	}
	if err := s.ReleaseTierSlot(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if pos, err := s.ReserveTierSlot(ctx, c.ID, 4); err != nil || pos != 4 {
		t.Fatalf("after a release: position %d, %v; want 4", pos, err)
	}
	if _, err := s.ReserveTierSlot(ctx, "cam_missing", 4); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("missing campaign: %v", err)
	}
}

// Every pledge write that is a conditional update on MongoDB (and a compare under a lock on the
// embedded store) refuses stale state, one condition at a time, so that a filter missing any of
// its conditions fails here. Run with BACKSTITCH_TEST_STORE=mongodb-mode it checks the filters
// production MongoDB evaluates; run as the service opens the embedded store, the locked compare.
func TestPledgeConditionalWritesRefuseStaleState(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2029, 12, 2, 9, 0, 0, 0, time.UTC)
	p := pledge.Pledge{ID: "plg_filters", CampaignID: "cam_x", Status: pledge.StatusPending, ManageTokenHash: "hash_1", CustomerID: "cus_1",
		Amount: money.Money{Amount: 5000, Currency: "CHF"}, Pending: &pledge.Pending{Seq: "seq_1", Since: now, At: now}}
	if err := s.CreatePledge(ctx, p); err != nil {
		t.Fatal(err)
	}
	read, err := s.FindPledge(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	conflict := func(what string, err error) {
		t.Helper()
		if backstitch.ErrorCode(err) != backstitch.CodeConflict {
			t.Fatalf("%s: got %v, want a conflict", what, err)
		}
	}

	// Status: a caller that believes the pledge is in another state at the same version loses.
	wrongStatus := read
	wrongStatus.Status = pledge.StatusActive
	_, err = s.ReplacePledge(ctx, wrongStatus, wrongStatus.MoveTo(pledge.StatusCancelled, "t", "", now))
	conflict("replace with the wrong status", err)
	_, err = s.FencedReplacePledge(ctx, wrongStatus, wrongStatus.MoveTo(pledge.StatusCancelled, "t", "", now), 1)
	conflict("fenced replace with the wrong status", err)

	// Version: a write from an older read loses, even when the status did not change.
	counted, err := s.CountConfirmAttempt(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ReplacePledge(ctx, read, read.MoveTo(pledge.StatusActive, "t", "", now))
	conflict("replace from an older version", err)
	_, err = s.FencedReplacePledge(ctx, read, read.MoveTo(pledge.StatusActive, "t", "", now), 1)
	conflict("fenced replace from an older version", err)

	// Fence: once a holder with token 7 wrote, a holder with token 6 cannot, though it read the
	// latest version.
	fenced, err := s.FencedReplacePledge(ctx, counted, counted, 7)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.FencedReplacePledge(ctx, fenced, fenced.MoveTo(pledge.StatusActive, "t", "", now), 6)
	conflict("fenced replace with an older token", err)
	if _, err := s.FencedReplacePledge(ctx, fenced, fenced, 7); err != nil {
		t.Fatalf("the holder of the same token was refused: %v", err)
	}

	// Pending: only the transition that wrote the record clears it, and clearing moves no version.
	before, _ := s.FindPledge(ctx, p.ID)
	if err := s.ClearPending(ctx, p.ID, "seq_other"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindPledge(ctx, p.ID); got.Pending == nil {
		t.Fatal("another transition's seq cleared the pending record")
	}
	if err := s.ClearPending(ctx, p.ID, "seq_1"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.FindPledge(ctx, p.ID)
	if got.Pending != nil || got.Version != before.Version {
		t.Fatalf("after clearing: pending %+v, version %d (was %d)", got.Pending, got.Version, before.Version)
	}
	if got.ManageTokenHash != "hash_1" || got.CustomerID != "cus_1" || got.Fence != 7 {
		t.Fatalf("stored pledge: token hash %q customer %q fence %d", got.ManageTokenHash, got.CustomerID, got.Fence)
	}
}
