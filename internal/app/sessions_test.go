//go:build !production

package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSignupAndLogin(t *testing.T) {
	s := startService(t, nil)
	u := s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": " Noor@Studio-Noor.CH ", "password": "slow fashion forever", "name": "Noor"})
	s.secret("noor@studio-noor.ch")
	s.secret("slow fashion forever")
	if u["email"] != "noor@studio-noor.ch" || u["role"] != "designer" {
		t.Fatalf("signup: %v", u)
	}
	for _, k := range []string{"password", "password_hash"} {
		if _, has := u[k]; has {
			t.Fatalf("response carries %s", k)
		}
	}
	if r := s.call("POST", "/api/v1/designers", "", map[string]string{"email": "noor@studio-noor.ch", "password": "another password", "name": "N"}); r.Status != 409 || r.JSON(t)["code"] != "email_taken" {
		t.Fatalf("duplicate signup: %d %s", r.Status, r.Body)
	}
	wrongPassword := s.call("POST", "/api/v1/sessions", "", map[string]string{"email": "noor@studio-noor.ch", "password": "fast fashion"})
	unknownEmail := s.call("POST", "/api/v1/sessions", "", map[string]string{"email": "nobody@studio-noor.ch", "password": "slow fashion forever"})
	for _, r := range []response{wrongPassword, unknownEmail} {
		if r.Status != 401 || r.JSON(t)["detail"] != "The email or password is wrong." {
			t.Fatalf("failed login: %d %s", r.Status, r.Body)
		}
	}
	tok := s.login("Noor@studio-noor.ch", "slow fashion forever")
	if me := s.must(200, "GET", "/api/v1/me", tok, nil); me["email"] != "noor@studio-noor.ch" {
		t.Fatalf("me: %v", me)
	}
	if r := s.call("GET", "/api/v1/me", "not-a-token", nil); r.Status != 401 {
		t.Fatalf("made-up token: %d", r.Status)
	}
	if r := s.call("GET", "/api/v1/me", "", nil); r.Status != 401 {
		t.Fatalf("no token: %d", r.Status)
	}
	// Sessions expire with the clock.
	s.clock.Advance(12*time.Hour + time.Second)
	if r := s.call("GET", "/api/v1/me", tok, nil); r.Status != 401 {
		t.Fatalf("expired session still works: %d", r.Status)
	}
	// A new login gets a new token.
	if tok2 := s.login("noor@studio-noor.ch", "slow fashion forever"); tok2 == tok {
		t.Fatal("login reused an old token")
	}
}

func TestLoginRateLimits(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_LOGIN_LIMIT_PER_ACCOUNT": "3", "BACKSTITCH_LOGIN_LIMIT_PER_ADDRESS": "6", "BACKSTITCH_LOGIN_WINDOW": "10m"})
	s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": "kim@loom.example", "password": "handwoven since 1999", "name": "Kim"})
	s.secret("kim@loom.example")
	s.secret("handwoven since 1999")
	for i := range 3 {
		if r := s.call("POST", "/api/v1/sessions", "", map[string]string{"email": "kim@loom.example", "password": fmt.Sprint("guess", i)}); r.Status != 401 {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	r := s.call("POST", "/api/v1/sessions", "", map[string]string{"email": "kim@loom.example", "password": "handwoven since 1999"})
	if r.Status != 429 || r.JSON(t)["code"] != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt on one account: %d %s (Retry-After %q)", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	// Other accounts from the same address still work until the address limit…
	for i := range 2 {
		if r := s.call("POST", "/api/v1/sessions", "", map[string]string{"email": fmt.Sprintf("x%d@loom.example", i), "password": "whatever it is"}); r.Status != 401 {
			t.Fatalf("other account %d: %d", i, r.Status)
		}
	}
	if r := s.call("POST", "/api/v1/sessions", "", map[string]string{"email": "y@loom.example", "password": "whatever it is"}); r.Status != 429 {
		t.Fatalf("address limit: %d", r.Status)
	}
	// …and the window passes.
	s.clock.Advance(10 * time.Minute)
	s.login("kim@loom.example", "handwoven since 1999")
}

func TestIdempotentCreate(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_SESSION_TTL": "48h"})
	tok, _ := s.designer("Ada")
	body := s.campaignBody("Reclaimed denim")
	first := s.call("POST", "/api/v1/campaigns", tok, body, "Idempotency-Key", "create-denim-1")
	second := s.call("POST", "/api/v1/campaigns", tok, body, "Idempotency-Key", "create-denim-1")
	if first.Status != 201 || second.Status != 201 || !bytes.Equal(first.Body, second.Body) || second.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay differs: %d %s / %d %s", first.Status, first.Body, second.Status, second.Body)
	}
	other := body
	other["title"] = "Something else"
	if r := s.call("POST", "/api/v1/campaigns", tok, other, "Idempotency-Key", "create-denim-1"); r.Status != 422 || r.JSON(t)["code"] != "idempotency_key_reused" {
		t.Fatalf("key reused with another body: %d %s", r.Status, r.Body)
	}
	// 30 concurrent requests with one key: one campaign, and every answer is the replay or a 409.
	body = s.campaignBody("Concurrent coat")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var created [][]byte
	statuses := map[int]int{}
	for range 30 {
		wg.Go(func() {
			r := s.call("POST", "/api/v1/campaigns", tok, body, "Idempotency-Key", "rush")
			mu.Lock()
			defer mu.Unlock()
			statuses[r.Status]++
			if r.Status == 201 {
				created = append(created, r.Body)
			}
		})
	}
	wg.Wait()
	for status := range statuses {
		if status != 201 && status != 409 {
			t.Fatalf("statuses %v", statuses)
		}
	}
	for _, b := range created[1:] {
		if !bytes.Equal(b, created[0]) {
			t.Fatal("replays differ")
		}
	}
	mine := s.must(200, "GET", "/api/v1/designers/me/campaigns", tok, nil)["data"].([]any)
	n := 0
	for _, c := range mine {
		if strings.HasPrefix(c.(map[string]any)["title"].(string), "Concurrent") {
			n++
		}
	}
	if n != 1 || len(mine) != 2 {
		t.Fatalf("%d concurrent campaigns stored (of %d), want 1", n, len(mine))
	}
	// Keys are per caller: another designer's identical key is a new request.
	tok2, _ := s.designer("Bea")
	if r := s.call("POST", "/api/v1/campaigns", tok2, body, "Idempotency-Key", "rush"); r.Status != 201 || bytes.Equal(r.Body, created[0]) {
		t.Fatalf("key shared across callers: %d", r.Status)
	}
	// Keys expire after 24 hours.
	s.clock.Advance(24*time.Hour + time.Second)
	if r := s.call("POST", "/api/v1/campaigns", tok, other, "Idempotency-Key", "create-denim-1"); r.Status != 201 {
		t.Fatalf("expired key still bound: %d %s", r.Status, r.Body)
	}
}

func TestPublicListPagination(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Pia")
	admin := s.admin()
	var want []string
	for i := range 5 {
		id, _ := s.liveCampaign(tok, admin, fmt.Sprint("Capsule ", i))
		want = append([]string{id}, want...) // newest launch first
		s.clock.Advance(time.Minute)
	}
	s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Still a draft"))
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		page := s.must(200, "GET", "/api/v1/campaigns?limit=2"+cursor, "", nil)
		for _, c := range page["data"].([]any) {
			got = append(got, c.(map[string]any)["id"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	if page := s.must(200, "GET", "/api/v1/campaigns?limit=100000", "", nil); len(page["data"].([]any)) != 5 {
		t.Fatal("huge page size not capped to a working page")
	}
	for _, q := range []string{"?limit=0", "?limit=ten", "?status=draft", "?cursor=cam_0000000000000000"} {
		if r := s.call("GET", "/api/v1/campaigns"+q, "", nil); r.Status != 422 {
			t.Errorf("GET /api/v1/campaigns%s → %d, want 422", q, r.Status)
		}
	}
}
