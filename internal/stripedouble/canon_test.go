package stripedouble

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// expandByMaps is how expand worked before jsonNode: decode into map[string]any, replace, encode
// again. Its bytes are the ones answers must keep.
func expandByMaps(body []byte, paths []string, lookup func(string) ([]byte, bool)) []byte {
	if len(paths) == 0 {
		return body
	}
	var walk func(v any, path []string) any
	walk = func(v any, path []string) any {
		switch x := v.(type) {
		case string:
			b, ok := lookup(x)
			if !ok {
				return x
			}
			return walk(decodeOwn(b), path)
		case map[string]any:
			if len(path) == 0 {
				return x
			}
			if child, ok := x[path[0]]; ok {
				x[path[0]] = walk(child, path[1:])
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i], path)
			}
		}
		return v
	}
	v := decodeOwn(body)
	for _, p := range paths {
		v = walk(v, strings.Split(p, "."))
	}
	return mustJSON(v)
}

// TestExpandKeepsTheBytes: expanding through jsonNode answers byte for byte what decoding into
// maps and encoding again answered, for every kind of object the double holds and for hostile
// text in metadata (HTML characters, invalid UTF-8, line separators, quotes, escapes in keys).
func TestExpandKeepsTheBytes(t *testing.T) {
	h := newHarness(t, Options{})
	d := h.d
	hostile := map[string]string{
		"pledge_id": "plg_<script>&amp;", "bad_utf8": "a\xff\xfeb", "sep": "x\u2028y\u2029z", "quote": `say "hi" \ back`,
		"ctl": "tab\there\x01", "é<>&": "ünïcödé 😀", "a\"key": "v", "order_B": "1", "order_a": "2",
	}
	var firstPI string
	for i := range 3 {
		md := map[string]string{}
		for k, v := range hostile {
			md[k] = v
		}
		if firstPI != "" {
			md["pi"] = firstPI
		}
		pi, ch, err := d.DashboardCharge(DashboardChargeParams{Amount: 5000 + int64(i), Currency: "CHF", TransferGroup: "grp<&>",
			Description: "Pledge \xff <b>" + string(rune('a'+i)), Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			firstPI = pi
			if _, err := d.DashboardRefund(ch, 100); err != nil {
				t.Fatal(err)
			}
			if _, err := d.DashboardDispute(ch, "fraudulent"); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, o := range d.objects {
		b := d.render(o)
		if got, want := parseOwn(b).appendJSON(nil), mustJSON(decodeOwn(b)); !bytes.Equal(got, want) {
			t.Errorf("%s written again:\n%s\nwant\n%s", id, got, want)
		}
	}
	cases := []struct {
		path   string
		expand []string
	}{
		{"/v1/charges", []string{"data.balance_transaction"}},
		{"/v1/charges", []string{"data.payment_intent", "data.payment_intent.latest_charge.balance_transaction"}},
		{"/v1/charges", []string{"data.metadata.pi.latest_charge", "data.payment_method_details.card"}},
		{"/v1/payment_intents", []string{"data.latest_charge.balance_transaction", "data.payment_method"}},
		{"/v1/events", []string{"data.data.object.payment_intent.latest_charge", "data.data.object.charge"}},
		{"/v1/refunds", []string{"data.charge.balance_transaction", "data.balance_transaction"}},
		{"/v1/disputes", []string{"data.charge", "data.payment_intent"}},
		{"/v1/balance_transactions", []string{"data.source"}},
	}
	for _, tc := range cases {
		plain := d.dispatch(&call{method: http.MethodGet, path: tc.path, params: params{"limit": "100"}})
		if plain.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.path, plain.status, plain.body)
		}
		body := plain.finish()
		got, want := expand(body, tc.expand, d.lookup), expandByMaps(body, tc.expand, d.lookup)
		if !bytes.Equal(got, want) {
			t.Errorf("%s %v:\n%s\nwant\n%s", tc.path, tc.expand, got, want)
		}
		if bytes.Equal(got, body) {
			t.Errorf("%s %v: nothing was expanded", tc.path, tc.expand)
		}
	}
}
