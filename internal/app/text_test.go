//go:build !production

package app_test

import (
	"net/url"
	"testing"
	"time"
)

// Text that deceives (zero-width or combining-only titles, controls, line breaks, bidi
// overrides) is refused over HTTP with a 422 naming the field, for campaigns, designers and
// backers alike; titles in other scripts are accepted and get a slug their readers can read.
func TestHostileTextOverHTTP(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Vera")
	hostile := []struct{ name, text, code string }{
		{"zero-width only", "\u200B\u200C\u200D", "no_visible_character"},
		{"combining marks only", "\u0301\u0308", "no_visible_character"},
		{"NUL", "Coat\x00", "control_character"},
		{"CR LF", "Coat\r\nSOLD OUT", "line_break"},
		{"right-to-left override", "Coat \u202Eevil", "bidi_control"},
		{"left-to-right isolate", "Coat \u2066evil\u2069", "bidi_control"},
	}
	for _, tc := range hostile {
		t.Run("campaign title "+tc.name, func(t *testing.T) {
			if r := s.call("POST", "/api/v1/campaigns", tok, s.campaignBody(tc.text)); r.Status != 422 || r.fieldCode(t, "title") != tc.code {
				t.Fatalf("→ %d %s, want 422 title %s", r.Status, r.Body, tc.code)
			}
		})
		t.Run("designer name "+tc.name, func(t *testing.T) {
			r := s.call("POST", "/api/v1/designers", "", map[string]string{"email": "x@atelier.example", "password": "long enough password", "name": tc.text})
			if r.Status != 422 || r.fieldCode(t, "name") != tc.code {
				t.Fatalf("→ %d %s, want 422 name %s", r.Status, r.Body, tc.code)
			}
		})
	}
	if mine := s.must(200, "GET", "/api/v1/designers/me/campaigns", tok, nil)["data"].([]any); len(mine) != 0 {
		t.Fatalf("hostile titles stored %d campaigns", len(mine))
	}

	for _, tc := range []struct{ field, value, code string }{
		{"timezone", "posixrules", "invalid"},
		{"timezone", "right/UTC", "invalid"},
		{"timezone", "EST5EDT", "invalid"},
		{"timezone", "Factory", "invalid"},
		{"deadline", s.clock.Now().AddDate(0, 0, 30).Truncate(time.Second).Add(500 * time.Millisecond).Format(time.RFC3339Nano), "fractional_seconds"},
	} {
		body := s.campaignBody("Coat")
		body[tc.field] = tc.value
		if r := s.call("POST", "/api/v1/campaigns", tok, body); r.Status != 422 || r.fieldCode(t, tc.field) != tc.code {
			t.Errorf("%s %q → %d %s, want 422 %s", tc.field, tc.value, r.Status, r.Body, tc.code)
		}
	}

	for title, slug := range map[string]string{"Manteau en lin, fait à Zürich": "manteau-en-lin-fait-a-zurich", "リネンのコート": "リネンのコート", "Λινό παλτό": "λινό-παλτό"} {
		c := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody(title))
		if c["title"] != title || c["slug"] != slug {
			t.Fatalf("title %q: stored %q slug %q, want slug %q", title, c["title"], c["slug"], slug)
		}
		// Clients send the slug percent-encoded; it must find the campaign.
		if got := s.must(200, "GET", "/api/v1/campaigns/"+url.PathEscape(slug), tok, nil); got["id"] != c["id"] {
			t.Fatalf("GET by slug %q: %v", slug, got["id"])
		}
	}

	admin := s.admin()
	_, live := s.liveCampaign(tok, admin, "Hemp jacket")
	for i, tc := range hostile {
		body := coatPledge("", 5000)
		delete(body, "tier_id")
		delete(body, "shipping_address")
		body["backer"] = map[string]any{"email": "bea@example.com", "name": tc.text}
		if r := s.pledge(live, body, "hostile-backer-"+string(rune('a'+i))); r.Status != 422 || r.fieldCode(t, "backer.name") != tc.code {
			t.Errorf("backer name %s → %d %s, want 422 %s", tc.name, r.Status, r.Body, tc.code)
		}
	}
}
