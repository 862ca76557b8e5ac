//go:build !production

package app_test

import (
	"testing"
	"time"
)

// An Idempotency-Key whose record expired is only a key: reusing it with another body makes a new
// pledge, and reusing it with the same body is refused. Neither hands out a token for the pledge
// the key made first (before the fix, both answered 201 with the victim's pledge and a new token,
// and the victim's own token stopped working).
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
	s.secret("mallory@example.com")
	r := s.pledge(c.slug, attacker, "K")
	if r.Status != 201 {
		t.Fatalf("same key, another body, after expiry: %d %s", r.Status, r.Body)
	}
	other := r.JSON(t)
	s.secret(other["manage_token"].(string))
	if other["id"] == victimID {
		t.Fatalf("the expired key handed the victim's pledge %s to another request", victimID)
	}
	if got := s.manage("GET", victimID, other["manage_token"].(string), nil); got.Status != 404 {
		t.Fatalf("the new token opens the victim's pledge: %d", got.Status)
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
	if len(s.double().Customers()) != 2 {
		t.Fatalf("%d customers, want 2 (victim and the new pledge)", len(s.double().Customers()))
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
