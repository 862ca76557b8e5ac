//go:build !production

package app_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Rules that must hold across instances, tested with two instances on one store: an idempotency
// key, the login limit and a limited tier's units.
func TestRulesHoldAcrossTwoInstances(t *testing.T) {
	env := map[string]string{"BACKSTITCH_LOGIN_LIMIT_PER_ACCOUNT": "4", "BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "100000",
		"BACKSTITCH_SETTLE_INTERVAL": "24h", "BACKSTITCH_SWEEP_INTERVAL": "24h"}
	a := startService(t, env)
	b := a.secondInstance(env)
	instances := []*service{a, b}

	// One Idempotency-Key sent to both instances at once: one campaign.
	tok, _ := a.designer("Twin")
	body := a.campaignBody("Twin coat")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r := instances[i%2].call("POST", "/api/v1/campaigns", tok, body, "Idempotency-Key", "twin")
			if r.Status != 201 && r.Status != 409 {
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	if n := len(b.must(200, "GET", "/api/v1/designers/me/campaigns", tok, nil)["data"].([]any)); n != 1 {
		t.Fatalf("%d campaigns from one key across two instances", n)
	}

	// The login limit counts attempts on both instances.
	a.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": "twin@loom.example", "password": "two instances, one limit", "name": "Twin"})
	a.secret("twin@loom.example")
	for i := range 4 {
		if r := instances[i%2].call("POST", "/api/v1/sessions", "", map[string]string{"email": "twin@loom.example", "password": "wrong guess"}); r.Status != 401 {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	if r := b.call("POST", "/api/v1/sessions", "", map[string]string{"email": "twin@loom.example", "password": "two instances, one limit"}); r.Status != 429 {
		t.Fatalf("fifth attempt on the other instance: %d", r.Status)
	}

	// 200 pledges for 50 units, spread over both instances: exactly 50.
	c := a.pledgeSetup("all_or_nothing", 50)
	var created atomic.Int64
	for i := range 200 {
		wg.Go(func() {
			r := instances[i%2].pledge(c.slug, coatPledge(c.coatTier, 32000), fmt.Sprint("twin-", i))
			switch r.Status {
			case 201:
				created.Add(1)
			case 409:
			default:
				t.Errorf("pledge: %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	if created.Load() != 50 || a.tierRemaining(c.slug, c.coatTier) != 0 {
		t.Fatalf("created %d, remaining %v; want 50 and 0", created.Load(), a.tierRemaining(c.slug, c.coatTier))
	}
}
