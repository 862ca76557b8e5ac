//go:build !production

package app_test

import (
	"context"
	"strings"
	"testing"
)

// Every bad input gets a 4xx problem naming the field, and nothing is stored.
func TestBadCampaignInputLeavesNoTrace(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_BODY_LIMIT": "4096"})
	tok, _ := s.designer("Vera")
	valid := func(change map[string]any) map[string]any {
		b := s.campaignBody("Coat")
		for k, v := range change {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
		code   string
	}{
		{"zero goal", valid(map[string]any{"goal": map[string]any{"amount": 0, "currency": "CHF"}}), 422, "goal.amount", "too_small"},
		{"negative goal", valid(map[string]any{"goal": map[string]any{"amount": -100, "currency": "CHF"}}), 422, "goal.amount", "too_small"},
		{"fractional goal", valid(map[string]any{"goal": map[string]any{"amount": 10.5, "currency": "CHF"}}), 422, "goal.amount", "invalid_type"},
		{"goal as a string", valid(map[string]any{"goal": "1500 CHF"}), 422, "goal", "invalid_type"},
		{"unknown currency", valid(map[string]any{"goal": map[string]any{"amount": 5000, "currency": "XAU"}}), 422, "goal.currency", "unsupported_currency"},
		{"below JPY minimum", valid(map[string]any{"goal": map[string]any{"amount": 49, "currency": "JPY"}}), 422, "goal.amount", "too_small"},
		{"missing title", valid(map[string]any{"title": nil}), 422, "title", "required"},
		{"title too long", valid(map[string]any{"title": strings.Repeat("a", 121)}), 422, "title", "too_long"},
		{"bad funding model", valid(map[string]any{"funding_model": "yolo"}), 422, "funding_model", "invalid"},
		{"bad zone", valid(map[string]any{"timezone": "Mars/Olympus"}), 422, "timezone", "invalid"},
		{"deadline too soon", valid(map[string]any{"deadline": "2026-11-02T12:00:00Z"}), 422, "deadline", "too_soon"},
		{"deadline too late", valid(map[string]any{"deadline": "2027-06-01"}), 422, "deadline", "too_late"},
		{"deadline not a date", valid(map[string]any{"deadline": "Christmas"}), 422, "deadline", "invalid"},
		{"mass assignment: status", valid(map[string]any{"status": "live"}), 422, "status", "unknown_field"},
		{"mass assignment: owner", valid(map[string]any{"designer_id": "usr_x"}), 422, "designer_id", "unknown_field"},
		{"mass assignment: totals", valid(map[string]any{"pledged": 1000000}), 422, "pledged", "unknown_field"},
		{"malformed JSON", `{"title": "Coat",`, 400, "", "malformed_request"},
		{"two objects", `{"title": "Coat"} {"title": "Coat"}`, 400, "", "malformed_request"},
		{"array body", `[1,2]`, 400, "", "malformed_request"},
		{"empty body", ``, 400, "", "malformed_request"},
		{"oversized body", `{"story": "` + strings.Repeat("x", 5000) + `"}`, 413, "", "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call("POST", "/api/v1/campaigns", tok, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			p := r.JSON(t)
			if tc.field != "" && r.fieldCode(t, tc.field) != tc.code {
				t.Fatalf("field %s: code %q, want %q: %s", tc.field, r.fieldCode(t, tc.field), tc.code, r.Body)
			}
			if tc.field == "" && p["code"] != tc.code {
				t.Fatalf("code %v, want %s", p["code"], tc.code)
			}
			if p["status"] != float64(tc.status) || p["title"] == "" || p["detail"] == "" {
				t.Fatalf("problem document incomplete: %s", r.Body)
			}
		})
	}
	mine := s.must(200, "GET", "/api/v1/designers/me/campaigns", tok, nil)
	if n := len(mine["data"].([]any)); n != 0 {
		t.Fatalf("bad requests stored %d campaigns", n)
	}
	r := s.call("POST", "/api/v1/campaigns", tok, `{"title":"x"}`, "Content-Type", "text/plain")
	if r.Status != 415 {
		t.Fatalf("text/plain body → %d, want 415", r.Status)
	}
}

func TestBadTierInputLeavesNoTrace(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Mira")
	id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Wool"))["id"].(string)
	price := map[string]any{"amount": 5000, "currency": "CHF"}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
		code  string
	}{
		{"zero price", map[string]any{"title": "t", "kind": "physical", "price": map[string]any{"amount": 0, "currency": "CHF"}}, "price.amount", "too_small"},
		{"other currency", map[string]any{"title": "t", "kind": "physical", "price": map[string]any{"amount": 5000, "currency": "EUR"}}, "price.currency", "currency_mismatch"},
		{"limit zero", map[string]any{"title": "t", "kind": "physical", "price": price, "limit": 0}, "limit", "too_small"},
		{"unknown kind", map[string]any{"title": "t", "kind": "hug", "price": price}, "kind", "invalid"},
		{"experience that ships", map[string]any{"title": "t", "kind": "experience", "ships": true, "price": price}, "ships", "invalid"},
		{"bad delivery month", map[string]any{"title": "t", "kind": "physical", "price": price, "estimated_delivery": "spring"}, "estimated_delivery", "invalid"},
		{"past delivery month", map[string]any{"title": "t", "kind": "physical", "price": price, "estimated_delivery": "2025-01"}, "estimated_delivery", "in_past"},
		{"missing title", map[string]any{"kind": "physical", "price": price}, "title", "required"},
		{"claimed set by client", map[string]any{"title": "t", "kind": "physical", "price": price, "remaining": 5}, "remaining", "unknown_field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call("POST", "/api/v1/campaigns/"+id+"/tiers", tok, tc.body)
			if r.Status != 422 || r.fieldCode(t, tc.field) != tc.code {
				t.Fatalf("→ %d, field %s code %q; want 422 %s: %s", r.Status, tc.field, r.fieldCode(t, tc.field), tc.code, r.Body)
			}
		})
	}
	if tiers := s.must(200, "GET", "/api/v1/campaigns/"+id, tok, nil)["tiers"].([]any); len(tiers) != 0 {
		t.Fatalf("bad requests stored %d tiers", len(tiers))
	}
}

// After launch: goal, currency, model and deadline are locked; tiers can be added; a tier with
// backers cannot be deleted or repriced, and its limit cannot drop below what is claimed.
func TestLiveCampaignLocks(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Lea")
	admin := s.admin()
	id, _ := s.liveCampaign(tok, admin, "Hemp jacket")
	r := s.call("PATCH", "/api/v1/campaigns/"+id, tok, map[string]any{"goal": map[string]any{"amount": 100, "currency": "EUR"}, "deadline": "2026-12-31"})
	if r.Status != 409 || r.JSON(t)["code"] != "campaign_locked" || r.fieldCode(t, "goal") != "locked" || r.fieldCode(t, "deadline") != "locked" {
		t.Fatalf("locked fields: %d %s", r.Status, r.Body)
	}
	c := s.must(200, "PATCH", "/api/v1/campaigns/"+id, tok, map[string]any{"story": "Update: the hemp arrived."})
	if c["story"] != "Update: the hemp arrived." || c["goal"].(map[string]any)["amount"] != float64(1500000) {
		t.Fatalf("story edit: %v", c)
	}
	tier := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", tok, map[string]any{
		"title": "Coaching call", "kind": "experience", "price": map[string]any{"amount": 15000, "currency": "CHF"}, "limit": 5})
	tierID := tier["id"].(string)
	for range 3 {
		if err := s.store.ClaimTierUnit(context.Background(), tierID, s.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	path := "/api/v1/campaigns/" + id + "/tiers/" + tierID
	if r := s.call("PATCH", path, tok, map[string]any{"price": map[string]any{"amount": 9000, "currency": "CHF"}}); r.Status != 409 || r.JSON(t)["code"] != "tier_has_backers" {
		t.Fatalf("reprice with backers: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", path, tok, map[string]any{"limit": 2}); r.Status != 422 || r.fieldCode(t, "limit") != "below_claimed" {
		t.Fatalf("limit below claimed: %d %s", r.Status, r.Body)
	}
	if r := s.call("DELETE", path, tok, nil); r.Status != 409 || r.JSON(t)["code"] != "tier_has_backers" {
		t.Fatalf("delete with backers: %d %s", r.Status, r.Body)
	}
	if got := s.must(200, "PATCH", path, tok, map[string]any{"limit": 8}); got["remaining"] != float64(5) || got["backers_count"] != float64(3) {
		t.Fatalf("raised limit: %v", got)
	}
	if r := s.call("POST", "/api/v1/campaigns/"+id+"/submit", tok, nil); r.Status != 409 || r.JSON(t)["code"] != "invalid_state" {
		t.Fatalf("resubmit a live campaign: %d %s", r.Status, r.Body)
	}
}

// Changing a campaign after submission sends it back to review, so admins never approve one text
// and publish another.
func TestEditAfterApprovalNeedsReviewAgain(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Ines")
	admin := s.admin()
	id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Silk"))["id"].(string)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", tok, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", tok, map[string]any{
		"title": "Scarf", "kind": "physical", "price": map[string]any{"amount": 6000, "currency": "CHF"}})
	c := s.must(200, "GET", "/api/v1/campaigns/"+id, tok, nil)
	if c["status"] != "draft" {
		t.Fatalf("status after adding a tier to an approved campaign: %v", c["status"])
	}
	if r := s.call("POST", "/api/v1/campaigns/"+id+"/launch", tok, nil); r.Status != 409 {
		t.Fatalf("launched without a new review: %d", r.Status)
	}
	r := s.call("POST", "/api/v1/admin/campaigns/"+id+"/reject", admin, map[string]any{"reason": "x"})
	if r.Status != 409 {
		t.Fatalf("rejecting a draft: %d %s", r.Status, r.Body)
	}
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", tok, nil)
	rej := s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/reject", admin, map[string]any{"reason": "Show the scarf's label."})
	if rej["status"] != "draft" || rej["rejection_reason"] != "Show the scarf's label." {
		t.Fatalf("rejected: %v", rej)
	}
	if r := s.call("POST", "/api/v1/admin/campaigns/"+id+"/reject", admin, map[string]any{}); r.Status != 409 {
		t.Fatalf("reject of a draft: %d", r.Status)
	}
}
