package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/testenv"
)

// A designer turns her daily summary off and on again from her profile page; the box shows what
// is stored, and another designer's setting is untouched.
func TestDailyDigestSettingOnTheProfile(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	email := v.signUp("Ana")
	other := s.visitor("en")
	otherEmail := other.signUp("Bea")
	off := func(email string) bool {
		t.Helper()
		u, err := s.store.FindUserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		return u.DailyDigestOff
	}
	p := v.get("/designer/profile")
	if !strings.Contains(p.body, `name="daily_digest" value="on" checked`) || off(email) {
		t.Fatalf("a new designer's summary is not on:\n%s", p.body)
	}
	// Unticked: the box is not sent at all.
	p = v.post("/designer/profile", "/designer/profile/digest", url.Values{})
	if p.status != 303 || !strings.HasPrefix(p.location(), "/designer/profile?notice=digest_off") || !off(email) || off(otherEmail) {
		t.Fatalf("turn off: %d %q", p.status, p.location())
	}
	p = v.get("/designer/profile?notice=digest_off")
	if strings.Contains(p.body, `value="on" checked`) || !strings.Contains(p.body, "The daily summary is off.") {
		t.Fatalf("the page after turning it off:\n%s", p.body)
	}
	testenv.CheckHTML(t, "/designer/profile", p.body, "en")
	p = v.post("/designer/profile", "/designer/profile/digest", url.Values{"daily_digest": {"on"}})
	if p.status != 303 || off(email) {
		t.Fatalf("turn on: %d %q", p.status, p.location())
	}
}
