//go:build !production

package app_test

import (
	"net/http"
	"strings"
	"testing"
)

// In offline mode the Stripe double listens on a loopback port that every local user can reach:
// its API must answer the service's own client only, while the pages it sends a browser to stay
// open to whoever holds the link.
func TestOfflineStripeDoubleAnswersOnlyTheServicesKey(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PUBLIC_URL": "http://backstitch.test"})
	key := s.app.StripeSecretKey()
	s.secret(key)
	if !strings.HasPrefix(key, "sk_test_") || len(key) < len("sk_test_")+20 {
		t.Fatalf("offline Stripe key %q is not a generated secret", key)
	}
	get := func(url, auth string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, auth := range []string{"", "Bearer sk_test_123", "Bearer sk_test_offline", "Bearer pk_test_offline"} {
		if code := get(s.app.StripeURL()+"/v1/customers", auth); code != http.StatusUnauthorized {
			t.Errorf("the double listed customers for %q: %d, want 401", auth, code)
		}
	}
	if code := get(s.app.StripeURL()+"/v1/customers", "Bearer "+key); code != http.StatusOK {
		t.Fatalf("the service's own key: %d", code)
	}

	// Connect onboarding, a browser page: reachable by its link alone, which names no account.
	owner, _ := s.designer("onboarding")
	onboard := s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", owner, nil)
	link := onboard["url"].(string)
	if strings.Contains(link, "acct_") {
		t.Fatalf("onboarding link %s names the account", link)
	}
	if code := get(link, ""); code != http.StatusSeeOther {
		t.Fatalf("opening the onboarding link in a browser: %d", code)
	}
	if a := s.double().Accounts(); len(a) != 1 || !a[0].ChargesEnabled {
		t.Fatalf("onboarding through the link did not complete: %+v", a)
	}
}
