package stripedouble

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func TestIdempotentReplayIsByteIdentical(t *testing.T) {
	h := newHarness(t, Options{})
	form := url.Values{"amount": {"2000"}, "currency": {"usd"}, "payment_method": {"pm_card_visa"},
		"confirm": {"true"}, "metadata[pledge]": {"p1"}}
	status1, _, body1 := h.post(t, "/v1/payment_intents", "pledge-p1-charge-1", form)
	status2, hdr2, body2 := h.post(t, "/v1/payment_intents", "pledge-p1-charge-1", form)
	if status1 != 200 || status2 != 200 || !bytes.Equal(body1, body2) {
		t.Fatalf("replay differs: %d %s / %d %s", status1, body1, status2, body2)
	}
	if hdr2.Get("Idempotent-Replayed") != "true" {
		t.Fatal("replay not marked Idempotent-Replayed")
	}
	if n := len(h.d.PaymentIntents()); n != 1 {
		t.Fatalf("%d PaymentIntents, want 1", n)
	}
	if n := len(h.d.Charges()); n != 1 {
		t.Fatalf("%d charges, want 1", n)
	}

	// A decline is stored and replayed too, 402 and all.
	declined := url.Values{"amount": {"2000"}, "currency": {"usd"}, "payment_method": {"pm_card_chargeDeclined"},
		"confirm": {"true"}, "off_session": {"true"}}
	s1, _, b1 := h.post(t, "/v1/payment_intents", "pledge-p2-charge-1", declined)
	s2, _, b2 := h.post(t, "/v1/payment_intents", "pledge-p2-charge-1", declined)
	if s1 != 402 || s2 != 402 || !bytes.Equal(b1, b2) {
		t.Fatalf("declined replay: %d / %d, equal %t", s1, s2, bytes.Equal(b1, b2))
	}
	if n := len(h.d.PaymentIntents()); n != 2 {
		t.Fatalf("%d PaymentIntents, want 2", n)
	}

	// Same key, different parameters.
	form.Set("amount", "2001")
	s3, _, b3 := h.post(t, "/v1/payment_intents", "pledge-p1-charge-1", form)
	var e struct {
		Error struct{ Type string } `json:"error"`
	}
	if err := json.Unmarshal(b3, &e); err != nil || s3 != 400 || e.Error.Type != "idempotency_error" {
		t.Fatalf("reused key: %d %s", s3, b3)
	}
	if n := len(h.d.PaymentIntents()); n != 2 {
		t.Fatalf("%d PaymentIntents after rejected reuse, want 2", n)
	}
}

func TestIdempotencyThroughStripeGo(t *testing.T) {
	h := newHarness(t, Options{})
	params := func(amount int64) *stripe.PaymentIntentParams {
		p := &stripe.PaymentIntentParams{Amount: stripe.Int64(amount), Currency: stripe.String("chf")}
		p.SetIdempotencyKey("k1")
		return p
	}
	a, err := h.sc.PaymentIntents.New(params(100))
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.sc.PaymentIntents.New(params(100))
	if err != nil || a.ID != b.ID {
		t.Fatalf("replay gave %v (%v), want %s", b, err, a.ID)
	}
	_, err = h.sc.PaymentIntents.New(params(200))
	if se := stripeErr(t, err); se.Type != stripe.ErrorTypeIdempotency || se.HTTPStatusCode != 400 {
		t.Fatalf("different params: %+v", se)
	}
	// Keys are scoped to the API key.
	other := newClient(h.srv, "sk_test_other", 0)
	c, err := other.PaymentIntents.New(params(100))
	if err != nil || c.ID == a.ID {
		t.Fatalf("other API key shares idempotency keys: %v %v", c, err)
	}
	if n := h.d.RequestCount("POST", "/v1/payment_intents"); n != 4 {
		t.Fatalf("RequestCount %d, want 4", n)
	}
	replayed := 0
	for _, r := range h.d.Requests() {
		if r.Replayed {
			replayed++
		}
	}
	if replayed != 1 {
		t.Fatalf("%d replayed requests, want 1", replayed)
	}
}

func TestConcurrentSameKeyCreatesOne(t *testing.T) {
	h := newHarness(t, Options{})
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &stripe.PaymentIntentParams{Amount: stripe.Int64(700), Currency: stripe.String("eur"),
				PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true)}
			p.SetIdempotencyKey("same")
			pi, err := h.sc.PaymentIntents.New(p)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = pi.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("different ids %v", ids)
		}
	}
	if n := len(h.d.Charges()); n != 1 {
		t.Fatalf("%d charges, want 1", n)
	}
}

func TestInvalidRequestsGetStripeMock400(t *testing.T) {
	h := newHarness(t, Options{})
	_, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Currency: stripe.String("usd")})
	se := stripeErr(t, err)
	if se.HTTPStatusCode != 400 || se.Type != stripe.ErrorTypeInvalidRequest || !strings.Contains(se.Msg, "amount") {
		t.Fatalf("missing amount: %+v", se)
	}
	status, hdr, body := h.post(t, "/v1/payment_intents", "", url.Values{"amount": {"100"}, "currency": {"usd"}, "bogus": {"1"}})
	if status != 400 || !strings.Contains(string(body), "additional properties") || hdr.Get("Stripe-Mock-Version") == "" {
		t.Fatalf("unknown parameter: %d %s", status, body)
	}
	if n := len(h.d.PaymentIntents()); n != 0 {
		t.Fatalf("%d PaymentIntents after invalid requests", n)
	}
	rejected := 0
	for _, r := range h.d.Requests() {
		if r.Rejected {
			rejected++
		}
	}
	if rejected != 2 {
		t.Fatalf("%d rejected requests recorded, want 2", rejected)
	}
	// A route stripe-mock knows but the double does not implement.
	_, err = h.sc.Products.New(&stripe.ProductParams{Name: stripe.String("x")})
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 || !strings.Contains(se.Msg, "stripedouble") {
		t.Fatalf("unimplemented endpoint: %+v", se)
	}
}

func TestIdempotencyKeysExpireAfter24Hours(t *testing.T) {
	clock := &testClock{now: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	h := newHarness(t, Options{Now: clock.Now})
	p := &stripe.CustomerParams{Email: stripe.String("a@example.com")}
	p.SetIdempotencyKey("c1")
	a, err := h.sc.Customers.New(p)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(23 * time.Hour)
	if b, err := h.sc.Customers.New(p); err != nil || b.ID != a.ID {
		t.Fatalf("within 24 h: %v %v", b, err)
	}
	clock.Advance(2 * time.Hour)
	c, err := h.sc.Customers.New(p)
	if err != nil || c.ID == a.ID {
		t.Fatalf("after 24 h the key must be new again: %v %v", c, err)
	}
}
