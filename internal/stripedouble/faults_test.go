package stripedouble

import (
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func chargeParams(key string) *stripe.PaymentIntentParams {
	p := &stripe.PaymentIntentParams{Amount: stripe.Int64(900), Currency: stripe.String("usd"),
		PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true)}
	p.SetIdempotencyKey(key)
	return p
}

func TestFaultModes(t *testing.T) {
	cases := []struct {
		mode          FaultMode
		appliedOnFail int // PaymentIntents right after the failed call
		retryStatus   int // what a retry with the same key gets
	}{
		{FaultRejected, 0, http.StatusOK},
		{FaultResponseLost, 1, http.StatusOK},
		{FaultStoredError, 1, http.StatusInternalServerError},
	}
	for _, tc := range cases {
		h := newHarness(t, Options{})
		h.d.SetFaults(Faults{ErrorRate: 1, ErrorMode: tc.mode})
		_, err := h.sc.PaymentIntents.New(chargeParams("k"))
		if se := stripeErr(t, err); se.HTTPStatusCode != 500 || se.Type != stripe.ErrorTypeAPI {
			t.Fatalf("mode %d: injected error %+v", tc.mode, se)
		}
		if n := len(h.d.PaymentIntents()); n != tc.appliedOnFail {
			t.Fatalf("mode %d: %d PaymentIntents after the 500, want %d", tc.mode, n, tc.appliedOnFail)
		}
		h.d.SetFaults(Faults{})
		pi, err := h.sc.PaymentIntents.New(chargeParams("k"))
		switch tc.retryStatus {
		case http.StatusOK:
			if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
				t.Fatalf("mode %d: retry %v %v", tc.mode, pi, err)
			}
		default:
			if se := stripeErr(t, err); se.HTTPStatusCode != tc.retryStatus {
				t.Fatalf("mode %d: retry %+v", tc.mode, se)
			}
		}
		if n := len(h.d.Charges()); n != 1 {
			t.Fatalf("mode %d: %d charges, want exactly 1", tc.mode, n)
		}
	}
}

// A Stripe that is down answers 500 to a request it would otherwise replay from its idempotency
// store: during an outage a retry with the same key learns nothing, and after it the stored
// answer (the one charge) comes back.
func TestFaultsStrikeReplaysToo(t *testing.T) {
	h := newHarness(t, Options{})
	first, err := h.sc.PaymentIntents.New(chargeParams("outage"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []FaultMode{FaultRejected, FaultResponseLost, FaultStoredError} {
		h.d.SetFaults(Faults{ErrorRate: 1, ErrorMode: mode})
		if _, err := h.sc.PaymentIntents.New(chargeParams("outage")); stripeErr(t, err).HTTPStatusCode != 500 {
			t.Fatalf("mode %d: a replay during the outage: %v, want 500", mode, err)
		}
	}
	h.d.SetFaults(Faults{})
	again, err := h.sc.PaymentIntents.New(chargeParams("outage"))
	if err != nil || again.ID != first.ID || len(h.d.Charges()) != 1 {
		t.Fatalf("after the outage: %v %v with %d charges, want %s and one charge", again, err, len(h.d.Charges()), first.ID)
	}
}

func TestRateLimitAndLatency(t *testing.T) {
	h := newHarness(t, Options{})
	h.d.SetFaults(Faults{RateLimitRate: 1, Match: func(method, path string) bool {
		return method == http.MethodPost && path == "/v1/payment_intents"
	}})
	_, err := h.sc.PaymentIntents.New(chargeParams("rl"))
	if se := stripeErr(t, err); se.HTTPStatusCode != 429 || se.Code != stripe.ErrorCodeRateLimit {
		t.Fatalf("rate limit: %+v", se)
	}
	if _, err := h.sc.Customers.New(&stripe.CustomerParams{}); err != nil {
		t.Fatalf("unmatched request failed: %v", err)
	}
	h.d.SetFaults(Faults{Latency: 40 * time.Millisecond})
	start := time.Now()
	pi, err := h.sc.PaymentIntents.New(chargeParams("rl"))
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("after rate limit, same key: %v %v", pi, err)
	}
	if took := time.Since(start); took < 40*time.Millisecond {
		t.Fatalf("latency not injected: %v", took)
	}
	faulted := 0
	for _, r := range h.d.Requests() {
		if r.Fault {
			faulted++
		}
	}
	if faulted != 1 {
		t.Fatalf("%d requests marked as faulted, want 1", faulted)
	}
}

func TestErrorRateIsSeeded(t *testing.T) {
	run := func() []int {
		h := newHarness(t, Options{Seed: 42})
		h.d.SetFaults(Faults{ErrorRate: 0.5})
		var statuses []int
		for i := 0; i < 20; i++ {
			_, err := h.sc.Customers.New(&stripe.CustomerParams{})
			status := 200
			if err != nil {
				status = stripeErr(t, err).HTTPStatusCode
			}
			statuses = append(statuses, status)
		}
		return statuses
	}
	a, b := run(), run()
	fails := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different faults: %v vs %v", a, b)
		}
		if a[i] == 500 {
			fails++
		}
	}
	if fails == 0 || fails == len(a) {
		t.Fatalf("error rate 0.5 gave %d failures of %d", fails, len(a))
	}
}
