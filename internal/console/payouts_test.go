//go:build !production

package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/testenv"
)

// accountOf is the visitor's account as stored.
func (s *site) accountOf(v *visitor) account.User {
	s.t.Helper()
	ctx := context.Background()
	me, err := s.api.Call(ctx, 200, "GET", "/api/v1/me", v.cookie("session").Value, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	u, err := s.store.FindUserByID(ctx, me["id"].(string))
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// pathOf is where on the service an absolute URL of BACKSTITCH_PUBLIC_URL's leads.
func pathOf(t *testing.T, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.RequestURI()
}

// follow opens a Stripe page the way her browser would (no session of ours there) and returns
// where it sends her.
func (v *visitor) follow(link string) string {
	v.s.t.Helper()
	res, err := v.http.Get(link)
	if err != nil {
		v.s.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		v.s.t.Fatalf("%s: %d", link, res.StatusCode)
	}
	return res.Header.Get("Location")
}

// A designer turns payouts on from the console, offline: the button makes her connected
// account and sends her to Stripe's onboarding (the double's), which sends her back to a page
// that says payouts are enabled, and the service has recorded it without waiting for a webhook.
// A used link leads to the refresh page, whose button makes a new link for the same account.
func TestPayoutsOnboardingFromTheConsole(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	p := v.get("/designer/payouts")
	if p.status != 200 || !strings.Contains(p.body, "payouts-none") || !strings.Contains(p.body, "Set up payouts with Stripe") {
		t.Fatalf("payouts page before onboarding: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "/designer/payouts", p.body, "en")

	p = v.post("/designer/payouts", "/designer/payouts", nil)
	link := p.location()
	if p.status != 303 || !strings.Contains(link, "/_stripedouble/connect/onboarding?link=") {
		t.Fatalf("button: %d %q", p.status, link)
	}
	ret, refresh, ok := s.app.Double().AccountLinkURLs(link)
	if !ok || !strings.HasSuffix(ret, "/designer/payouts/done") || !strings.HasSuffix(refresh, "/designer/payouts/refresh") {
		t.Fatalf("the link returns to %q and refreshes at %q", ret, refresh)
	}
	// Nothing recorded before she has been to Stripe.
	me := s.accountOf(v)
	if me.StripeAccountID == "" || me.PayoutsEnabled {
		t.Fatalf("after the button: account %q, enabled %v", me.StripeAccountID, me.PayoutsEnabled)
	}
	back := v.follow(link)
	if back != ret {
		t.Fatalf("Stripe sent her to %q", back)
	}
	p = v.get(pathOf(t, back))
	if p.status != 200 || !strings.Contains(p.body, "payouts-enabled") || !strings.Contains(p.body, "Payouts enabled") {
		t.Fatalf("return page: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "/designer/payouts/done", p.body, "en")
	if got := s.accountOf(v); !got.PayoutsEnabled || got.StripeAccountID != me.StripeAccountID {
		t.Fatalf("after onboarding: %+v", got)
	}
	if p := v.get("/designer/payouts"); !strings.Contains(p.body, "payouts-enabled") || strings.Contains(p.body, `action="/designer/payouts"`) {
		t.Errorf("payouts page once enabled:\n%s", p.body)
	}

	// The link again: Stripe's answer to a used link is the refresh page, which offers a new one.
	refreshed := v.follow(link)
	p = v.get(pathOf(t, refreshed))
	if p.status != 200 || !strings.Contains(p.body, "payouts-expired") || !strings.Contains(p.body, "Get a new link to Stripe") {
		t.Fatalf("refresh page: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "/designer/payouts/refresh", p.body, "en")
	accounts := s.app.Double().RequestCount("POST", "/v1/accounts")
	p = v.post("/designer/payouts/refresh", "/designer/payouts", nil)
	if p.status != 303 || p.location() == link || !strings.Contains(p.location(), "/_stripedouble/connect/onboarding?link=") {
		t.Fatalf("a new link: %d %q", p.status, p.location())
	}
	if s.app.Double().RequestCount("POST", "/v1/accounts") != accounts || s.accountOf(v).StripeAccountID != me.StripeAccountID {
		t.Error("a second onboarding made a second connected account")
	}

	// Another designer sees her own state, not Ana's.
	other := s.visitor("fr")
	other.signUp("Mallory")
	if p := other.get("/designer/payouts"); !strings.Contains(p.body, "payouts-none") {
		t.Errorf("another designer's payouts page:\n%s", p.body)
	}
	for _, path := range []string{"/designer/payouts", "/designer/payouts/refresh"} {
		p := other.get(path)
		testenv.CheckHTML(t, path, p.body, "fr")
		if !strings.Contains(p.body, locale.T("fr", "console.payouts.title")) {
			t.Errorf("%s in French lacks its title", path)
		}
	}
}

// A designer who leaves Stripe's pages before the end comes back to a page that says so and
// lets her continue.
func TestPayoutsReturnBeforeFinishingSaysWhatIsLeft(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	if p := v.post("/designer/payouts", "/designer/payouts", nil); p.status != 303 {
		t.Fatalf("button: %d", p.status)
	}
	p := v.get("/designer/payouts/done")
	if p.status != 200 || !strings.Contains(p.body, "payouts-incomplete") || !strings.Contains(p.body, "Continue with Stripe") {
		t.Fatalf("return before finishing: %d\n%s", p.status, p.body)
	}
	if s.accountOf(v).PayoutsEnabled {
		t.Error("payouts enabled without onboarding")
	}
	// Never started: the return page is the payouts page.
	w := s.visitor("en")
	w.signUp("Bea")
	if p := w.get("/designer/payouts/done"); p.status != 303 || p.location() != "/designer/payouts" {
		t.Errorf("return without an account: %d %q", p.status, p.location())
	}
}
