//go:build !production

package app_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// checkoutPledge creates a workshop pledge the way the pledge form does (Stripe Checkout makes
// the intent) and opens its Checkout Session.
func (s *service) checkoutPledge(c pledgeSetup, scope string) (pledge.Created, string) {
	s.t.Helper()
	ctx := context.Background()
	svc := s.app.Pledges()
	created, err := svc.Create(ctx, pledge.Origin{Scope: scope, RequestHash: "h", Checkout: true}, c.slug, pledge.Request{
		TierID: c.workshop, Amount: &money.Money{Amount: 9000, Currency: "CHF"},
		Backer: &pledge.Backer{Email: "backer@example.com", Name: "Bea Backer"}})
	if err != nil {
		s.t.Fatal(err)
	}
	page, err := svc.StartCheckout(ctx, created.Pledge.ID, created.ManageToken, pledge.CheckoutStart{
		SuccessURL: s.base + "/pledges/" + created.Pledge.ID + "/thanks?session_id={CHECKOUT_SESSION_ID}",
		CancelURL:  s.base + "/campaigns/" + c.slug + "/pledge", Locale: "en", Item: "Workshop"})
	if err != nil {
		s.t.Fatal(err)
	}
	return created, page
}

// payOnCheckout submits a card on the hosted checkout page, as a browser would, and returns the
// status and where it redirects.
func payOnCheckout(t *testing.T, page string, form url.Values) (int, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(page, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location")
}

func (s *service) findPledge(id string) pledge.Pledge {
	s.t.Helper()
	p, err := s.store.FindPledge(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func TestCheckoutSavesTheCardOfAnAllOrNothingPledge(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 5)
	// Every event comes twice and some overtake others: the pledge must end up the same.
	s.double().SetWebhookFaults(stripedouble.WebhookFaults{DuplicateRate: 1, ReorderRate: 0.5})
	created, page := s.checkoutPledge(c, "aon")
	if p := s.findPledge(created.Pledge.ID); p.CustomerID == "" || p.SetupIntentID == "" || p.CheckoutSessionID == "" || p.ClientSecret != "" {
		t.Fatalf("pledge before paying: %+v", p)
	}
	if n := len(s.double().PaymentIntents()); n != 0 {
		t.Fatalf("%d PaymentIntents for an all-or-nothing pledge", n)
	}
	status, loc := payOnCheckout(t, page, url.Values{"test_card": {"4242424242424242"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, s.base+"/pledges/"+created.Pledge.ID+"/thanks?session_id=cs_test_") {
		t.Fatalf("pay: %d %q", status, loc)
	}
	s.waitWebhooks()
	p := s.findPledge(created.Pledge.ID)
	if p.Status != pledge.StatusActive || p.PaymentMethodID == "" {
		t.Fatalf("after Checkout: %s, card %q", p.Status, p.PaymentMethodID)
	}
	if len(p.History) != 1 {
		t.Fatalf("duplicate events moved the pledge %d times: %+v", len(p.History), p.History)
	}
	if n := len(s.double().Charges()); n != 0 {
		t.Fatalf("all-or-nothing checkout charged %d times", n)
	}
	camp := s.must(200, "GET", "/api/v1/campaigns/"+c.slug, "", nil)
	if got := camp["backers_count"]; got != float64(1) {
		t.Fatalf("backers %v, want 1", got)
	}
}

func TestCheckoutChargesAFlexiblePledgeOnce(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 5)
	created, first := s.checkoutPledge(c, "flex")
	// The backer goes back from Checkout and submits again: the first page can no longer be paid.
	second, err := s.app.Pledges().StartCheckout(context.Background(), created.Pledge.ID, created.ManageToken, pledge.CheckoutStart{
		SuccessURL: s.base + "/ok", CancelURL: s.base + "/back", Item: "Workshop"})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := payOnCheckout(t, first, url.Values{"test_card": {"4242424242424242"}}); status != http.StatusGone {
		t.Fatalf("paying the replaced session: %d", status)
	}
	if status, _ := payOnCheckout(t, second, url.Values{"test_card": {"4000000000000002"}}); status != http.StatusPaymentRequired {
		t.Fatalf("declined card: %d", status)
	}
	if status, _ := payOnCheckout(t, second, url.Values{"test_card": {"4242424242424242"}}); status != http.StatusSeeOther {
		t.Fatalf("pay: %d", status)
	}
	s.waitWebhooks()
	p := s.findPledge(created.Pledge.ID)
	pis := s.double().PaymentIntents()
	if p.Status != pledge.StatusCollected || len(pis) != 1 || p.PaymentIntentID != pis[0].ID || p.ChargeID == "" || p.StripeFee == 0 {
		t.Fatalf("after Checkout: %+v; intents %d", p, len(pis))
	}
	if pis[0].Amount != 9000 || pis[0].TransferGroup != c.id {
		t.Fatalf("charged %d, transfer group %q", pis[0].Amount, pis[0].TransferGroup)
	}
	// A third start after paying makes no session: the pledge is paid.
	if _, err := s.app.Pledges().StartCheckout(context.Background(), created.Pledge.ID, created.ManageToken, pledge.CheckoutStart{
		SuccessURL: s.base + "/ok", CancelURL: s.base + "/back"}); backstitch.ErrorCode(err) != backstitch.CodeInvalidState {
		t.Fatalf("checkout of a paid pledge: %v", err)
	}
	// Cancelling refunds the PaymentIntent Checkout made.
	if _, err := s.app.Pledges().Cancel(context.Background(), created.Pledge.ID, created.ManageToken); err != nil {
		t.Fatal(err)
	}
	if r := s.double().Refunds(); len(r) != 1 || r[0].PaymentIntent.ID != pis[0].ID || r[0].Amount != 9000 {
		t.Fatalf("refunds %+v", r)
	}
}

func TestReturningFromCheckoutConfirmsWithoutTheWebhook(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 5)
	s.double().SetWebhookFaults(stripedouble.WebhookFaults{DropRate: 1})
	created, page := s.checkoutPledge(c, "sync")
	_, loc := payOnCheckout(t, page, url.Values{"test_card": {"4242424242424242"}})
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	svc := s.app.Pledges()
	// Another session id in the address is not asked about.
	if p, err := svc.CheckoutReturned(context.Background(), created.Pledge.ID, created.ManageToken, "cs_test_other"); err != nil || p.Status != pledge.StatusPending {
		t.Fatalf("foreign session: %s %v", p.Status, err)
	}
	if _, err := svc.CheckoutReturned(context.Background(), created.Pledge.ID, "wrong", u.Query().Get("session_id")); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("wrong manage token: %v", err)
	}
	p, err := svc.CheckoutReturned(context.Background(), created.Pledge.ID, created.ManageToken, u.Query().Get("session_id"))
	if err != nil || p.Status != pledge.StatusActive || p.PaymentMethodID == "" {
		t.Fatalf("returned from Checkout: %+v %v", p, err)
	}
}

func TestAnEndedPledgeCannotBePaidOnCheckout(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 5)
	created, page := s.checkoutPledge(c, "ended")
	if _, err := s.app.Pledges().Cancel(context.Background(), created.Pledge.ID, created.ManageToken); err != nil {
		t.Fatal(err)
	}
	if status, _ := payOnCheckout(t, page, url.Values{"test_card": {"4242424242424242"}}); status != http.StatusGone {
		t.Fatalf("paying the checkout of a cancelled pledge: %d", status)
	}
	if n := len(s.double().Charges()); n != 0 {
		t.Fatalf("%d charges for a cancelled pledge", n)
	}
}

// A flexible backer pays on Checkout and never comes back; every webhook is lost. When her hold
// runs out, the sweeper finds the session paid and records the payment instead of expiring the
// pledge (which would have kept her money for a reward she no longer holds). A backer who never
// paid has her session expired first, so the page left open can no longer take her money.
func TestHoldExpiryFindsACheckoutPaidMeanwhile(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	c := s.pledgeSetup("flexible", 5)
	s.double().SetWebhookFaults(stripedouble.WebhookFaults{DropRate: 1})
	paid, paidPage := s.checkoutPledge(c, "paid-late")
	unpaid, unpaidPage := s.checkoutPledge(c, "never-paid")
	if status, _ := payOnCheckout(t, paidPage, url.Values{"test_card": {"4242424242424242"}}); status != http.StatusSeeOther {
		t.Fatalf("pay: %d", status)
	}
	s.waitWebhooks()
	if p := s.findPledge(paid.Pledge.ID); p.Status != pledge.StatusPending {
		t.Fatalf("the lost webhook reached the pledge anyway: %s", p.Status)
	}
	s.clock.Advance(2 * time.Hour)
	s.app.SweepPledges(ctx)
	if p := s.findPledge(paid.Pledge.ID); p.Status != pledge.StatusCollected || p.PaymentIntentID == "" {
		t.Fatalf("paid on Checkout, after the hold: %s (intent %q)", p.Status, p.PaymentIntentID)
	}
	if p := s.findPledge(unpaid.Pledge.ID); p.Status != pledge.StatusExpired {
		t.Fatalf("never paid, after the hold: %s", p.Status)
	}
	if status, _ := payOnCheckout(t, unpaidPage, url.Values{"test_card": {"4242424242424242"}}); status != http.StatusGone {
		t.Fatalf("paying the checkout of an expired pledge: %d", status)
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 9000 || backers != 1 {
		t.Fatalf("totals: %v from %v backers, want 90.00 from 1", pledged, backers)
	}
}
