package console_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/testenv/logbuf"
)

var resetLink = regexp.MustCompile(`"reset_link":"http://localhost:8080(/designer/password/reset\?token=[A-Za-z0-9_-]+)"`)

// A forgotten password: the link (in the log, in development) sets a new one once, ends every
// session of the account, and is dead after use or after an hour. An unknown address gets the
// same answer and no link.
func TestForgottenPasswordLinkWorksOnceForAnHour(t *testing.T) {
	logs := &logbuf.Buffer{}
	s := startSiteLogging(t, nil, zerolog.New(logs))
	v := s.visitor("en")
	email := v.signUp("Ana")
	oldSession := v.cookie("session").Value
	ask := func(email string) page {
		return s.visitor("en").post("/designer/password", "/designer/password", url.Values{"email": {email}})
	}
	if p := ask("nobody@atelier.example"); p.status != 200 || !strings.Contains(p.body, "If an account uses this address") {
		t.Fatalf("unknown address: %d", p.status)
	}
	if resetLink.MatchString(logs.String()) {
		t.Fatal("a link was made for an unknown address")
	}
	if p := ask(strings.ToUpper(email)); p.status != 200 || !strings.Contains(p.body, "If an account uses this address") {
		t.Fatalf("known address: %d", p.status)
	}
	m := resetLink.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no reset link in the log:\n%s", logs.String())
	}
	link := m[1]
	other := s.visitor("en")
	if p := other.get(link); p.status != 200 || p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("reset page: %d %q", p.status, p.header.Get("Referrer-Policy"))
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	form := func(pw string) url.Values { return url.Values{"token": {token.Get("token")}, "password": {pw}} }
	// A password too short does not spend the link.
	if p := other.post(link, "/designer/password/reset", form("short")); p.status != 422 || !strings.Contains(p.body, "password must be at least") {
		t.Fatalf("short password: %d", p.status)
	}
	const newPassword = "a new linen passphrase"
	if p := other.post(link, "/designer/password/reset", form(newPassword)); p.status != 303 || !strings.Contains(p.location(), "notice=password_reset") {
		t.Fatalf("reset: %d %s\n%s\n%s", p.status, p.location(), p.body, logs.String())
	}
	if p := other.post(link, "/designer/password/reset", form("yet another passphrase")); p.status != 410 {
		t.Errorf("the link worked twice: %d", p.status)
	}
	ctx := context.Background()
	if _, err := s.api.Call(ctx, 401, "GET", "/api/v1/me", oldSession, nil); err != nil {
		t.Errorf("a session from before the reset lives on: %v", err)
	}
	if _, err := s.api.Call(ctx, 401, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": password}); err != nil {
		t.Errorf("the old password still works: %v", err)
	}
	if _, err := s.api.Call(ctx, 201, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": newPassword}); err != nil {
		t.Errorf("the new password does not work: %v", err)
	}
	// A link an hour old is dead.
	ask(email)
	all := resetLink.FindAllStringSubmatch(logs.String(), -1)
	late := all[len(all)-1][1]
	s.clock.Advance(time.Hour + time.Second)
	q, _ := url.ParseQuery(strings.SplitN(late, "?", 2)[1])
	if p := other.post(late, "/designer/password/reset", url.Values{"token": {q.Get("token")}, "password": {"late linen passphrase"}}); p.status != 410 {
		t.Errorf("an expired link: %d", p.status)
	}
}

// Served over https, the link is never logged.
func TestResetLinkIsNotLoggedInProduction(t *testing.T) {
	logs := &logbuf.Buffer{}
	s := startSiteLogging(t, map[string]string{"BACKSTITCH_PUBLIC_URL": "https://backstitch.example"}, zerolog.New(logs))
	v := s.visitor("en")
	p := v.post("/designer/signup", "/designer/signup", url.Values{"name": {"Ana"}, "email": {"ana.prod@atelier.example"}, "password": {password}})
	if p.status != 303 {
		t.Fatal(p.status)
	}
	if p := s.visitor("en").post("/designer/password", "/designer/password", url.Values{"email": {"ana.prod@atelier.example"}}); p.status != 200 {
		t.Fatal(p.status)
	}
	if strings.Contains(logs.String(), "reset_link") {
		t.Error("a reset link was logged in production")
	}
}
