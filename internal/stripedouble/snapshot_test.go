package stripedouble

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// TestListExpandsOutsideTheLock: a list answer is finished (decoded, expanded, encoded again)
// while another request holds the state lock, and its bytes are those of expanding the page
// under the lock, for expand[] paths through ids, nested objects, metadata maps and events'
// raw data.
func TestListExpandsOutsideTheLock(t *testing.T) {
	h := newHarness(t, Options{})
	d := h.d
	var firstPI string
	for i := range 5 {
		md := map[string]string{"pledge_id": "plg_" + string(rune('a'+i))}
		if firstPI != "" {
			md["pledge_id"] = firstPI // a metadata value that names an object
		}
		pi, ch, err := d.DashboardCharge(DashboardChargeParams{Amount: 5000, Currency: "CHF", TransferGroup: "camp", Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		if firstPI == "" {
			firstPI = pi
			if _, err := d.DashboardRefund(ch, 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		path   string
		expand []string
	}{
		{"/v1/charges", []string{"data.balance_transaction"}},
		{"/v1/charges", []string{"data.payment_intent", "data.payment_intent.latest_charge.balance_transaction"}},
		{"/v1/charges", []string{"data.metadata.pledge_id.latest_charge", "data.payment_method_details.card"}},
		{"/v1/payment_intents", []string{"data.latest_charge.balance_transaction", "data.payment_method"}},
		{"/v1/events", []string{"data.data.object.payment_intent.latest_charge"}},
		{"/v1/refunds", []string{"data.charge.balance_transaction", "data.balance_transaction"}},
	}
	for _, tc := range cases {
		exp := make([]any, len(tc.expand))
		for i, p := range tc.expand {
			exp[i] = p
		}
		d.mu.Lock()
		resp := d.dispatch(&call{method: http.MethodGet, path: tc.path, params: params{"limit": "100", "expand": exp}})
		plain := d.dispatch(&call{method: http.MethodGet, path: tc.path, params: params{"limit": "100"}})
		if resp.finish == nil || plain.finish == nil {
			d.mu.Unlock()
			t.Fatalf("%s: the list answer has no finish to run outside the lock", tc.path)
		}
		done := make(chan []byte)
		go func() { done <- resp.finish() }()
		var got []byte
		select {
		case got = <-done:
		case <-time.After(10 * time.Second):
			d.mu.Unlock()
			t.Fatalf("%s %v: finishing the answer waited for the state lock", tc.path, tc.expand)
		}
		want := expand(plain.finish(), tc.expand, d.lookup)
		d.mu.Unlock()
		if !bytes.Equal(got, want) {
			t.Errorf("%s %v: expanded outside the lock\n%s\nwant (under it)\n%s", tc.path, tc.expand, got, want)
		}
		if bytes.Equal(got, plain.finish()) {
			t.Errorf("%s %v: nothing was expanded", tc.path, tc.expand)
		}
	}
}

// TestListExpansionFallsBackUnderTheLock: should the walk under the lock ever miss a string that
// expanding reaches, the answer is expanded again under the lock rather than left unexpanded.
func TestListExpansionFallsBackUnderTheLock(t *testing.T) {
	h := newHarness(t, Options{})
	if _, _, err := h.d.DashboardCharge(DashboardChargeParams{Amount: 5000, Currency: "CHF"}); err != nil {
		t.Fatal(err)
	}
	paths := []string{"data.balance_transaction"}
	h.d.mu.Lock()
	plain := h.d.dispatch(&call{method: http.MethodGet, path: "/v1/charges", params: params{}}).finish()
	want := expand(plain, paths, h.d.lookup)
	h.d.mu.Unlock()
	if got := (&reached{d: h.d, rendered: map[string][]byte{}}).expand(plain, paths); !bytes.Equal(got, want) {
		t.Fatalf("after a miss:\n%s\nwant\n%s", got, want)
	}
}
