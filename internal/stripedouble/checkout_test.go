package stripedouble

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

// browser drives a hosted checkout page over HTTP without following redirects, so tests see
// the 303 to success_url.
type browser struct{ c *http.Client }

func newBrowser() browser {
	return browser{c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b browser) do(t *testing.T, method, target string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(page)
}

func (h *harness) setupSession(t *testing.T, cus string) *stripe.CheckoutSession {
	t.Helper()
	p := &stripe.CheckoutSessionParams{
		Mode:               stripe.String(string(stripe.CheckoutSessionModeSetup)),
		Customer:           stripe.String(cus),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		SuccessURL:         stripe.String("https://shop.example/pledges/p1/thanks?session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:          stripe.String("https://shop.example/campaigns/c/pledge"),
		SetupIntentData:    &stripe.CheckoutSessionSetupIntentDataParams{Metadata: map[string]string{"pledge_id": "p1"}},
	}
	p.AddMetadata("pledge_id", "p1")
	cs, err := h.sc.CheckoutSessions.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func (h *harness) paymentSession(t *testing.T, cus string) *stripe.CheckoutSession {
	t.Helper()
	p := &stripe.CheckoutSessionParams{
		Mode:               stripe.String(string(stripe.CheckoutSessionModePayment)),
		Customer:           stripe.String(cus),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		SuccessURL:         stripe.String("https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:          stripe.String("https://shop.example/back"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{Currency: stripe.String("chf"), UnitAmount: stripe.Int64(4500),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Dyeing workshop")}},
		}},
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{TransferGroup: stripe.String("cam_1"),
			Metadata: map[string]string{"pledge_id": "p2"}},
	}
	cs, err := h.sc.CheckoutSessions.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestCheckoutSetupSavesTheCardAndRedirects(t *testing.T) {
	h := newHarness(t, Options{})
	cu := h.customer(t)
	cs := h.setupSession(t, cu.ID)
	if cs.Status != stripe.CheckoutSessionStatusOpen || cs.SetupIntent == nil || cs.URL == "" || cs.Metadata["pledge_id"] != "p1" {
		t.Fatalf("new session: %+v", cs)
	}
	if !strings.HasPrefix(cs.URL, h.srv.URL+checkoutPath) {
		t.Fatalf("hosted page %q is not on the double's own address %s", cs.URL, h.srv.URL)
	}
	if exp := cs.ExpiresAt - cs.Created; exp != checkoutMaxTTL {
		t.Fatalf("default expiry %d s after creation, want 24 h", exp)
	}
	b := newBrowser()
	status, _, page := b.do(t, http.MethodGet, cs.URL, nil)
	if status != http.StatusOK || !strings.Contains(page, `name="card_number"`) || !strings.Contains(page, "nothing is charged today") {
		t.Fatalf("GET hosted page: %d\n%s", status, page)
	}
	status, loc, _ := b.do(t, http.MethodPost, cs.URL, url.Values{"card_number": {"4242 4242 4242 4242"}})
	if status != http.StatusSeeOther || loc != "https://shop.example/pledges/p1/thanks?session_id="+cs.ID {
		t.Fatalf("pay: %d → %q", status, loc)
	}
	got, err := h.sc.CheckoutSessions.Get(cs.ID, &stripe.CheckoutSessionParams{Params: stripe.Params{Expand: stripe.StringSlice([]string{"setup_intent"})}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != stripe.CheckoutSessionStatusComplete || got.URL != "" || got.SetupIntent.Status != stripe.SetupIntentStatusSucceeded {
		t.Fatalf("after paying: session %s, setup intent %+v", got.Status, got.SetupIntent)
	}
	pm, err := h.sc.PaymentMethods.Get(got.SetupIntent.PaymentMethod.ID, nil)
	if err != nil || pm.Customer == nil || pm.Customer.ID != cu.ID || pm.Card.Last4 != "4242" {
		t.Fatalf("saved card: %+v %v", pm, err)
	}
	if got.SetupIntent.Metadata["pledge_id"] != "p1" {
		t.Fatalf("setup_intent_data metadata lost: %v", got.SetupIntent.Metadata)
	}
	if types := eventTypes(h.d); !containsAll(types, "setup_intent.succeeded", "checkout.session.completed", "payment_method.attached") {
		t.Fatalf("events %v", types)
	}
	// The page of a completed session sends the browser on again, as Stripe does.
	if status, loc, _ := b.do(t, http.MethodGet, cs.URL, nil); status != http.StatusSeeOther || !strings.Contains(loc, cs.ID) {
		t.Fatalf("revisit completed page: %d %q", status, loc)
	}
}

func TestCheckoutPaymentDeclineThenSuccess(t *testing.T) {
	h := newHarness(t, Options{})
	cu := h.customer(t)
	cs := h.paymentSession(t, cu.ID)
	if cs.AmountTotal != 4500 || cs.Currency != "chf" || cs.PaymentIntent != nil || cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusUnpaid {
		t.Fatalf("new payment session: %+v", cs)
	}
	b := newBrowser()
	status, _, page := b.do(t, http.MethodPost, cs.URL, url.Values{"test_card": {"4000000000000002"}})
	if status != http.StatusPaymentRequired || !strings.Contains(page, "Your card was declined.") || !strings.Contains(page, `role="alert"`) {
		t.Fatalf("declined card: %d\n%s", status, page)
	}
	got, err := h.sc.CheckoutSessions.Get(cs.ID, nil)
	if err != nil || got.Status != stripe.CheckoutSessionStatusOpen {
		t.Fatalf("a decline must leave the session open: %+v %v", got, err)
	}
	status, _, _ = b.do(t, http.MethodPost, cs.URL, url.Values{"card_number": {"1234"}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("a mistyped number: %d", status)
	}
	status, loc, _ := b.do(t, http.MethodPost, cs.URL, url.Values{"test_card": {"4242424242424242"}})
	if status != http.StatusSeeOther || loc != "https://shop.example/thanks?session_id="+cs.ID {
		t.Fatalf("pay: %d → %q", status, loc)
	}
	got, err = h.sc.CheckoutSessions.Get(cs.ID, &stripe.CheckoutSessionParams{Params: stripe.Params{Expand: stripe.StringSlice([]string{"payment_intent"})}})
	if err != nil {
		t.Fatal(err)
	}
	pi := got.PaymentIntent
	if got.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid || pi.Status != stripe.PaymentIntentStatusSucceeded ||
		pi.Amount != 4500 || pi.TransferGroup != "cam_1" || pi.Metadata["pledge_id"] != "p2" || pi.Customer.ID != cu.ID {
		t.Fatalf("paid session %s, intent %+v", got.PaymentStatus, pi)
	}
	if types := eventTypes(h.d); !containsAll(types, "payment_intent.payment_failed", "charge.failed", "charge.succeeded",
		"payment_intent.succeeded", "checkout.session.completed") {
		t.Fatalf("events %v", types)
	}
	charges, n := h.sc.Charges.List(&stripe.ChargeListParams{PaymentIntent: stripe.String(pi.ID)}), 0
	for charges.Next() {
		if charges.Charge().Status == stripe.ChargeStatusSucceeded {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d successful charges, want 1", n)
	}
}

func TestCheckoutThreeDSecure(t *testing.T) {
	for _, mode := range []string{"setup", "payment"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, Options{})
			cu := h.customer(t)
			cs := h.setupSession(t, cu.ID)
			if mode == "payment" {
				cs = h.paymentSession(t, cu.ID)
			}
			b := newBrowser()
			status, _, page := b.do(t, http.MethodPost, cs.URL, url.Values{"test_card": {"4000002760003184"}})
			if status != http.StatusOK || !strings.Contains(page, "3-D Secure") {
				t.Fatalf("3DS card: %d\n%s", status, page)
			}
			status, _, page = b.do(t, http.MethodPost, cs.URL+"/3ds", url.Values{"outcome": {"fail"}})
			if status != http.StatusPaymentRequired || !strings.Contains(page, "unable to authenticate") {
				t.Fatalf("failed challenge: %d\n%s", status, page)
			}
			if got, _ := h.sc.CheckoutSessions.Get(cs.ID, nil); got.Status != stripe.CheckoutSessionStatusOpen {
				t.Fatalf("failed authentication must leave the session open, got %s", got.Status)
			}
			// Approving with nothing waiting is refused rather than completing the session.
			if status, _, _ := b.do(t, http.MethodPost, cs.URL+"/3ds", url.Values{"outcome": {"approve"}}); status != http.StatusConflict {
				t.Fatalf("approve with no challenge: %d", status)
			}
			b.do(t, http.MethodPost, cs.URL, url.Values{"test_card": {"4000002760003184"}})
			status, loc, _ := b.do(t, http.MethodPost, cs.URL+"/3ds", url.Values{"outcome": {"approve"}})
			if status != http.StatusSeeOther || !strings.Contains(loc, cs.ID) {
				t.Fatalf("approved challenge: %d %q", status, loc)
			}
			if got, _ := h.sc.CheckoutSessions.Get(cs.ID, nil); got.Status != stripe.CheckoutSessionStatusComplete {
				t.Fatalf("after approval: %s", got.Status)
			}
		})
	}
}

func TestCheckoutExpiry(t *testing.T) {
	clock := &testClock{now: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
	h := newHarness(t, Options{Now: clock.Now})
	cu := h.customer(t)
	b := newBrowser()

	cs := h.setupSession(t, cu.ID)
	expired, err := h.sc.CheckoutSessions.Expire(cs.ID, nil)
	if err != nil || expired.Status != stripe.CheckoutSessionStatusExpired || expired.URL != "" {
		t.Fatalf("expire: %+v %v", expired, err)
	}
	if status, _, page := b.do(t, http.MethodPost, cs.URL, url.Values{"test_card": {"4242424242424242"}}); status != http.StatusGone ||
		!strings.Contains(page, "expired") {
		t.Fatalf("paying an expired session: %d", status)
	}
	if _, err := h.sc.CheckoutSessions.Expire(cs.ID, nil); stripeErr(t, err).HTTPStatusCode != http.StatusBadRequest {
		t.Fatalf("expiring twice: %v", err)
	}

	p := &stripe.CheckoutSessionParams{Mode: stripe.String("setup"), Customer: stripe.String(cu.ID),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}), SuccessURL: stripe.String("https://shop.example/ok"),
		ExpiresAt: stripe.Int64(clock.Now().Add(45 * time.Minute).Unix())}
	short, err := h.sc.CheckoutSessions.New(p)
	if err != nil {
		t.Fatal(err)
	}
	p.ExpiresAt = stripe.Int64(clock.Now().Add(10 * time.Minute).Unix())
	if _, err := h.sc.CheckoutSessions.New(p); stripeErr(t, err).Param != "expires_at" {
		t.Fatalf("expires_at under 30 minutes: %v", err)
	}
	clock.Advance(46 * time.Minute)
	got, err := h.sc.CheckoutSessions.Get(short.ID, nil)
	if err != nil || got.Status != stripe.CheckoutSessionStatusExpired {
		t.Fatalf("past expires_at: %+v %v", got, err)
	}
	if types := eventTypes(h.d); !containsAll(types, "checkout.session.expired") {
		t.Fatalf("events %v", types)
	}

	open := h.setupSession(t, cu.ID)
	it := h.sc.CheckoutSessions.List(&stripe.CheckoutSessionListParams{Customer: stripe.String(cu.ID), Status: stripe.String("open")})
	var ids []string
	for it.Next() {
		ids = append(ids, it.CheckoutSession().ID)
	}
	if it.Err() != nil || len(ids) != 1 || ids[0] != open.ID {
		t.Fatalf("open sessions %v (%v), want [%s]", ids, it.Err(), open.ID)
	}
}

func TestCheckoutRequestsAreValidated(t *testing.T) {
	h := newHarness(t, Options{})
	status, _, _ := h.post(t, "/v1/checkout/sessions", "", url.Values{"mode": {"setup"}, "success_url": {"https://x"}, "no_such_param": {"1"}})
	if status != http.StatusBadRequest {
		t.Fatalf("unknown parameter: %d", status)
	}
	if r := h.d.Requests(); !r[len(r)-1].Rejected {
		t.Fatalf("stripe-mock did not reject it: %+v", r[len(r)-1])
	}
	if _, err := h.sc.CheckoutSessions.New(&stripe.CheckoutSessionParams{Mode: stripe.String("payment"),
		SuccessURL: stripe.String("https://x")}); stripeErr(t, err).Param != "line_items" {
		t.Fatalf("payment mode without line items: %v", err)
	}
	if status, _, _ := newBrowser().do(t, http.MethodGet, h.srv.URL+checkoutPath+"guess", nil); status != http.StatusNotFound {
		t.Fatalf("a guessed page: %d", status)
	}
}

// The hosted page speaks the session's locale as Stripe Checkout does: French for fr, English
// for anything else, its declines included.
func TestCheckoutPageSpeaksTheSessionLocale(t *testing.T) {
	h := newHarness(t, Options{})
	cu := h.customer(t)
	for _, tc := range []struct {
		locale, lang string
		want         []string
	}{
		{"fr", "fr", []string{"Enregistrez votre carte", `<label for="card_number">Numéro de carte</label>`, ">Enregistrer la carte</button>",
			"← Retour, sans payer", "4000 0000 0000 0002 — refusée", "Votre carte a été refusée."}},
		{"en", "en", []string{"Save your card", `<label for="card_number">Card number</label>`, ">Save card</button>",
			"← Back, without paying", "4000 0000 0000 0002 — declined", "Your card was declined."}},
		{"", "en", []string{"Save your card", ">Save card</button>", "Your card was declined."}},
	} {
		p := &stripe.CheckoutSessionParams{
			Mode: stripe.String(string(stripe.CheckoutSessionModeSetup)), Customer: stripe.String(cu.ID),
			PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
			SuccessURL:         stripe.String("https://shop.example/pledges/p1/thanks?session_id={CHECKOUT_SESSION_ID}"),
			CancelURL:          stripe.String("https://shop.example/campaigns/c/pledge"),
		}
		if tc.locale != "" {
			p.Locale = stripe.String(tc.locale)
		}
		cs, err := h.sc.CheckoutSessions.New(p)
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser()
		_, _, page := b.do(t, http.MethodGet, cs.URL, nil)
		status, _, declined := b.do(t, http.MethodPost, cs.URL, url.Values{"test_card": {"4000000000000002"}})
		if status != http.StatusPaymentRequired {
			t.Fatalf("locale %q: declined card answered %d", tc.locale, status)
		}
		all := page + declined
		if !strings.Contains(page, `<html lang="`+tc.lang+`">`) {
			t.Errorf("locale %q: page is not lang=%s", tc.locale, tc.lang)
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("locale %q: page lacks %q", tc.locale, w)
			}
		}
	}
}
