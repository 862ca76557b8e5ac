package stripedouble

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

const testSecret = "whsec_test_secret"

// receiver verifies every delivery as the service would and can answer
// the first attempts at the first event it sees with a 503.
type receiver struct {
	t        *testing.T
	mu       sync.Mutex
	failLeft int
	firstID  string
	verified []stripe.Event
	attempts int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev, err := webhook.ConstructEvent(body, r.Header.Get("Stripe-Signature"), testSecret)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if err != nil {
		rc.t.Errorf("delivery does not verify: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if rc.firstID == "" {
		rc.firstID = ev.ID
	}
	if rc.failLeft > 0 && ev.ID == rc.firstID {
		rc.failLeft--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.verified = append(rc.verified, ev)
}

func (rc *receiver) ids() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.verified {
		out = append(out, e.ID)
	}
	return out
}

func waitWebhooks(t *testing.T, d *Double) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWebhooksSignedOrderedAndRetried(t *testing.T) {
	rc := &receiver{t: t, failLeft: 2}
	target := httptest.NewServer(rc)
	defer target.Close()
	h := newHarness(t, Options{WebhookRetry: RetryPolicy{Backoff: time.Millisecond}})
	h.d.SetWebhook(target.URL, testSecret) // learnt after listening, as the service does

	h.paid(t, 1000, "g")
	waitWebhooks(t, h.d)

	var want []string
	for _, e := range h.d.Events() {
		want = append(want, e.ID)
	}
	got := rc.ids()
	if len(want) != 3 || len(got) != 3 {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	// The first event failed twice and was retried; the others were not
	// held back by it.
	if got[2] != want[0] || got[0] != want[1] || got[1] != want[2] {
		t.Fatalf("delivery order %v, events %v", got, want)
	}
	var first []Delivery
	for _, dl := range h.d.WebhookDeliveries() {
		if dl.EventID == want[0] {
			first = append(first, dl)
		}
	}
	if len(first) != 3 || first[0].Status != 503 || first[2].Status != 200 || first[2].Attempt != 3 {
		t.Fatalf("attempts for the first event: %+v", first)
	}
	for _, ev := range rc.verified {
		if ev.APIVersion != stripe.APIVersion || ev.Data == nil || ev.Data.Raw == nil {
			t.Fatalf("event %+v", ev)
		}
	}
}

func TestWebhookRetriesAreBounded(t *testing.T) {
	rc := &receiver{t: t, failLeft: 100}
	target := httptest.NewServer(rc)
	defer target.Close()
	h := newHarness(t, Options{WebhookURL: target.URL, WebhookSecret: testSecret,
		WebhookRetry: RetryPolicy{MaxAttempts: 3, Backoff: time.Millisecond}})
	if _, err := h.sc.Customers.New(&stripe.CustomerParams{}); err != nil {
		t.Fatal(err)
	}
	waitWebhooks(t, h.d)
	if n := len(h.d.WebhookDeliveries()); n != 3 || rc.attempts != 3 {
		t.Fatalf("%d logged attempts, %d received; want 3", n, rc.attempts)
	}
}

func TestWebhookFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults WebhookFaults
		check  func(t *testing.T, events, got []string, log []Delivery)
	}{
		{"drop", WebhookFaults{DropRate: 1}, func(t *testing.T, events, got []string, log []Delivery) {
			if len(got) != 0 || len(log) != len(events) || !log[0].Dropped {
				t.Fatalf("dropped: delivered %v, log %+v", got, log)
			}
		}},
		{"duplicate", WebhookFaults{DuplicateRate: 1}, func(t *testing.T, events, got []string, _ []Delivery) {
			if len(got) != 2*len(events) || got[0] != got[1] {
				t.Fatalf("duplicated: delivered %v for %v", got, events)
			}
		}},
		{"reorder", WebhookFaults{ReorderRate: 1, Delay: 10 * time.Millisecond}, func(t *testing.T, events, got []string, _ []Delivery) {
			if len(got) != 3 || got[0] != events[1] || got[1] != events[0] || got[2] != events[2] {
				t.Fatalf("reordered: delivered %v for %v", got, events)
			}
		}},
		{"delay", WebhookFaults{DelayRate: 1, Delay: 30 * time.Millisecond}, func(t *testing.T, events, got []string, log []Delivery) {
			if len(got) != 3 || len(log) != 3 {
				t.Fatalf("delayed: delivered %v", got)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{t: t}
			target := httptest.NewServer(rc)
			defer target.Close()
			h := newHarness(t, Options{WebhookURL: target.URL, WebhookSecret: testSecret, Seed: 7})
			h.d.SetWebhookFaults(tc.faults)
			start := time.Now()
			h.paid(t, 1000, "g") // three events
			waitWebhooks(t, h.d)
			var events []string
			for _, e := range h.d.Events() {
				events = append(events, e.ID)
			}
			if tc.faults.Delay > 0 && time.Since(start) < tc.faults.Delay {
				t.Fatalf("delayed deliveries finished after %v", time.Since(start))
			}
			tc.check(t, events, rc.ids(), h.d.WebhookDeliveries())
		})
	}
}

func TestNoWebhookURLMeansNoDelivery(t *testing.T) {
	h := newHarness(t, Options{})
	h.paid(t, 1000, "g")
	waitWebhooks(t, h.d)
	if n := len(h.d.WebhookDeliveries()); n != 0 {
		t.Fatalf("%d deliveries without an endpoint", n)
	}
	for _, e := range h.d.Events() {
		if e.PendingWebhooks != 0 {
			t.Fatalf("event %s pending_webhooks %d", e.ID, e.PendingWebhooks)
		}
	}
}
