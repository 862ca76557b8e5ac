//go:build !production

package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// TestReadmeWalkthrough is the README's curl walkthrough, step by step, against a real listener:
// sign up, log in, create a campaign with three tiers (one limited, one an experience that does
// not ship), submit, approve as admin, launch, and find it in the public list.
func TestReadmeWalkthrough(t *testing.T) {
	s := startService(t, nil)

	s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": "ana@atelier-ana.ch", "password": "deadstock-linen-2026", "name": "Atelier Ana"})
	s.secret("ana@atelier-ana.ch")
	s.secret("deadstock-linen-2026")
	token := s.login("ana@atelier-ana.ch", "deadstock-linen-2026")

	c := s.must(201, "POST", "/api/v1/campaigns", token, map[string]any{
		"title": "Zero-waste linen coat", "blurb": "A coat cut from deadstock linen, nothing wasted.",
		"story": "Every panel comes from fabric Swiss mills could not sell.",
		"goal":  map[string]any{"amount": 1500000, "currency": "CHF"}, "funding_model": "all_or_nothing",
		"deadline": "2026-12-20", "timezone": "Europe/Zurich",
	})
	id := c["id"].(string)
	if c["status"] != "draft" || c["slug"] != "zero-waste-linen-coat" || c["deadline"] != "2026-12-20T22:59:59Z" {
		t.Fatalf("created campaign: %v", c)
	}
	limited := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", token, map[string]any{
		"title": "The coat, first edition", "description": "Numbered, one of 50.", "kind": "physical",
		"price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 50, "estimated_delivery": "2027-03"})
	workshop := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", token, map[string]any{
		"title": "Mending workshop in Zürich", "kind": "experience", "ships": false,
		"price": map[string]any{"amount": 9000, "currency": "CHF"}, "limit": 12})
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", token, map[string]any{
		"title": "Pattern download", "kind": "digital", "price": map[string]any{"amount": 2500, "currency": "CHF"}})
	if limited["remaining"] != float64(50) || limited["ships"] != true || workshop["ships"] != false {
		t.Fatalf("tiers: %v / %v", limited, workshop)
	}

	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", token, nil)
	admin := s.admin()
	queue := s.must(200, "GET", "/api/v1/admin/campaigns?status=in_review", admin, nil)
	if d := queue["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != id {
		t.Fatalf("review queue: %v", queue)
	}
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	live := s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", token, nil)
	if live["status"] != "live" || live["launched_at"] == nil {
		t.Fatalf("launched: %v", live)
	}

	list := s.must(200, "GET", "/api/v1/campaigns", "", nil)
	data := list["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["slug"] != "zero-waste-linen-coat" {
		t.Fatalf("public list: %v", list)
	}
	page := s.must(200, "GET", "/api/v1/campaigns/zero-waste-linen-coat", "", nil)
	tiers := page["tiers"].([]any)
	if len(tiers) != 3 || page["timezone"] != "Europe/Zurich" || page["backers_count"] != float64(0) ||
		page["pledged"].(map[string]any)["amount"] != float64(0) {
		t.Fatalf("public page: %v", page)
	}
	first := tiers[0].(map[string]any)
	if first["remaining"] != float64(50) || first["limit"] != float64(50) {
		t.Fatalf("limited tier shows %v", first)
	}
	if _, has := tiers[2].(map[string]any)["remaining"]; has {
		t.Fatalf("unlimited tier shows remaining: %v", tiers[2])
	}
	if _, has := page["history"]; has {
		t.Fatal("the public sees the campaign's history")
	}
	owner := s.must(200, "GET", "/api/v1/campaigns/"+id, token, nil)
	if h := owner["history"].([]any); len(h) != 3 {
		t.Fatalf("history %v, want draft→in_review→approved→live", h)
	}

	audit, err := s.store.FindAudit(context.Background(), backstitch.AuditFilter{Limit: 10})
	if err != nil || len(audit) != 1 || audit[0].Action != "campaign.approve" || audit[0].Target != id {
		t.Fatalf("audit log: %+v %v", audit, err)
	}

	s.must(204, "DELETE", "/api/v1/sessions/current", token, nil)
	r := s.call("GET", "/api/v1/me", token, nil)
	if r.Status != 401 || !strings.Contains(string(r.Body), "unauthenticated") {
		t.Fatalf("token after logout: %d %s", r.Status, r.Body)
	}
}
