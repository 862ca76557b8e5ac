//go:build !production

package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// failNext arms the pledge service's fault hook so the next n times a request reaches point it
// stops there, as a process killed there would; it answers how many did.
func failNext(svc *pledge.Service, point pledge.FaultPoint, n int) *atomic.Int64 {
	var left, hit atomic.Int64
	left.Store(int64(n))
	svc.SetFaultHook(func(at pledge.FaultPoint) error {
		if at == point && left.Add(-1) >= 0 {
			hit.Add(1)
			return pledge.ErrInjectedFault
		}
		return nil
	})
	return &hit
}

// A transition that dies between the pledge write and the counter update leaves the counters
// wrong; the sweeper's next tick heals them once the transition is certainly dead, with nobody
// running a repair. Until then it leaves them alone: the transition might still be under way.
func TestCountersHealAfterACrashBetweenPledgeAndCounters(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_SWEEP_INTERVAL": "50ms"})
	c := s.pledgeSetup("all_or_nothing", 5)
	confirmed := func(key string, amount int) (id, token string) {
		p := s.pledge(c.slug, coatPledge(c.coatTier, amount), key).JSON(t)
		id, token = p["id"].(string), p["manage_token"].(string)
		return id, token
	}
	aID, aToken := confirmed("heal-a", 32000)
	s.must(200, "POST", "/api/v1/pledges/"+aID+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", aToken)
	bID, bToken := confirmed("heal-b", 40000)
	s.waitWebhooks() // A's card event, late, would meet the armed fault

	// Stripe's events wait while the crashes are staged: B's card event, arriving before the
	// request's own write, would confirm B itself (and crash there), leaving the request nothing
	// to write.
	hold := s.double().HoldEvents(t)
	hit := failNext(s.app.Pledges(), pledge.AfterPledgeWrite, 2)
	// B is confirmed (its card saved) but the process "dies" before the totals count it; A is
	// cancelled but "dies" before its unit and its share of the totals go back.
	if r := s.manage("POST", bID, bToken, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 503 {
		t.Fatalf("confirm with the fault armed: %d %s", r.Status, r.Body)
	}
	if r := s.manage("POST", aID, aToken, nil); r.Status != 503 {
		t.Fatalf("cancel with the fault armed: %d %s", r.Status, r.Body)
	}
	if hit.Load() != 2 {
		t.Fatalf("fault hit %d times, want 2", hit.Load())
	}
	// The late events (B's card event among them) find both changes made and leave what the
	// dead requests owe to the sweeper.
	s.deliverHeld(hold, "setup_intent.succeeded")
	for id, want := range map[string]pledge.Status{aID: pledge.StatusCancelled, bID: pledge.StatusActive} {
		p, err := s.store.FindPledge(context.Background(), id)
		if err != nil || p.Status != want || p.Pending == nil {
			t.Fatalf("pledge %s after the crash: %s, pending %+v (%v); want %s with a record of what it owes", id, p.Status, p.Pending, err, want)
		}
	}
	// The counters are wrong now: A still counts and holds a unit, B does not count.
	if pledged, backers := s.campaignTotals(c.slug); pledged != 32000 || backers != 1 {
		t.Fatalf("totals right after the crash: %v/%v, want the stale 32000/1", pledged, backers)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 3 {
		t.Fatalf("remaining right after the crash: %v, want the stale 3", rem)
	}
	// Ticks within SettleWithin leave them: the transitions could still be running.
	time.Sleep(300 * time.Millisecond)
	if pledged, _ := s.campaignTotals(c.slug); pledged != 32000 {
		t.Fatalf("the sweeper recounted while a transition could still be under way: pledged %v", pledged)
	}
	s.clock.Advance(pledge.SettleWithin + time.Second)
	// Healing is the counters' writes, then each record's clearing: wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pledged, backers := s.campaignTotals(c.slug)
		rem := s.tierRemaining(c.slug, c.coatTier)
		var kept []*pledge.Pending
		for _, id := range []string{aID, bID} {
			if p, _ := s.store.FindPledge(context.Background(), id); p.Pending != nil {
				kept = append(kept, p.Pending)
			}
		}
		if pledged == 40000 && backers == 1 && rem == 4 && len(kept) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healed by the sweeper: pledged %v backers %v remaining %v; records kept %+v", pledged, backers, rem, kept)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() || drift.Busy {
		t.Fatalf("drift after healing: %+v %v", drift, err)
	}
}

// sizeFor picks a size for a pledge to the sized tier, and no options for any other.
func sizeFor(sized, tier string, roll func(int) int) map[string]string {
	if tier != sized {
		return nil
	}
	return map[string]string{"size": []string{"S", "M", "M", "L"}[roll(4)]}
}

// truth is what the pledges of a campaign say its counters must be, computed here from the
// pledge states with the rules written out again, not with the code under test.
func truth(t *testing.T, s *service, campaignID string) (pledged, backers int64, held map[string]int64) {
	t.Helper()
	holds := map[pledge.Status]bool{"pending": true, "active": true, "charging": true, "collected": true,
		"payment_failed": true, "partially_refunded": true, "disputed": true}
	held = map[string]int64{}
	err := s.store.FindCampaignPledges(context.Background(), campaignID, func(p pledge.Pledge) error {
		if !holds[p.Status] {
			return nil
		}
		if p.TierID != "" {
			held[p.TierID]++
			if p.StockID != "" {
				held[p.StockID]++ // stock ids and tier ids never collide
			}
		}
		if p.Status != pledge.StatusPending {
			pledged += p.Amount.Amount
			backers++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pledged, backers, held
}

// A thousand random create, confirm, change, cancel and sweep operations (holds expiring between
// batches), in racing batches, on a few limited tiers of two
// campaigns, with one in twenty interrupted between its pledge write and its counters: after
// each batch and one sweeper tick, every tier's claimed units and every campaign's totals are
// what the pledges say, and no tier is ever oversold. COUNTERS_SEED replays a failing run.
func TestRandomPledgeOperationsKeepCountersTrue(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("COUNTERS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("COUNTERS_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var rngMu sync.Mutex
	roll := func(n int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(n) }

	s := startService(t, nil)
	svc := s.app.Pledges()
	ctx := context.Background()
	type camp struct {
		setup  pledgeSetup
		tiers  []string
		limits map[string]int64
		sized  string // a tier with sizes, size M stocked
	}
	var camps []camp
	for _, model := range []string{"all_or_nothing", "flexible"} {
		c := s.pledgeSetup(model, 6)
		sized, _ := s.sizedCoat(c)
		camps = append(camps, camp{setup: c, tiers: []string{c.coatTier, c.workshop, sized, ""}, limits: map[string]int64{c.coatTier: 6, sized: 20}, sized: sized})
	}
	var faults atomic.Int64
	var armed atomic.Bool
	svc.SetFaultHook(func(at pledge.FaultPoint) error {
		if at == pledge.AfterPledgeWrite && armed.Load() && roll(20) == 0 {
			faults.Add(1)
			return pledge.ErrInjectedFault
		}
		return nil
	})
	type made struct {
		id, token string
		camp      int
	}
	var mu sync.Mutex
	var pledges []made
	pick := func() (made, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(pledges) == 0 {
			return made{}, false
		}
		return pledges[roll(len(pledges))], true
	}
	var opsDone, opsFailed atomic.Int64
	op := func(i int) {
		var err error
		switch k := roll(20); {
		case k < 7: // create
			ci := roll(len(camps))
			c := camps[ci]
			tier := c.tiers[roll(len(c.tiers))]
			price := map[string]int64{c.setup.coatTier: 32000, c.setup.workshop: 9000, c.sized: 32000, "": 100}[tier]
			req := pledge.Request{TierID: tier, Options: sizeFor(c.sized, tier, roll), Amount: &money.Money{Amount: price + int64(roll(3))*500, Currency: "CHF"},
				Backer: &pledge.Backer{Email: fmt.Sprintf("b%d@example.com", i), Name: "Backer"}, ShippingAddress: &pledge.Address{
					Name: "Ana Muster", Line1: "Seefeldstrasse 1", PostalCode: "8008", City: "Zürich", Country: "CH"}}
			var cr pledge.Created
			cr, err = svc.Create(ctx, pledge.Origin{Scope: fmt.Sprint("random-", seed, "-", i), RequestHash: "body"}, c.setup.slug, req)
			if err == nil {
				mu.Lock()
				pledges = append(pledges, made{cr.Pledge.ID, cr.ManageToken, ci})
				mu.Unlock()
			}
		case k < 12: // confirm, now and then with a card that is declined
			if p, ok := pick(); ok {
				pm := "pm_card_visa"
				if roll(5) == 0 {
					pm = "pm_card_chargeDeclined"
				}
				_, err = svc.Confirm(ctx, p.id, p.token, pm)
			}
		case k < 15: // change tier or amount
			if p, ok := pick(); ok {
				c := camps[p.camp]
				tier := c.tiers[roll(len(c.tiers))]
				price := map[string]int64{c.setup.coatTier: 32000, c.setup.workshop: 9000, c.sized: 32000, "": 100}[tier]
				opts := sizeFor(c.sized, tier, roll)
				_, err = svc.Update(ctx, p.id, p.token, pledge.Change{TierID: &tier, Options: &opts, Amount: &money.Money{Amount: price + int64(roll(4))*250, Currency: "CHF"}})
			}
		case k < 19: // cancel
			if p, ok := pick(); ok {
				_, err = svc.Cancel(ctx, p.id, p.token)
			}
		default: // a sweeper tick racing the others; holds run out between batches
			_, err = svc.Sweep(ctx)
		}
		opsDone.Add(1)
		if err != nil {
			opsFailed.Add(1)
		}
		var refused *backstitch.Error
		if err != nil && !errors.As(err, &refused) && !errors.Is(err, pledge.ErrInjectedFault) {
			t.Errorf("op %d failed for no domain reason: %v", i, err)
		}
	}
	const batches, perBatch, workers = 20, 50, 4
	for b := range batches {
		armed.Store(true)
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Go(func() {
				for i := range next {
					op(i)
				}
			})
		}
		for i := range perBatch {
			next <- b*perBatch + i
		}
		close(next)
		wg.Wait()
		// One sweeper tick (not interrupted) once any interrupted transition is certainly dead;
		// every third batch, late enough that the holds of unconfirmed pledges run out too. (The
		// clock moves only between batches: time does not jump by minutes inside a request.)
		armed.Store(false)
		if b%3 == 2 {
			s.clock.Advance(31 * time.Minute)
		} else {
			s.clock.Advance(pledge.SettleWithin + time.Second)
		}
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatalf("batch %d: sweep: %v", b, err)
		}
		for _, c := range camps {
			pledged, backers, held := truth(t, s, c.setup.id)
			got, err := s.store.FindCampaign(ctx, c.setup.id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Pledged != pledged || got.BackersCount != backers {
				t.Fatalf("batch %d, campaign %s: totals %d/%d, pledges say %d/%d (seed %d)", b, c.setup.slug, got.Pledged, got.BackersCount, pledged, backers, seed)
			}
			tiers, err := s.store.FindTiers(ctx, c.setup.id)
			if err != nil {
				t.Fatal(err)
			}
			for _, tier := range tiers {
				for _, st := range tier.Stock {
					if tier.StockClaimed[st.ID] != held[st.ID] || held[st.ID] > st.Limit || tier.StockLeft[st.ID] != st.Limit-held[st.ID] {
						t.Fatalf("batch %d, tier %s size %v: claimed %d left %d, pledges hold %d of %d (seed %d)", b, tier.Title, st.Options,
							tier.StockClaimed[st.ID], tier.StockLeft[st.ID], held[st.ID], st.Limit, seed)
					}
				}
				if tier.Claimed != held[tier.ID] {
					t.Fatalf("batch %d, tier %s: claimed %d, pledges hold %d (seed %d)", b, tier.Title, tier.Claimed, held[tier.ID], seed)
				}
				if lim, ok := c.limits[tier.ID]; ok && (held[tier.ID] > lim || tier.Remaining == nil || *tier.Remaining != lim-held[tier.ID]) {
					t.Fatalf("batch %d, tier %s: %d held of %d, remaining %v (seed %d)", b, tier.Title, held[tier.ID], lim, tier.Remaining, seed)
				}
			}
		}
	}
	var expired int
	for _, c := range camps {
		err := s.store.FindCampaignPledges(ctx, c.setup.id, func(p pledge.Pledge) error {
			if p.Status == pledge.StatusExpired {
				expired++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if faults.Load() == 0 || expired == 0 || opsDone.Load() != batches*perBatch {
		t.Fatalf("ran %d operations with %d interruptions: %d expiries: the test proved nothing about healing", opsDone.Load(), faults.Load(), expired)
	}
	t.Logf("%d operations, %d refused or interrupted, %d interrupted after the pledge write, %d pledges, %d expired", opsDone.Load(), opsFailed.Load(), faults.Load(), len(pledges), expired)
}

// A pledge insert that the store applied but whose reply was lost fails the request (503, the
// key released). The pledge keeps the unit it claimed: giving it back would let another backer
// take it while the pledge still holds it. The client's retry with the same key and body gets
// that pledge: the same id, the token its confirmation links, the same Stripe objects, and
// its own claim given back. (Before, the retry was refused with idempotency_key_reused and the
// unit was given back under the stored pledge.)
func TestLostPledgeInsertReplyRetryGetsThePledge(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 2)
	failNext(s.app.Pledges(), pledge.AfterPledgeInsert, 1)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "lost-reply"); r.Status != 503 {
		t.Fatalf("pledge whose insert reply was lost: %d %s", r.Status, r.Body)
	}
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != 1 {
		t.Fatalf("%d pledges after the lost reply (%v), want the one inserted", n, err)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 1 {
		t.Fatalf("remaining %v after the lost reply, want 1 (the stored pledge holds its unit)", rem)
	}

	r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "lost-reply")
	if r.Status != 201 {
		t.Fatalf("retry after the lost reply: %d %s", r.Status, r.Body)
	}
	id, token := s.retryKeptItsPledge(r)
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 1 {
		t.Fatalf("remaining %v after the retry, want 1 (the retry's own claim given back)", rem)
	}
	again := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "lost-reply")
	if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(r.Body) {
		t.Fatalf("second retry: %d replayed=%q %s", again.Status, again.Header.Get("Idempotent-Replayed"), again.Body)
	}
	s.confirmationLinks(id, token)
}

// A pledge is written once, last: its unit is claimed and its Stripe objects made before the
// insert. A creation that dies just before the insert leaves no
// pledge, nothing charged and a unit claimed (never oversold). The client's retry with the same
// key gets the same Stripe objects back (their idempotency keys derive from the pledge id), a
// confirmation whose manage link is the token it was shown, and the repair's counter check gives
// the dead request's unit back once it has not moved for SettleWithin. Once the key's replay
// window has ended, the same request is refused and changes nothing.
func TestCrashBeforePledgeInsertLeavesNothingHalfMade(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_IDEMPOTENCY_TTL": "3s"})
	c := s.pledgeSetup("all_or_nothing", 2)
	failNext(s.app.Pledges(), pledge.BeforePledgeInsert, 1)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "crash-before-insert"); r.Status != 503 {
		t.Fatalf("pledge that died before its insert: %d %s", r.Status, r.Body)
	}
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != 0 {
		t.Fatalf("%d pledges after the crash (%v), want none", n, err)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 1 {
		t.Fatalf("remaining %v after the crash, want 1 (the dead request's unit stays claimed)", rem)
	}
	d := s.double()
	if len(d.Customers()) != 1 || len(d.SetupIntents()) != 1 || len(d.PaymentIntents()) != 0 {
		t.Fatalf("after the crash: %d customers, %d setup intents, %d payment intents; want 1, 1, 0",
			len(d.Customers()), len(d.SetupIntents()), len(d.PaymentIntents()))
	}

	r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "crash-before-insert")
	if r.Status != 201 {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	id, token := s.retryKeptItsPledge(r)
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 0 {
		t.Fatalf("remaining %v after the retry, want 0", rem)
	}

	s.clock.Advance(pledge.SettleWithin + time.Second)
	drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, true)
	if err != nil || !drift.Fixed {
		t.Fatalf("repair: %+v %v", drift, err)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 1 {
		t.Fatalf("remaining %v after the repair, want 1 (the dead request's unit back)", rem)
	}
	s.confirmationLinks(id, token)

	// The key's replay window ends: the same key and body again find the pledge (by the _id the
	// key derives) and are refused, the confirmation keeping the link the backer was given.
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "crash-before-insert"); r.Status != 422 || r.JSON(t)["code"] != "idempotency_key_reused" {
		t.Fatalf("same key and body after the key expired: %d %s", r.Status, r.Body)
	}
	if m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed"); err != nil || !strings.Contains(m.Data["manage_url"], "token="+token) {
		t.Fatalf("the refused request changed the confirmation: %q %v", m.Data["manage_url"], err)
	}
	if len(d.Customers()) != 1 || len(d.SetupIntents()) != 1 {
		t.Fatalf("the refused request made Stripe objects: %d customers, %d setup intents", len(d.Customers()), len(d.SetupIntents()))
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 1 {
		t.Fatalf("remaining %v after the refused request, want 1 (its claim given back)", rem)
	}
}

// retryKeptItsPledge checks the answer r to a retried pledge request whose first try got as far
// as Stripe: it carries the same customer and SetupIntent (its client secret) and its manage token
// works. It returns the pledge's id and token.
func (s *service) retryKeptItsPledge(r response) (id, token string) {
	s.t.Helper()
	t := s.t
	p := r.JSON(t)
	id, token = p["id"].(string), p["manage_token"].(string)
	s.secret(token)
	d := s.double()
	if len(d.Customers()) != 1 || len(d.SetupIntents()) != 1 {
		t.Fatalf("the retry made %d customers and %d setup intents, want the same 1 and 1", len(d.Customers()), len(d.SetupIntents()))
	}
	if secret, _ := p["client_secret"].(string); !strings.HasPrefix(secret, d.SetupIntents()[0].ID+"_secret") {
		t.Fatalf("the retry answered client secret %q, not its setup intent's", secret)
	}
	if got := s.manage("GET", id, token, nil); got.Status != 200 || got.JSON(t)["status"] != "pending" {
		t.Fatalf("the retry's token: %d %s", got.Status, got.Body)
	}
	return id, token
}

// confirmationLinks confirms a retried pledge and checks that its confirmation links the token
// the retry showed.
func (s *service) confirmationLinks(id, token string) {
	s.t.Helper()
	t := s.t
	if got := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); got.Status != 200 {
		t.Fatalf("confirm the retried pledge: %d %s", got.Status, got.Body)
	}
	s.waitWebhooks()
	m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if gotID, gotToken := manageToken(t, m.Data["manage_url"]); gotID != id || gotToken != token {
		t.Fatalf("the confirmation links %q, not the token the retry showed", m.Data["manage_url"])
	}
}
