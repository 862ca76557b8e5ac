//go:build !production

package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// listedPledged is what the public list's first page says campaign id has pledged.
func (s *service) listedPledged(id string) float64 {
	s.t.Helper()
	for _, c := range s.must(200, "GET", "/api/v1/campaigns", "", nil)["data"].([]any) {
		if m := c.(map[string]any); m["id"] == id {
			return m["pledged"].(map[string]any)["amount"].(float64)
		}
	}
	s.t.Fatalf("campaign %s not in the public list", id)
	return 0
}

// A pledge is in the public JSON and list at once on the instance that took it, and within
// BACKSTITCH_PUBLIC_CACHE_TTL on the other one (which serves its cached copy until then).
func TestPublicReadsFollowPledgesOnBothInstances(t *testing.T) {
	env := map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_PUBLIC_CACHE_TTL": "2s",
		"BACKSTITCH_SETTLE_INTERVAL": "24h", "BACKSTITCH_SWEEP_INTERVAL": "24h"}
	a := startService(t, env)
	b := a.secondInstance(env)
	c := a.pledgeSetup("flexible", 10)
	for _, s := range []*service{a, b} {
		if rem := s.tierRemaining(c.slug, c.coatTier); rem != 10 {
			t.Fatalf("remaining %v before any pledge", rem)
		}
		if p := s.listedPledged(c.id); p != 0 {
			t.Fatalf("listed pledged %v before any pledge", p)
		}
	}

	// Taken and paid on a: a shows it at once.
	r := a.pledge(c.slug, coatPledge(c.coatTier, 32000), "cache-1")
	if r.Status != 201 {
		t.Fatalf("pledge: %d %s", r.Status, r.Body)
	}
	p := r.JSON(t)
	a.secret(p["manage_token"].(string))
	if rem := a.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("remaining on the instance that took the pledge: %v, want 9 at once", rem)
	}
	// The payment's events wait, so "at once" is the request's own doing: a payment event
	// arriving first made the change itself, and the request answered before that change had
	// reached the totals.
	hold := a.double().HoldEvents(t)
	if got := a.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"}); got.Status != 200 {
		t.Fatalf("confirm: %d %s", got.Status, got.Body)
	}
	if pledged, backers := a.campaignTotals(c.slug); pledged != 32000 || backers != 1 {
		t.Fatalf("totals on the writing instance: %v / %v, want 32000 / 1 at once", pledged, backers)
	}
	if got := a.listedPledged(c.id); got != 32000 {
		t.Fatalf("listed on the writing instance: %v", got)
	}
	// Arriving late, they count nothing twice.
	a.deliverHeld(hold)
	if pledged, backers := a.campaignTotals(c.slug); pledged != 32000 || backers != 1 {
		t.Fatalf("totals after the late payment events: %v / %v, want 32000 / 1", pledged, backers)
	}

	// b serves what it rendered until the TTL has passed since it read the store, then the truth.
	if rem := b.tierRemaining(c.slug, c.coatTier); rem != 10 {
		t.Fatalf("remaining on the other instance within the TTL: %v (is it cached at all?)", rem)
	}
	a.clock.Advance(2 * time.Second)
	if rem := b.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("remaining on the other instance after the TTL: %v, want 9", rem)
	}
	if pledged, backers := b.campaignTotals(c.slug); pledged != 32000 || backers != 1 {
		t.Fatalf("totals on the other instance after the TTL: %v / %v", pledged, backers)
	}
	if got := b.listedPledged(c.id); got != 32000 {
		t.Fatalf("listed on the other instance after the TTL: %v", got)
	}

	// The other way round: a pledge on b is at once on b, after the TTL on a.
	a.waitWebhooks()
	if rem := a.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("remaining on a: %v", rem)
	}
	r = b.pledge(c.slug, coatPledge(c.coatTier, 33000), "cache-2")
	if r.Status != 201 {
		t.Fatalf("pledge on b: %d %s", r.Status, r.Body)
	}
	a.secret(r.JSON(t)["manage_token"].(string))
	if rem := b.tierRemaining(c.slug, c.coatTier); rem != 8 {
		t.Fatalf("remaining on b after its own pledge: %v, want 8", rem)
	}
	if rem := a.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("remaining on a within the TTL: %v (is it cached at all?)", rem)
	}
	a.clock.Advance(2 * time.Second)
	if rem := a.tierRemaining(c.slug, c.coatTier); rem != 8 {
		t.Fatalf("remaining on a after the TTL: %v, want 8", rem)
	}
}

// Edits, tier edits and a cancellation are in the public JSON at once; ETags follow the bytes;
// drafts and the private view never come from the public cache.
func TestPublicCacheFollowsEditsAndKeepsPrivateViewsOut(t *testing.T) {
	s := startService(t, nil)
	owner, _ := s.designer("Cache")
	admin := s.admin()
	id, slug := s.liveCampaign(owner, admin, "Cached linen coat")
	path := "/api/v1/campaigns/" + slug

	first := s.call("GET", path, "", nil)
	etag := first.Header.Get("ETag")
	if first.Status != 200 || etag == "" || first.Header.Get("Cache-Control") != "public, max-age=2" || first.Header.Get("Vary") != "Authorization" {
		t.Fatalf("public read: %d, headers %v", first.Status, first.Header)
	}
	if _, ok := first.JSON(t)["history"]; ok {
		t.Fatal("the public view shows history")
	}
	notModified := s.call("GET", path, "", nil, "If-None-Match", `"other", `+etag)
	if notModified.Status != 304 || len(notModified.Body) != 0 || notModified.Header.Get("ETag") != etag {
		t.Fatalf("revalidation: %d %q, etag %q", notModified.Status, notModified.Body, notModified.Header.Get("ETag"))
	}
	if r := s.call("GET", path, "", nil, "If-None-Match", `"other"`); r.Status != 200 || len(r.Body) == 0 {
		t.Fatalf("revalidation with another tag: %d", r.Status)
	}

	// The owner and admins see history: never the cached public bytes, never cacheable.
	for _, token := range []string{owner, admin} {
		r := s.call("GET", path, token, nil)
		if _, ok := r.JSON(t)["history"]; r.Status != 200 || !ok || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("private read after a cached public one: %d, history %v, Cache-Control %q", r.Status, ok, r.Header.Get("Cache-Control"))
		}
	}

	// A campaign edit.
	s.must(200, "PATCH", "/api/v1/campaigns/"+id, owner, map[string]any{"blurb": "Now with hand-sewn buttonholes."})
	edited := s.call("GET", path, "", nil, "If-None-Match", etag)
	if edited.Status != 200 || edited.JSON(t)["blurb"] != "Now with hand-sewn buttonholes." || edited.Header.Get("ETag") == etag {
		t.Fatalf("after an edit: %d %s, etag %q", edited.Status, edited.Body, edited.Header.Get("ETag"))
	}
	if byID := s.must(200, "GET", "/api/v1/campaigns/"+id, "", nil); byID["blurb"] != "Now with hand-sewn buttonholes." {
		t.Fatalf("by id after an edit: %v", byID["blurb"])
	}

	// A tier edit.
	tier := edited.JSON(t)["tiers"].([]any)[0].(map[string]any)["id"].(string)
	s.must(200, "PATCH", "/api/v1/campaigns/"+id+"/tiers/"+tier, owner, map[string]any{"description": "Lined with offcuts."})
	if got := s.must(200, "GET", path, "", nil)["tiers"].([]any)[0].(map[string]any)["description"]; got != "Lined with offcuts." {
		t.Fatalf("tier after an edit: %v", got)
	}

	// A date added to an experience tier, then cancelled.
	workshop := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Workshop", "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}})["id"].(string)
	sessions := func() []any {
		for _, t := range s.must(200, "GET", path, "", nil)["tiers"].([]any) {
			if m := t.(map[string]any); m["id"] == workshop {
				got, _ := m["sessions"].([]any)
				return got
			}
		}
		t.Fatal("the new tier is not in the public view")
		return nil
	}
	if got := sessions(); len(got) != 0 {
		t.Fatalf("sessions before any: %v", got)
	}
	session := s.addSession(pledgeSetup{id: id, owner: owner}, workshop, 10*24*time.Hour, 8)
	if got := sessions(); len(got) != 1 {
		t.Fatalf("sessions after adding one: %v", got)
	}
	before := fmt.Sprint(sessions())
	s.must(200, "DELETE", "/api/v1/campaigns/"+id+"/tiers/"+workshop+"/sessions/"+session, owner, nil)
	if after := fmt.Sprint(sessions()); after == before {
		t.Fatalf("a cancelled date unchanged in the public view: %s", after)
	}

	// A draft is 404 to the public, even right after a cached read of a live campaign.
	draft := s.must(201, "POST", "/api/v1/campaigns", owner, s.campaignBody("Secret draft"))
	s.must(200, "GET", path, "", nil)
	for _, ref := range []string{draft["slug"].(string), draft["id"].(string)} {
		if r := s.call("GET", "/api/v1/campaigns/"+ref, "", nil); r.Status != 404 {
			t.Fatalf("draft %s: %d %s", ref, r.Status, r.Body)
		}
	}
	if r := s.call("GET", "/api/v1/campaigns/"+draft["slug"].(string), owner, nil); r.Status != 200 {
		t.Fatalf("the owner's draft: %d", r.Status)
	}

	// A cancellation.
	s.must(200, "GET", "/api/v1/campaigns", "", nil)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/cancel", owner, map[string]any{"reason": "The mill closed."})
	if got := s.must(200, "GET", path, "", nil)["status"]; got != "cancelled" {
		t.Fatalf("status after a cancellation: %v", got)
	}
	for _, c := range s.must(200, "GET", "/api/v1/campaigns", "", nil)["data"].([]any) {
		if c.(map[string]any)["id"] == id {
			t.Fatal("a cancelled campaign is still in the list of live ones")
		}
	}
}

// A settlement decision is in the public JSON at once, even with a TTL long enough that only the
// settler's invalidation can refresh it.
func TestPublicCacheFollowsTheSettlementDecision(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PUBLIC_CACHE_TTL": "2400h"})
	owner, _ := s.designer("Outcome")
	_, slug := s.liveCampaign(owner, s.admin(), "Coat nobody backed")
	s.clock.Advance(31 * 24 * time.Hour)
	if got := s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)["status"]; got != "live" {
		t.Fatalf("status past the deadline before settling: %v", got)
	}
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)["status"]; got != "failed" {
		t.Fatalf("status after settling: %v, want failed at once", got)
	}
}
