//go:build !production

package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func chf(amount int) map[string]any { return map[string]any{"amount": amount, "currency": "CHF"} }

// collectedFlexible makes a flexible pledge of amount without reward and pays it: collected.
func (s *service) collectedFlexible(c pledgeSetup, amount int, key string) (id, token string) {
	s.t.Helper()
	p := s.pledge(c.slug, map[string]any{"amount": chf(amount), "backer": map[string]any{"email": "flex@example.com", "name": "Flex"}}, key).JSON(s.t)
	id, token = p["id"].(string), p["manage_token"].(string)
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 || r.JSON(s.t)["status"] != "collected" {
		s.t.Fatalf("pay the flexible pledge: %d %s", r.Status, r.Body)
	}
	// The payment's webhook races the answer, and whichever records the payment first writes
	// what it owes (the confirmation): wait for it, so that the pledge's consequences are all
	// in the store when the test goes on (a relay tick right after, say).
	s.waitWebhooks()
	return id, token
}

func amountRefunded(t *testing.T, r response) float64 {
	t.Helper()
	m, _ := r.JSON(t)["amount_refunded"].(map[string]any)
	got, _ := m["amount"].(float64)
	return got
}

// Eight admins refund 30.00 of a 100.00 pledge at once: three refunds fit, and only three reach
// Stripe; the others are told, before Stripe is asked, that the amount exceeds what is left.
func TestConcurrentPartialRefundsNeverExceedTheCharge(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 10)
	id, _ := s.collectedFlexible(c, 10000, "flex-refunds")
	admin := s.admin()

	results := make([]response, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i] = s.call("POST", "/api/v1/admin/pledges/"+id+"/refunds", admin,
				map[string]any{"amount": chf(3000), "reason": "Hood missing"}, "Idempotency-Key", fmt.Sprint("concurrent-", i))
		})
	}
	wg.Wait()
	var running []float64
	for _, r := range results {
		switch {
		case r.Status == 201:
			running = append(running, amountRefunded(t, r))
		case r.Status == 422 && r.JSON(t)["code"] == "refund_exceeds_remaining":
		default:
			t.Errorf("concurrent refund → %d %s", r.Status, r.Body)
		}
	}
	slices.Sort(running)
	if !slices.Equal(running, []float64{3000, 6000, 9000}) {
		t.Fatalf("amount_refunded in the 201 answers: %v, want 3000, 6000 and 9000", running)
	}
	var atStripe int64
	for _, rf := range s.double().Refunds() {
		atStripe += rf.Amount
	}
	if n := len(s.double().Refunds()); n != 3 || atStripe != 9000 {
		t.Fatalf("Stripe holds %d refunds of %d in all, want 3 of 9000", n, atStripe)
	}
	s.waitWebhooks()
	if p := s.must(200, "GET", "/api/v1/admin/pledges/"+id, admin, nil); p["status"] != "partially_refunded" ||
		p["amount_refunded"].(map[string]any)["amount"] != float64(9000) {
		t.Fatalf("pledge after the refunds: %v", p)
	}
	// What is left is still refundable, in the pledge's currency only.
	if r := s.call("POST", "/api/v1/admin/pledges/"+id+"/refunds", admin, map[string]any{"amount": map[string]any{"amount": 1000, "currency": "EUR"},
		"reason": "wrong currency"}, "Idempotency-Key", "eur"); r.Status != 422 || r.JSON(t)["code"] != "currency_mismatch" {
		t.Fatalf("refund in another currency: %d %s", r.Status, r.Body)
	}
	if r := s.call("POST", "/api/v1/admin/pledges/"+id+"/refunds", admin, map[string]any{"amount": 3000, "reason": "bare number"},
		"Idempotency-Key", "bare"); r.Status != 422 {
		t.Fatalf("refund amount as a bare number: %d %s", r.Status, r.Body)
	}
	if r := s.call("POST", "/api/v1/admin/pledges/"+id+"/refunds", admin, map[string]any{"amount": chf(1000), "reason": "the rest"},
		"Idempotency-Key", "rest"); r.Status != 201 || amountRefunded(t, r) != 10000 || r.JSON(t)["status"] != "refunded" {
		t.Fatalf("refund of the rest: %d %s", r.Status, r.Body)
	}
}

// Stripe refusing a refund (it knows of a dashboard refund whose webhook has not arrived) is a
// 4xx carrying Stripe's code, not a 500.
func TestStripeRefusingARefundIsAClientError(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 10)
	id, _ := s.collectedFlexible(c, 10000, "flex-refused")
	s.waitWebhooks()
	admin := s.admin()
	p, err := s.store.FindPledge(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	s.double().SetWebhook("", s.app.WebhookSecret())
	if _, err := s.double().DashboardRefund(p.ChargeID, 8000); err != nil {
		t.Fatal(err)
	}
	r := s.call("POST", "/api/v1/admin/pledges/"+id+"/refunds", admin, map[string]any{"amount": chf(5000), "reason": "Late"}, "Idempotency-Key", "late")
	if body := r.JSON(t); r.Status != 422 || body["code"] != "payment_provider_rejected" || body["provider_code"] != "amount_too_large" {
		t.Fatalf("refund Stripe refuses: %d %s", r.Status, r.Body)
	}
}

// Offline, the Stripe double keeps its objects in memory: after a restart (here: another
// instance, with a double of its own) a pledge started before cannot be confirmed. The backer
// is told so, with what to do, in a 409.
func TestConfirmingAPledgeStripeForgotIsAConflict(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "before-restart").JSON(t)
	restarted := s.secondInstance(nil)
	r := restarted.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"})
	body := r.JSON(t)
	if r.Status != 409 || body["code"] != "payment_provider_object_missing" || body["provider_code"] != "resource_missing" ||
		!strings.Contains(body["detail"].(string), "pledge again") {
		t.Fatalf("confirm after the double lost its objects: %d %s", r.Status, r.Body)
	}
}

// Settling a campaign before its deadline is refused as not due, and leaves no audit entry.
func TestSettleBeforeTheDeadlineIsNotDue(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	admin := s.admin()
	r := s.call("POST", "/api/v1/admin/campaigns/"+c.id+"/settle", admin, nil)
	if r.Status != 409 || r.JSON(t)["code"] != "not_due" {
		t.Fatalf("settle before the deadline: %d %s", r.Status, r.Body)
	}
	if log := s.must(200, "GET", "/api/v1/admin/audit-log?action=campaign.settle", admin, nil); len(log["entries"].([]any)) != 0 {
		t.Fatalf("a settlement that did nothing was audited: %v", log["entries"])
	}
	if st := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)["status"]; st != "live" {
		t.Fatalf("campaign after an early settle: %v", st)
	}
}

// Stripe sends the designer back to the return URL after onboarding, and to the refresh URL when
// the link expired: the first shows a page, the second redirects to a fresh link, and only when
// the service made the URL.
func TestConnectOnboardingReturnAndRefreshURLsAnswer(t *testing.T) {
	s := startService(t, nil)
	owner, _ := s.designer("Payee")
	link := s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", owner, nil)["url"].(string)
	links := s.double().RequestCount("POST", "/v1/account_links")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := noFollow.Get(s.base + "/payouts/done")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("return URL: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}

	refresh := s.refreshURLOf(link)
	if ret, _, _ := s.double().AccountLinkURLs(link); !strings.HasSuffix(ret, "/payouts/done") {
		t.Fatalf("onboarding link does not return to /payouts/done: %s", ret)
	}
	res, err = noFollow.Get(s.base + refresh.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), strings.SplitN(link, "?", 2)[0]) {
		t.Fatalf("refresh URL: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	if s.double().RequestCount("POST", "/v1/account_links") != links+1 {
		t.Fatal("the refresh made no new account link")
	}
	// Someone else's account, or a tampered expiry, gets no link.
	q := refresh.Query()
	q.Set("account", "acct_someone_else")
	if r := s.call("GET", "/payouts/refresh?"+q.Encode(), "", nil); r.Status != 403 {
		t.Fatalf("refresh for another account: %d %s", r.Status, r.Body)
	}
	q = refresh.Query()
	q.Set("expires", "99999999999")
	if r := s.call("GET", "/payouts/refresh?"+q.Encode(), "", nil); r.Status != 403 {
		t.Fatalf("refresh with a longer expiry: %d %s", r.Status, r.Body)
	}
}

// refreshURLOf reads the refresh URL the service gave Stripe for the onboarding link.
func (s *service) refreshURLOf(link string) *url.URL {
	t := s.t
	t.Helper()
	_, raw, _ := s.double().AccountLinkURLs(link)
	refresh, err := url.Parse(raw)
	if err != nil || refresh.Path != "/payouts/refresh" {
		t.Fatalf("onboarding link without a refresh URL: %q %v", link, err)
	}
	return refresh
}
