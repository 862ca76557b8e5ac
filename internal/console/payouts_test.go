//go:build !production

package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/stripedouble"
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
	// What Stripe still asks (the double's new account: business_type, external_account and
	// tos_acceptance.*), in words, each group once; the payouts page says the same from the
	// state the return page recorded.
	left := []string{"your business", "the bank account to pay you into", "your acceptance of Stripe"}
	for _, page := range []page{p, v.get("/designer/payouts")} {
		for _, want := range left {
			if !strings.Contains(page.body, want) || strings.Count(page.body, want) != 1 {
				t.Errorf("what is left lacks %q once:\n%s", want, page.body)
			}
		}
		if !strings.Contains(page.body, "payouts-incomplete") || !strings.Contains(page.body, "Continue with Stripe") {
			t.Errorf("not finished yet, but:\n%s", page.body)
		}
	}
	testenv.CheckHTML(t, "/designer/payouts", v.get("/designer/payouts").body, "en")
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

// The payouts page tells "details sent, Stripe is checking" from "not finished" and from
// "enabled" by what Stripe's account.updated events said, without her going back through
// Stripe's pages; and an older event delivered after a newer one does not roll the page back.
func TestPayoutsPageFollowsStripesEventsInTheirOrder(t *testing.T) {
	s := startSite(t, nil)
	d := s.app.Double()
	v := s.visitor("en")
	v.signUp("Ana")
	if p := v.post("/designer/payouts", "/designer/payouts", nil); p.status != 303 {
		t.Fatalf("button: %d", p.status)
	}
	acct := s.accountOf(v).StripeAccountID
	state := func(want string) page {
		t.Helper()
		if err := d.WaitWebhooks(context.Background()); err != nil {
			t.Fatal(err)
		}
		p := v.get("/designer/payouts")
		if p.status != 200 || !strings.Contains(p.body, "payouts-"+want) {
			t.Fatalf("payouts page, want %s: %d\n%s", want, p.status, p.body)
		}
		return p
	}
	state("incomplete")

	// Details given, Stripe verifying them: no button, nothing listed as left.
	if err := d.SubmitOnboardingDetails(acct); err != nil {
		t.Fatal(err)
	}
	p := state("checking")
	if !strings.Contains(p.body, "Stripe has your details and is checking them") || strings.Contains(p.body, `action="/designer/payouts"`) {
		t.Errorf("checking page:\n%s", p.body)
	}
	testenv.CheckHTML(t, "/designer/payouts", p.body, "en")
	if s.accountOf(v).PayoutsEnabled {
		t.Error("payouts enabled while Stripe is checking")
	}
	s.clock.Advance(time.Minute)
	if err := d.CompleteOnboarding(acct); err != nil {
		t.Fatal(err)
	}
	state("enabled")

	// Hostile order: a designer whose "checking" event comes after the later "enabled" one.
	w := s.visitor("en")
	w.signUp("Bea")
	if p := w.post("/designer/payouts", "/designer/payouts", nil); p.status != 303 {
		t.Fatalf("button: %d", p.status)
	}
	other := s.accountOf(w).StripeAccountID
	d.SetWebhookFaults(stripedouble.WebhookFaults{ReorderRate: 1})
	if err := d.SubmitOnboardingDetails(other); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(time.Minute)
	if err := d.CompleteOnboarding(other); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.SetWebhookFaults(stripedouble.WebhookFaults{})
	var order []string
	for _, e := range d.Events() {
		if e.Type == "account.updated" && e.Data.Object["id"] == other {
			order = append(order, e.ID)
		}
	}
	var delivered []string
	for _, dl := range d.WebhookDeliveries() {
		if dl.Status == 200 && slices.Contains(order, dl.EventID) {
			delivered = append(delivered, dl.EventID)
		}
	}
	if len(order) != 2 || !slices.Equal(delivered, []string{order[1], order[0]}) {
		t.Fatalf("events %v delivered as %v, want the newer first", order, delivered)
	}
	if p := w.get("/designer/payouts"); !strings.Contains(p.body, "payouts-enabled") {
		t.Errorf("the older event rolled the page back:\n%s", p.body)
	}
	if !s.accountOf(w).PayoutsEnabled {
		t.Error("the older event turned payouts off for settlement")
	}
}

// Stripe refusing her account is said as such: no list of details and no button back to
// Stripe's pages, which could not change it; settlement still sees payouts off.
func TestPayoutsPageSaysWhenStripeRefusedTheAccount(t *testing.T) {
	s := startSite(t, nil)
	d := s.app.Double()
	for _, lang := range []string{"en", "fr"} {
		v := s.visitor(lang)
		v.signUp("Ana " + lang)
		if p := v.post("/designer/payouts", "/designer/payouts", nil); p.status != 303 {
			t.Fatalf("button: %d", p.status)
		}
		acct := s.accountOf(v).StripeAccountID
		if err := d.SubmitOnboardingDetails(acct); err != nil {
			t.Fatal(err)
		}
		s.clock.Advance(time.Minute)
		if err := d.RejectAccount(acct, "terms_of_service"); err != nil {
			t.Fatal(err)
		}
		if err := d.WaitWebhooks(context.Background()); err != nil {
			t.Fatal(err)
		}
		p := v.get("/designer/payouts")
		want := map[string]string{"en": "Stripe has refused this payout account", "fr": "Stripe a refusé ce compte de versement"}[lang]
		if p.status != 200 || !strings.Contains(p.body, "payouts-rejected") || !strings.Contains(p.body, want) {
			t.Fatalf("%s: payouts page, want rejected: %d\n%s", lang, p.status, p.body)
		}
		if strings.Contains(p.body, `action="/designer/payouts"`) || strings.Contains(p.body, "payouts-left") {
			t.Errorf("%s: a refused account is sent back to Stripe:\n%s", lang, p.body)
		}
		testenv.CheckHTML(t, "/designer/payouts", p.body, lang)
		if s.accountOf(v).PayoutsEnabled {
			t.Errorf("%s: payouts enabled for a refused account", lang)
		}
	}
}
