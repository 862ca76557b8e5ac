package stripepay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/stripedouble"
)

// A page of charges is decoded in one pass (decodeChargePage) rather than by encoding/json, which
// stripe-go ran four times over each page. It must answer exactly what encoding/json answers for
// chargePage: the double's own pages (refunds, a dispute, hostile metadata, a failed charge
// without balance transaction) and pages written to catch a hand-written decoder out (nulls,
// escapes, invalid UTF-8, repeated keys, brackets and quotes inside skipped strings), and it
// must refuse every prefix of a page and every malformed value encoding/json refuses.
func TestChargePageDecodesAsEncodingJSONDoes(t *testing.T) {
	page := doublePage(t)
	cases := []string{
		string(page),
		`{"object":"list","data":[],"has_more":false,"url":"/v1/charges"}`,
		`{"data":null,"has_more":null}`, `null`, ` {} `, `{"data":[null,{}]}`,
		`{"data":[{"id":"ch_1","metadata":{"pledge_id":null,"x":"y"},"payment_intent":null,"balance_transaction":null,"transfer_group":null}]}`,
		`{"data":[{"id":"ch_\u00e9\"\\\/\b\f\n\r\t\ud83d\ude00","metadata":{"k\u0041":"v\u2028"},"payment_intent":{"id":"pi_1","x":[1,{"a":"}]"}]}}]}`,
		"{\"data\":[{\"id\":\"ch_\xff\xfe\",\"currency\":\"chf\xc3\"}]}",
		`{"data":[{"id":"a","id":"b","amount":1,"amount":2,"metadata":{"a":"1"},"metadata":{"b":"2"}}],"data":[{"id":"c"}]}`,
		`{"data":[{"balance_transaction":{"id":"txn_1","fee":175,"fee_details":[{"amount":175}]},"balance_transaction":"txn_2"}]}`,
		`{"data":[{"balance_transaction":{"id":"txn_1","fee":175},"balance_transaction":null}]}`,
		`{"data":[{"amount":-0,"created":9223372036854775807,"amount_refunded":-9223372036854775808,"disputed":true,"skip":[true,false,null,-1.5e-3,"]\"}",{}]}]}`,
		"\t{\n\"data\" :\r[ { \"id\" : \"ch_1\" } ] , \"has_more\" : true }\n",
		// Malformed: each must be refused, as encoding/json refuses it.
		`{"data":[{"amount":1.5}]}`, `{"data":[{"amount":1e3}]}`, `{"data":[{"amount":"5"}]}`, `{"data":[{"amount":01}]}`,
		`{"data":[{"amount":9223372036854775808}]}`, `{"data":[{"disputed":1}]}`, `{"data":[{"id":5}]}`,
		`{"data":[{"metadata":{"a":1}}]}`, `{"data":[{"metadata":["a"]}]}`, `{"data":{}}`, `{"has_more":"true"}`,
		`{"data":[{"skip":tru}]}`, `{"data":[{"skip":nul}]}`, `{"data":[{"skip":"\x"}]}`, "{\"data\":[{\"id\":\"a\x01\"}]}",
		`{"data":[{"skip":[1,]}]}`, `{"data":[{"skip":{"a":1,}}]}`, `{"data":[{"skip":{1:2}}]}`, `{null:1}`,
		`{"data":[]} x`, `{"data":[]}{}`, `null x`, `nullnull`, `null}`, `[]`, `"page"`, ``, `{"data":[{"id":"a"}`, `{"data":[{"payment_intent":5}]}`,
		`{"data":[{"balance_transaction":{"fee":"175"}}]}`, `{"data":[{"skip":nullx}]}`,
	}
	for i := range page {
		cases = append(cases, string(page[:i]))
	}
	refused := 0
	for _, c := range cases {
		if !sameAsEncodingJSON(t, []byte(c)) {
			refused++
		}
	}
	if refused < len(page)+25 {
		t.Errorf("only %d of the inputs were refused: the malformed ones prove too little", refused)
	}
}

// FuzzChargePage checks decodeChargePage against encoding/json on any input, seeded with a page
// of the double's.
func FuzzChargePage(f *testing.F) {
	f.Add([]byte(`{"object":"list","data":[{"id":"ch_1","amount":5000,"currency":"chf","metadata":{"pledge_id":"plg_1"},"balance_transaction":{"id":"txn_1","fee":175}}],"has_more":true}`))
	f.Add([]byte(`{"data":[{"id":"ch_\u00e9","skip":[1,{"a":"}]"}],"payment_intent":"pi_1"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// encoding/json also takes keys that differ in case (and ſ for s, K for k): Stripe's
		// are lower case, and the decoder takes them exactly.
		if !bytes.Equal(bytes.ToLower(b), b) || bytes.Contains(b, []byte("ſ")) || bytes.Contains(b, []byte("K")) || bytes.Contains(b, []byte(`\u`)) {
			return
		}
		sameAsEncodingJSON(t, b)
	})
}

// sameAsEncodingJSON fails the test unless decodeChargePage and encoding/json both refuse b or
// both decode it to the same page; it reports whether b was decoded.
func sameAsEncodingJSON(t *testing.T, b []byte) bool {
	t.Helper()
	var want chargePage
	wantErr := json.Unmarshal(b, &want)
	got, err := decodeChargePage(b)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Errorf("%.200q: decoded with error %v, encoding/json's %v", b, err, wantErr)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Errorf("%.200q:\n decoded   %+v\n encoding/json %+v", b, got, want)
	}
	return err == nil
}

// doublePage is a page of charges as the double answers the reconciliation's listing.
func doublePage(t *testing.T) []byte {
	t.Helper()
	d, err := stripedouble.New(stripedouble.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() { srv.Close(); d.Close() })
	for i, md := range []map[string]string{{"pledge_id": "plg_1"}, {"pledge_id": "plg_\"}],\u2028é😀\t"}, nil} {
		_, ch, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: int64(1000 * (i + 1)), Currency: "chf", TransferGroup: "cam_1", Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if _, err := d.DashboardRefund(ch, 500); err != nil {
				t.Fatal(err)
			}
			if _, err := d.DashboardDispute(ch, "fraudulent"); err != nil {
				t.Fatal(err)
			}
		}
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/charges?limit=100&expand[]=data.balance_transaction", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk_test_double")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"fee":`) {
		t.Fatalf("page: %d %.300s %v", res.StatusCode, b, err)
	}
	return b
}

// The pages of a listing are read into one buffer: growing a new one for each page of 120 KB
// was a quarter of a large reconciliation's allocations, and the heap the GC allows grows with
// them. Twenty pages of a hundred charges must allocate less than the bytes they carry (what is
// allocated is the charges' own fields and the requests).
func TestChargePagesAreReadIntoOneBuffer(t *testing.T) {
	d, err := stripedouble.New(stripedouble.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	for i := range listPage {
		if _, _, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: 5000, Currency: "chf", TransferGroup: "cam_1",
			Metadata: map[string]string{"pledge_id": fmt.Sprintf("plg_%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/charges?limit=100&expand[]=data.balance_transaction", nil)
	r.Header.Set("Authorization", "Bearer sk_test_double")
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	page := bytes.Replace(w.Body.Bytes(), []byte(`"has_more":false`), []byte(`"has_more":true`), 1)
	if w.Code != http.StatusOK || !bytes.Contains(page, []byte(`"has_more":true`)) {
		t.Fatalf("page: %d %.200s", w.Code, page)
	}
	// The same page again and again, as a listing that never ends: stopped after 20 pages.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(page)
	}))
	t.Cleanup(srv.Close)
	c := New(Options{SecretKey: "sk_test_double", BackendURL: srv.URL, Timeout: 10 * time.Second})
	const pages = 20
	list := func() {
		n := 0
		p := &stripe.ChargeListParams{ListParams: listParams(context.Background())}
		if err := c.listCharges(p, func(*chargeFields) (bool, error) { n++; return n < pages*listPage, nil }); err != nil {
			t.Fatal(err)
		}
	}
	list() // connections and stripe-go's caches, made once
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	list()
	runtime.ReadMemStats(&after)
	allocated, carried := after.TotalAlloc-before.TotalAlloc, uint64(pages*len(page))
	if allocated > carried {
		t.Errorf("%d pages of %d bytes allocated %d bytes, more than the %d they carry", pages, len(page), allocated, carried)
	}
	t.Logf("%d pages of %d bytes allocated %d bytes", pages, len(page), allocated)
}
