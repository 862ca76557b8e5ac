package stripepay

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// A charge listing whose request gets no answer (the connection dropped, as a proxy or a
// restarting load balancer does) is retried, and past the retries it is an error: never the
// nil-pointer panic of stripe-go's streaming call, which would end the whole process.
func TestChargeListingSurvivesRequestsWithNoAnswer(t *testing.T) {
	d, err := stripedouble.New(stripedouble.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var drop, dropped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/charges" && drop.Add(-1) >= 0 {
			dropped.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // no status line, no body: the client's request fails
			}
			return
		}
		d.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); d.Close() })
	c := New(Options{SecretKey: "sk_test_drop", BackendURL: srv.URL, Timeout: 10 * time.Second, ListWorkers: 1})
	for i := range 150 {
		if _, _, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: 2500, Currency: "chf", TransferGroup: "cam_drop",
			Metadata: map[string]string{"pledge_id": fmt.Sprintf("plg_%03d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	f := reconcile.Filter{TransferGroup: "cam_drop"}
	list := func() (int, error) {
		n := 0
		err := c.ListCharges(context.Background(), f, func(reconcile.Charge) error { n++; return nil })
		return n, err
	}

	drop.Store(networkRetries) // every try but the last of the first page goes unanswered
	if n, err := list(); err != nil || n != 150 {
		t.Fatalf("with %d dropped requests: %d charges, %v; want all 150", networkRetries, n, err)
	}
	if dropped.Load() != networkRetries {
		t.Fatalf("%d requests dropped, want %d", dropped.Load(), networkRetries)
	}

	drop.Store(1 << 20) // Stripe unreachable
	n, err := list()
	if err == nil || n != 0 {
		t.Fatalf("with every request dropped: %d charges, error %v; want an error", n, err)
	}
	if code := backstitch.ErrorCode(err); code != backstitch.CodePaymentProvider {
		t.Errorf("error %v has code %q, want %q (the provider's trouble, to retry)", err, code, backstitch.CodePaymentProvider)
	}
}
