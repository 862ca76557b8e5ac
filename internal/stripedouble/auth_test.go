package stripedouble

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func TestAPIAnswersOnlyTheSecretKeyItWasStartedWith(t *testing.T) {
	h := newHarness(t, Options{SecretKey: testKey})
	cu := h.customer(t)

	for name, key := range map[string]string{
		"another test key": "sk_test_123",
		"a longer key":     testKey + "x",
		"a prefix":         testKey[:len(testKey)-1],
		"the publishable":  "pk_test_double",
	} {
		t.Run(name, func(t *testing.T) {
			other := newClient(h.srv, key, 0)
			it := other.Customers.List(&stripe.CustomerListParams{})
			it.Next()
			if se := stripeErr(t, it.Err()); se.HTTPStatusCode != http.StatusUnauthorized {
				t.Fatalf("listing customers with %q: %+v", key, se)
			}
			if _, err := other.Customers.Get(cu.ID, nil); stripeErr(t, err).HTTPStatusCode != http.StatusUnauthorized {
				t.Fatalf("reading a customer with %q: %v", key, err)
			}
			if _, err := other.Customers.New(&stripe.CustomerParams{}); stripeErr(t, err).HTTPStatusCode != http.StatusUnauthorized {
				t.Fatalf("creating a customer with %q: %v", key, err)
			}
		})
	}
	for name, set := range map[string]func(*http.Request){
		"no header":       func(*http.Request) {},
		"basic, wrong":    func(r *http.Request) { r.SetBasicAuth("sk_test_123", "") },
		"bearer, spaced":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer  "+testKey) },
		"basic, the key":  func(r *http.Request) { r.SetBasicAuth(testKey, "") },
		"bearer, the key": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testKey) },
	} {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/customers/"+cu.ID, nil)
		set(req)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusUnauthorized
		if name == "basic, the key" || name == "bearer, the key" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, want)
		}
	}
}

func TestOnboardingLinksAreUnguessableAndSingleUse(t *testing.T) {
	h := newHarness(t, Options{SecretKey: testKey})
	acct, err := h.sc.Accounts.New(&stripe.AccountParams{Type: stripe.String("express"), Country: stripe.String("CH")})
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := *h.srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(u string) *http.Response {
		t.Helper()
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The old link named the account: anyone who could count could onboard any account.
	for _, u := range []string{
		h.srv.URL + onboardingPath + "?" + url.Values{"account": {acct.ID}, "return_url": {"http://app.test/return"}}.Encode(),
		h.srv.URL + onboardingPath + "?link=" + acct.ID,
		h.srv.URL + onboardingPath,
	} {
		if resp := get(u); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("guessed onboarding URL %s: %d", u, resp.StatusCode)
		}
	}
	if a, _ := h.sc.Accounts.GetByID(acct.ID, nil); a.ChargesEnabled {
		t.Fatal("a guessed URL onboarded the account")
	}

	link, err := h.sc.AccountLinks.New(&stripe.AccountLinkParams{Account: stripe.String(acct.ID),
		RefreshURL: stripe.String("http://app.test/refresh"), ReturnURL: stripe.String("http://app.test/return"),
		Type: stripe.String("account_onboarding")})
	if err != nil {
		t.Fatal(err)
	}
	// A browser needs no key to open the link it was sent to.
	if resp := get(link.URL); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://app.test/return" {
		t.Fatalf("onboarding link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a, _ := h.sc.Accounts.GetByID(acct.ID, nil); !a.ChargesEnabled {
		t.Fatal("the link did not onboard the account")
	}
	// A used link sends the browser to refresh_url for a new one, as Stripe's do.
	if resp := get(link.URL); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://app.test/refresh" {
		t.Fatalf("a used link answered %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestExpiredOnboardingLinkSendsTheBrowserToRefresh(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	h := newHarness(t, Options{SecretKey: testKey, Now: clock.Now})
	acct, err := h.sc.Accounts.New(&stripe.AccountParams{Type: stripe.String("express"), Country: stripe.String("CH")})
	if err != nil {
		t.Fatal(err)
	}
	link, err := h.sc.AccountLinks.New(&stripe.AccountLinkParams{Account: stripe.String(acct.ID),
		RefreshURL: stripe.String("http://app.test/refresh"), ReturnURL: stripe.String("http://app.test/return"),
		Type: stripe.String("account_onboarding")})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(accountLinkTTL*time.Second + time.Second)
	noRedirect := *h.srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://app.test/refresh" {
		t.Fatalf("expired link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a, _ := h.sc.Accounts.GetByID(acct.ID, nil); a.ChargesEnabled {
		t.Fatal("an expired link onboarded the account")
	}
}
