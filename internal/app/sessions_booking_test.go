//go:build !production

package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
)

func (s *service) addSession(c pledgeSetup, tierID string, startIn time.Duration, capacity int) string {
	s.t.Helper()
	start := s.clock.Now().Add(startIn)
	se := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers/"+tierID+"/sessions", c.owner, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(3 * time.Hour).Format(time.RFC3339),
		"timezone": "Europe/Zurich", "place": "Atelier, Rue des Bains 12, Genève", "capacity": capacity})
	if se["remaining"] != float64(capacity) {
		s.t.Fatalf("new session: %v", se)
	}
	return se["id"].(string)
}

func workshopPledge(tier, session string) map[string]any {
	return map[string]any{"tier_id": tier, "session_id": session, "amount": map[string]any{"amount": 9000, "currency": "CHF"},
		"backer": map[string]any{"email": "backer@example.com", "name": "Bea Backer"}}
}

// A workshop happens on dates, each for so many people. Booking a date claims a place with the
// tier's unit in one update: racing backers, with moves between dates interleaved, never overbook
// a date; a cancelled date takes nobody new and its places never reopen; moving stops 48 hours
// before a session.
func TestWorkshopSessionsAreNeverOverbooked(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "100000"})
	c := s.pledgeSetup("all_or_nothing", 10)
	// Sessions belong to experiences, start in the future, and are somewhere.
	start := s.clock.Now().Add(10 * 24 * time.Hour).Format(time.RFC3339)
	end := s.clock.Now().Add(10*24*time.Hour + time.Hour).Format(time.RFC3339)
	for name, bad := range map[string]struct {
		tier string
		body map[string]any
	}{
		"on a coat":           {c.coatTier, map[string]any{"starts_at": start, "ends_at": end, "timezone": "Europe/Zurich", "place": "Genève", "capacity": 5}},
		"in the past":         {c.workshop, map[string]any{"starts_at": "2020-01-01T10:00:00Z", "ends_at": end, "timezone": "Europe/Zurich", "place": "Genève", "capacity": 5}},
		"online without link": {c.workshop, map[string]any{"starts_at": start, "ends_at": end, "timezone": "Europe/Zurich", "online": true, "capacity": 5}},
		"nowhere":             {c.workshop, map[string]any{"starts_at": start, "ends_at": end, "timezone": "Europe/Zurich", "capacity": 5}},
		"ends before start":   {c.workshop, map[string]any{"starts_at": end, "ends_at": start, "timezone": "Europe/Zurich", "place": "Genève", "capacity": 5}},
	} {
		if r := s.call("POST", "/api/v1/campaigns/"+c.id+"/tiers/"+bad.tier+"/sessions", c.owner, bad.body); r.Status != 422 {
			t.Fatalf("session %s: %d %s", name, r.Status, r.Body)
		}
	}
	big := s.addSession(c, c.workshop, 10*24*time.Hour, 12)
	small := s.addSession(c, c.workshop, 12*24*time.Hour, 5)
	if r := s.pledge(c.slug, workshopPledge(c.workshop, ""), "no-session"); r.Status != 422 || r.fieldCode(t, "session_id") != "invalid" {
		t.Fatalf("workshop pledge without a session: %d %s", r.Status, r.Body)
	}
	type made struct{ id, token string }
	var mu sync.Mutex
	var got []made
	var created, full atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range 100 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			session := []string{big, big, small}[i%3]
			r := s.pledge(c.slug, workshopPledge(c.workshop, session), fmt.Sprint("session-rush-", i))
			switch {
			case r.Status == 201:
				created.Add(1)
				p := r.JSON(t)
				mu.Lock()
				got = append(got, made{p["id"].(string), p["manage_token"].(string)})
				mu.Unlock()
				if i%4 == 0 { // some backers move to the small date
					s.manage("PATCH", p["id"].(string), p["manage_token"].(string), map[string]any{"session_id": small})
				}
			case r.Status == 409 && r.JSON(t)["code"] == "sold_out":
				full.Add(1)
			default:
				t.Errorf("unexpected %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	held := map[string]int64{}
	err := s.store.FindCampaignPledges(context.Background(), c.id, func(p pledge.Pledge) error {
		if p.Status == pledge.StatusPending || p.Status == pledge.StatusActive {
			held[p.SessionID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d booked, %d refused full; held %v", created.Load(), full.Load(), held)
	if held[big] > 12 || held[small] > 5 || full.Load() == 0 {
		t.Fatalf("overbooked or never full: %v (refused %d)", held, full.Load())
	}
	sessions := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, tv := range s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)["tiers"].([]any) {
			if m := tv.(map[string]any); m["id"] == c.workshop {
				for _, se := range m["sessions"].([]any) {
					out[se.(map[string]any)["id"].(string)] = se.(map[string]any)
				}
			}
		}
		return out
	}
	if se := sessions(); se[big]["remaining"] != float64(12-held[big]) || se[small]["remaining"] != float64(5-held[small]) {
		t.Fatalf("public remaining places: %v", se)
	}
	// The designer cancels the small date: nobody books it, its backers can leave it for
	// another date with room, and a place given back does not reopen it.
	s.must(200, "DELETE", "/api/v1/campaigns/"+c.id+"/tiers/"+c.workshop+"/sessions/"+small, c.owner, nil)
	if r := s.pledge(c.slug, workshopPledge(c.workshop, small), "after-cancel"); r.Status != 422 || r.fieldCode(t, "session_id") != "invalid" {
		t.Fatalf("booking a cancelled session: %d %s", r.Status, r.Body)
	}
	var onSmall made
	for _, m := range got {
		if p, _ := s.store.FindPledge(context.Background(), m.id); p.SessionID == small && p.Status == pledge.StatusPending {
			onSmall = m
			break
		}
	}
	if onSmall.id == "" {
		t.Fatal("nobody held a place on the small date")
	}
	s.manage("POST", onSmall.id, onSmall.token, nil) // cancels: its place goes back, to a closed date
	if se := sessions(); se[small]["cancelled"] != true || se[small]["remaining"] != float64(0) {
		t.Fatalf("cancelled session after a place came back: %v", se[small])
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() {
		t.Fatalf("drift: %+v %v", drift, err)
	}
	// A day before the big date, its backers can no longer leave it, even for a date with room.
	later := s.addSession(c, c.workshop, 20*24*time.Hour, 5)
	s.clock.Advance(9 * 24 * time.Hour)
	for _, m := range got {
		if p, _ := s.store.FindPledge(context.Background(), m.id); p.SessionID == big && p.Status == pledge.StatusPending {
			if r := s.manage("PATCH", m.id, m.token, map[string]any{"session_id": later}); r.Status != 409 {
				t.Fatalf("moving within 48 hours of the session: %d %s", r.Status, r.Body)
			}
			break
		}
	}
}

// A backer who booked a session gets it as a calendar file: times in UTC, text escaped, lines
// folded as RFC 5545 wants; an online session's link only once the deadline has passed.
func TestBookedSessionAsCalendarFile(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	start := s.clock.Now().Add(40 * 24 * time.Hour)
	online := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers/"+c.workshop+"/sessions", c.owner, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(90 * time.Minute).Format(time.RFC3339), "timezone": "Europe/Zurich",
		"online": true, "link": "https://meet.example/ateliers-secret-room", "capacity": 20})["id"].(string)
	inPerson := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers/"+c.workshop+"/sessions", c.owner, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(3 * time.Hour).Format(time.RFC3339), "timezone": "Europe/Zurich",
		"place": "Atelier; 2nd floor, Rue des Bains 12\nGenève — ring twice at the blue door, the bell on the left is broken", "capacity": 8})["id"].(string)
	book := func(session, key string) (id, token string) {
		p := s.pledge(c.slug, workshopPledge(c.workshop, session), key).JSON(t)
		return p["id"].(string), p["manage_token"].(string)
	}
	calendar := func(id, token string) response {
		return s.call("GET", "/api/v1/pledges/"+id+"/session.ics", "", nil, "X-Manage-Token", token)
	}
	onID, onTok := book(online, "ics-online")
	r := calendar(onID, onTok)
	body := string(r.Body)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/calendar; charset=utf-8" || !strings.Contains(body, "DTSTART:"+start.UTC().Format("20060102T150405Z")+"\r\n") ||
		!strings.Contains(body, "LOCATION:Online\r\n") || strings.Contains(body, "secret-room") {
		t.Fatalf("online session before the deadline: %d %s", r.Status, body)
	}
	ipID, ipTok := book(inPerson, "ics-in-person")
	body = string(calendar(ipID, ipTok).Body)
	unfolded := strings.ReplaceAll(body, "\r\n ", "")
	if !strings.Contains(unfolded, `LOCATION:Atelier\; 2nd floor\, Rue des Bains 12\nGenève — ring twice`) {
		t.Fatalf("place not escaped: %s", body)
	}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if len(line) > 75 || strings.Contains(line, "\n") {
			t.Fatalf("line not folded to 75 octets: %q", line)
		}
	}
	// Wrong token, or a pledge that books no session: not found.
	if r := calendar(onID, "wrong"); r.Status != 404 {
		t.Fatalf("calendar with a wrong token: %d", r.Status)
	}
	coat := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "ics-coat").JSON(t)
	if r := calendar(coat["id"].(string), coat["manage_token"].(string)); r.Status != 404 {
		t.Fatalf("calendar of a pledge without a session: %d", r.Status)
	}
	// After the deadline the link is the backer's.
	s.passDeadline(c.slug)
	if body := strings.ReplaceAll(string(calendar(onID, onTok).Body), "\r\n ", ""); !strings.Contains(body, "LOCATION:https://meet.example/ateliers-secret-room") {
		t.Fatalf("online session after the deadline: %s", body)
	}
}
