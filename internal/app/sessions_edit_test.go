//go:build !production

package app_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A designer changes a date: a bigger room, another place, another time. The capacity never goes
// below what is booked; the booked backers see the new place on their calendar file; only the
// designer may; a cancelled date stays cancelled.
func TestSessionsAreEditedNeverBelowBooked(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	session := s.addSession(c, c.workshop, 20*24*time.Hour, 3)
	path := "/api/v1/campaigns/" + c.id + "/tiers/" + c.workshop + "/sessions/" + session
	a := s.pledge(c.slug, workshopPledge(c.workshop, session), "edit-a").JSON(t)
	s.pledge(c.slug, workshopPledge(c.workshop, session), "edit-b")
	other, _ := s.designer("Other")
	if r := s.call("PATCH", path, other, map[string]any{"capacity": 10}); r.Status != 403 {
		t.Fatalf("another designer: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", "/api/v1/campaigns/"+c.id+"/tiers/"+c.workshop+"/sessions/ses_nosuch", c.owner, map[string]any{"capacity": 10}); r.Status != 404 {
		t.Fatalf("unknown session: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", path, c.owner, map[string]any{"capacity": 1}); r.Status != 422 || r.fieldCode(t, "capacity") != "below_booked" {
		t.Fatalf("capacity below booked: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", path, c.owner, map[string]any{"ends_at": s.clock.Now().Format(time.RFC3339)}); r.Status != 422 || r.fieldCode(t, "ends_at") != "before_start" {
		t.Fatalf("ends before it starts: %d %s", r.Status, r.Body)
	}
	got := s.must(200, "PATCH", path, c.owner, map[string]any{"capacity": 2})
	if got["remaining"] != float64(0) || got["capacity"] != float64(2) || got["changed_at"] != nil {
		t.Fatalf("capacity down to what is booked: %v", got)
	}
	if r := s.pledge(c.slug, workshopPledge(c.workshop, session), "edit-c"); r.Status != 409 {
		t.Fatalf("booking a full session: %d %s", r.Status, r.Body)
	}
	got = s.must(200, "PATCH", path, c.owner, map[string]any{"capacity": 5, "place": "Grande salle, Rue de Carouge 40, Genève"})
	if got["remaining"] != float64(3) || got["place"] != "Grande salle, Rue de Carouge 40, Genève" || got["changed_at"] == nil {
		t.Fatalf("bigger room: %v", got)
	}
	ics := string(s.call("GET", "/api/v1/pledges/"+a["id"].(string)+"/session.ics", "", nil, "X-Manage-Token", a["manage_token"].(string)).Body)
	if !strings.Contains(strings.ReplaceAll(ics, "\r\n ", ""), `Grande salle\, Rue de Carouge 40`) {
		t.Fatalf("the booked backer's calendar does not show the new place: %s", ics)
	}
	// Online now: the place goes, a link is needed.
	if r := s.call("PATCH", path, c.owner, map[string]any{"online": true}); r.Status != 422 || r.fieldCode(t, "link") != "required" {
		t.Fatalf("online without a link: %d %s", r.Status, r.Body)
	}
	s.must(200, "DELETE", path, c.owner, nil)
	if r := s.call("PATCH", path, c.owner, map[string]any{"capacity": 9}); r.Status != 409 {
		t.Fatalf("editing a cancelled session: %d %s", r.Status, r.Body)
	}
}

// A tier edit computed from counters that moved meanwhile is refused, even when a move between
// dates left the tier's claimed count where it was.
func TestTierEditAfterASessionMoveIsAConflict(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	first := s.addSession(c, c.workshop, 20*24*time.Hour, 3)
	second := s.addSession(c, c.workshop, 21*24*time.Hour, 3)
	p := s.pledge(c.slug, workshopPledge(c.workshop, first), "aba").JSON(t)
	ctx := context.Background()
	stale, err := s.store.FindTier(ctx, c.id, c.workshop)
	if err != nil {
		t.Fatal(err)
	}
	s.must(200, "PATCH", "/api/v1/pledges/"+p["id"].(string), "", map[string]any{"session_id": second}, "X-Manage-Token", p["manage_token"].(string))
	now, _ := s.store.FindTier(ctx, c.id, c.workshop)
	if now.Claimed != stale.Claimed {
		t.Fatalf("the move changed the claimed count (%d → %d): this test needs it unchanged", stale.Claimed, now.Claimed)
	}
	edited := stale
	edited.Title = "Workshop (stale)"
	if err := s.store.ReplaceTier(ctx, stale, edited); err == nil {
		t.Fatal("a tier write from counters read before a session move was accepted: it would put the moved place back")
	}
}

// The designer sets how long before a date backers may still book or move: per tier, or per date;
// 48 hours otherwise.
func TestSessionCutoffIsTheDesigners(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	soon := s.addSession(c, c.workshop, 36*time.Hour, 5)
	if r := s.pledge(c.slug, workshopPledge(c.workshop, soon), "cut-default"); r.Status != 422 || r.fieldCode(t, "session_id") != "invalid" {
		t.Fatalf("booking 36 h ahead with the default 48 h cut-off: %d %s", r.Status, r.Body)
	}
	tierPath := "/api/v1/campaigns/" + c.id + "/tiers/" + c.workshop
	if r := s.call("PATCH", tierPath, c.owner, map[string]any{"session_change_cutoff_hours": -1}); r.Status != 422 {
		t.Fatalf("a negative cut-off: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", "/api/v1/campaigns/"+c.id+"/tiers/"+c.coatTier, c.owner, map[string]any{"session_change_cutoff_hours": 24}); r.Status != 422 {
		t.Fatalf("a cut-off on a coat: %d %s", r.Status, r.Body)
	}
	if got := s.must(200, "PATCH", tierPath, c.owner, map[string]any{"session_change_cutoff_hours": 24}); got["session_change_cutoff_hours"] != float64(24) {
		t.Fatalf("tier cut-off: %v", got)
	}
	s.must(201, "POST", "/api/v1/campaigns/"+c.slug+"/pledges", "", workshopPledge(c.workshop, soon), "Idempotency-Key", "cut-tier")
	// A date with its own, longer cut-off.
	later := s.addSession(c, c.workshop, 60*time.Hour, 5)
	s.must(200, "PATCH", tierPath+"/sessions/"+later, c.owner, map[string]any{"change_cutoff_hours": 72})
	if r := s.pledge(c.slug, workshopPledge(c.workshop, later), "cut-session"); r.Status != 422 {
		t.Fatalf("booking inside the date's own cut-off: %d %s", r.Status, r.Body)
	}
}
