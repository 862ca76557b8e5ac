//go:build !production

package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
)

// An Idempotency-Key that made a pledge stays that pledge's: after its replay window, neither
// another body nor the same one gets a token, a pledge or a unit from it (before the fix, both
// answered 201 with the victim's pledge and a new token, and the victim's own token stopped
// working). The pledge is the key's record, so the key never becomes free again: another body is
// refused rather than making a pledge, and keys are one per pledge anyway.
func TestExpiredIdempotencyKeyNeverTakesOverAPledge(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_IDEMPOTENCY_TTL": "3s"})
	c := s.pledgeSetup("all_or_nothing", 10)
	victim := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "K")
	if victim.Status != 201 {
		t.Fatalf("victim's pledge: %d %s", victim.Status, victim.Body)
	}
	v := victim.JSON(t)
	victimID, victimToken := v["id"].(string), v["manage_token"].(string)
	s.secret(victimToken)
	s.must(200, "POST", "/api/v1/pledges/"+victimID+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", victimToken)

	s.clock.Advance(6 * time.Second)
	attacker := coatPledge(c.coatTier, 33000)
	attacker["backer"] = map[string]any{"email": "mallory@example.com", "name": "Mallory"}
	r := s.pledge(c.slug, attacker, "K")
	if r.Status != 422 || r.JSON(t)["code"] != "idempotency_key_reused" {
		t.Fatalf("same key, another body, after expiry: %d %s", r.Status, r.Body)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("remaining %v after the refused body, want 9", rem)
	}

	// The victim's own body again after expiry: the pledge answered once, so no new token.
	r = s.pledge(c.slug, coatPledge(c.coatTier, 32000), "K")
	if r.Status != 422 || r.JSON(t)["code"] != "idempotency_key_reused" {
		t.Fatalf("same key and body after expiry: %d %s", r.Status, r.Body)
	}
	got := s.manage("GET", victimID, victimToken, nil)
	if got.Status != 200 || got.JSON(t)["status"] != "active" {
		t.Fatalf("victim's token after the attempts: %d %s", got.Status, got.Body)
	}
	if len(s.double().Customers()) != 1 {
		t.Fatalf("%d customers, want the victim's only", len(s.double().Customers()))
	}
}

// One key and body sent on three spellings of one campaign's pledge path make one pledge: keys are
// scoped by the route and the campaign it resolves to, and another case is another (missing) path.
func TestIdempotencyKeyCoversEverySpellingOfThePath(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	body := coatPledge(c.coatTier, 32000)
	byID := s.call("POST", "/api/v1/campaigns/"+c.id+"/pledges", "", body, "Idempotency-Key", "one-key")
	if byID.Status != 201 {
		t.Fatalf("by id: %d %s", byID.Status, byID.Body)
	}
	s.secret(byID.JSON(t)["manage_token"].(string))
	bySlug := s.call("POST", "/api/v1/campaigns/"+c.slug+"/pledges", "", body, "Idempotency-Key", "one-key")
	if bySlug.Status != 201 || bySlug.Header.Get("Idempotent-Replayed") != "true" || string(bySlug.Body) != string(byID.Body) {
		t.Fatalf("by slug: %d replayed=%q %s", bySlug.Status, bySlug.Header.Get("Idempotent-Replayed"), bySlug.Body)
	}
	for _, path := range []string{
		"/API/V1/CAMPAIGNS/" + c.id + "/pledges",
		"/api/v1/Campaigns/" + c.id + "/pledges",
		"/api/v1/campaigns/" + c.id + "/PLEDGES",
	} {
		r := s.call("POST", path, "", body, "Idempotency-Key", "one-key")
		if r.Status != 404 || r.JSON(t)["code"] != "not_found" {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("one key made %v pledges", 10-rem)
	}
	if n := len(s.double().Customers()); n != 1 {
		t.Fatalf("one key made %d customers", n)
	}
}

// A pledge is its key's record: a retry with the same key and body is answered from the pledge
// (the same answer, stock taken once, Stripe not asked again), also once the tier is sold out,
// and the same key with another body is refused before a unit is claimed or Stripe is asked
// anything with the pledge's keys (which would reach Stripe with other parameters under them).
func TestPledgeKeyIsAnsweredByItsPledgeAndTakesNothingMore(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 2)
	d := s.double()
	first := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "K")
	if first.Status != 201 {
		t.Fatalf("pledge: %d %s", first.Status, first.Body)
	}
	id, token := first.JSON(t)["id"].(string), first.JSON(t)["manage_token"].(string)
	s.secret(token)
	other := coatPledge(c.coatTier, 33000)
	other["backer"] = map[string]any{"email": "mallory@example.com", "name": "Mallory"}
	s.secret("mallory@example.com")
	check := func(when string, remaining float64) {
		t.Helper()
		sent := len(d.Requests())
		r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "K")
		if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "true" || string(r.Body) != string(first.Body) {
			t.Fatalf("%s, retry: %d replayed=%q %s", when, r.Status, r.Header.Get("Idempotent-Replayed"), r.Body)
		}
		r = s.pledge(c.slug, other, "K")
		if r.Status != 422 || r.JSON(t)["code"] != "idempotency_key_reused" {
			t.Fatalf("%s, same key with another body: %d %s", when, r.Status, r.Body)
		}
		if rem := s.tierRemaining(c.slug, c.coatTier); rem != remaining {
			t.Fatalf("%s: remaining %v, want %v", when, rem, remaining)
		}
		if n := len(d.Requests()) - sent; n != 0 {
			t.Fatalf("%s: the retry and the refused body sent %d Stripe requests, want none", when, n)
		}
		if p, err := s.store.FindPledge(context.Background(), id); err != nil || p.Backer.Email == "mallory@example.com" || p.Amount.Amount != 32000 {
			t.Fatalf("%s: the pledge changed: %+v %v", when, p.Backer, err)
		}
	}
	check("with a unit left", 1)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "L"); r.Status != 201 {
		t.Fatalf("the last unit: %d %s", r.Status, r.Body)
	} else {
		s.secret(r.JSON(t)["manage_token"].(string))
	}
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "M"); r.Status != 409 || r.JSON(t)["code"] != "sold_out" {
		t.Fatalf("a new key on the sold-out tier: %d %s", r.Status, r.Body)
	}
	check("sold out", 0)
	if n := len(d.Customers()); n != 2 {
		t.Fatalf("%d customers, want 2", n)
	}
	s.confirmedLinks(id, token, "backer@example.com")
}

// confirmedLinks confirms the pending pledge id and checks that its confirmation goes to email
// and links token, the one its answers showed.
func (s *service) confirmedLinks(id, token, email string) {
	s.t.Helper()
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
		s.t.Fatalf("confirm %s: %d %s", id, r.Status, r.Body)
	}
	s.waitWebhooks()
	m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil || !strings.Contains(m.Data["manage_url"], "token="+token) || !strings.EqualFold(m.To, email) {
		s.t.Fatalf("the confirmation of %s: to %q, %q, %v; want %s and the token its answers showed", id, m.To, m.Data["manage_url"], err, email)
	}
}

// Two runs of one key and body at once (a double click, a client retrying before its first
// attempt answered) both get past the pledge's lookup, claim a unit and make the same Stripe
// objects; the unique _id takes one insert. The other run, its own insert refused, gives its unit
// back and answers with the pledge that won, with its token, which its confirmation links.
// A barrier before the insert makes every round race.
func TestTwinPledgeRequestsMakeOnePledge(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	var mu sync.Mutex
	var arrive, release chan struct{}
	s.app.Pledges().SetFaultHook(func(at pledge.FaultPoint) error {
		if at != pledge.BeforePledgeInsert {
			return nil
		}
		mu.Lock()
		a, r := arrive, release
		mu.Unlock()
		a <- struct{}{}
		<-r
		return nil
	})
	const rounds = 4
	for round := range rounds {
		mu.Lock()
		arrive, release = make(chan struct{}, 2), make(chan struct{})
		a, rel := arrive, release
		mu.Unlock()
		key := fmt.Sprint("twin-", round)
		var answers [2]response
		var wg sync.WaitGroup
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = s.pledge(c.slug, coatPledge(c.coatTier, 32000), key)
			}()
		}
		for range 2 {
			select {
			case <-a:
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: both runs did not reach the insert", round)
			}
		}
		close(rel)
		wg.Wait()
		if answers[0].Status != 201 || answers[1].Status != 201 {
			t.Fatalf("round %d: %d %s / %d %s", round, answers[0].Status, answers[0].Body, answers[1].Status, answers[1].Body)
		}
		p0, p1 := answers[0].JSON(t), answers[1].JSON(t)
		id, token := p0["id"].(string), p0["manage_token"].(string)
		s.secret(token)
		if p1["id"] != id || p1["manage_token"] != token {
			t.Fatalf("round %d: twins answered pledges %v and %v", round, id, p1["id"])
		}
		if replayed := answers[0].Header.Get("Idempotent-Replayed") + answers[1].Header.Get("Idempotent-Replayed"); replayed != "true" {
			t.Fatalf("round %d: Idempotent-Replayed %q, want exactly one", round, replayed)
		}
		if rem := s.tierRemaining(c.slug, c.coatTier); rem != float64(10-round-1) {
			t.Fatalf("round %d: remaining %v, want %d (the loser's unit given back once)", round, rem, 10-round-1)
		}
		if got := s.manage("GET", id, token, nil); got.Status != 200 {
			t.Fatalf("round %d: the token: %d", round, got.Status)
		}
		s.confirmedLinks(id, token, "backer@example.com")
	}
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != rounds {
		t.Fatalf("%d pledges (%v), want %d", n, err, rounds)
	}
	if n := len(s.double().Customers()); n != rounds {
		t.Fatalf("%d customers, want %d", n, rounds)
	}
}

// A retry of a pledge is answered from the pledge without counting against the address's pledge
// rate: it makes nothing, and a backer whose first reply was lost gets her pledge, not a 429.
func TestPledgeRetryIsNotRateLimited(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1", "BACKSTITCH_PLEDGE_WINDOW": "10m"})
	c := s.pledgeSetup("all_or_nothing", 10)
	first := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "first")
	if first.Status != 201 {
		t.Fatalf("first pledge: %d %s", first.Status, first.Body)
	}
	s.secret(first.JSON(t)["manage_token"].(string))
	for range 2 {
		if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "first"); r.Status != 201 || string(r.Body) != string(first.Body) {
			t.Fatalf("retry: %d %s", r.Status, r.Body)
		}
	}
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "second"); r.Status != 429 {
		t.Fatalf("a new pledge in the window: %d %s", r.Status, r.Body)
	}
}
