package stripedouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func TestListPagination(t *testing.T) {
	h := newHarness(t, Options{})
	a, b := h.customer(t), h.customer(t)
	var created []string
	for i := 0; i < 25; i++ {
		pi, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(100 + int64(i)),
			Currency: stripe.String("usd"), Customer: stripe.String(a.ID)})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, pi.ID)
	}
	for i := 0; i < 5; i++ {
		if _, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(100),
			Currency: stripe.String("usd"), Customer: stripe.String(b.ID)}); err != nil {
			t.Fatal(err)
		}
	}

	params := &stripe.PaymentIntentListParams{Customer: stripe.String(a.ID)}
	params.Limit = stripe.Int64(10)
	it := h.sc.PaymentIntents.List(params)
	var listed []string
	for it.Next() {
		listed = append(listed, it.PaymentIntent().ID)
	}
	if it.Err() != nil || len(listed) != 25 {
		t.Fatalf("auto-paged %d, err %v", len(listed), it.Err())
	}
	for i, id := range listed {
		if id != created[24-i] {
			t.Fatalf("position %d: %s, want %s (newest first)", i, id, created[24-i])
		}
	}
	if h.d.RequestCount("GET", "/v1/payment_intents") != 3 {
		t.Fatalf("%d list pages, want 3", h.d.RequestCount("GET", "/v1/payment_intents"))
	}

	page := &stripe.PaymentIntentListParams{Customer: stripe.String(a.ID)}
	page.Limit = stripe.Int64(5)
	page.Single = true
	page.EndingBefore = stripe.String(created[10])
	it = h.sc.PaymentIntents.List(page)
	listed = nil
	for it.Next() {
		listed = append(listed, it.PaymentIntent().ID)
	}
	// Stripe answers newest first; stripe-go reverses pages fetched backwards.
	if len(listed) != 5 || listed[0] != created[11] || listed[4] != created[15] || !it.PaymentIntentList().HasMore {
		t.Fatalf("ending_before page %v", listed)
	}

	evParams := &stripe.EventListParams{Type: stripe.String("payment_intent.created")}
	evParams.Limit = stripe.Int64(7)
	evIt := h.sc.Events.List(evParams)
	var evs []*stripe.Event
	for evIt.Next() {
		evs = append(evs, evIt.Event())
	}
	if evIt.Err() != nil || len(evs) != 30 {
		t.Fatalf("events listed %d, err %v", len(evs), evIt.Err())
	}
	for i := 1; i < len(evs); i++ {
		if evs[i-1].Created < evs[i].Created || evs[i-1].ID <= evs[i].ID {
			t.Fatalf("events not newest first at %d", i)
		}
	}
	ev, err := h.sc.Events.Get(evs[0].ID, nil)
	if err != nil || ev.APIVersion != "2023-10-16" || ev.Type != "payment_intent.created" ||
		ev.GetObjectValue("customer") != b.ID {
		t.Fatalf("event retrieve %+v %v", ev, err)
	}
}

// TestListCreatedRange: each bound of created[...] and an exact created, as the reconciliation's
// split listing sends them, keeps exactly the objects created in that range.
func TestListCreatedRange(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	h := newHarness(t, Options{Now: clock.Now})
	var ids []string // ids[i] created at 1_700_000_000 + i
	for range 4 {
		_, ch, err := h.d.DashboardCharge(DashboardChargeParams{Amount: 5000, Currency: "CHF"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch)
		clock.Advance(time.Second)
	}
	at := func(i int64) int64 { return 1_700_000_000 + i }
	cases := []struct {
		name  string
		set   func(*stripe.ChargeListParams)
		order []int // indexes into ids, newest first
	}{
		{"gt", func(p *stripe.ChargeListParams) { p.CreatedRange = &stripe.RangeQueryParams{GreaterThan: at(1)} }, []int{3, 2}},
		{"gte", func(p *stripe.ChargeListParams) { p.CreatedRange = &stripe.RangeQueryParams{GreaterThanOrEqual: at(1)} }, []int{3, 2, 1}},
		{"lt", func(p *stripe.ChargeListParams) { p.CreatedRange = &stripe.RangeQueryParams{LesserThan: at(2)} }, []int{1, 0}},
		{"lte", func(p *stripe.ChargeListParams) { p.CreatedRange = &stripe.RangeQueryParams{LesserThanOrEqual: at(2)} }, []int{2, 1, 0}},
		{"gte and lt", func(p *stripe.ChargeListParams) {
			p.CreatedRange = &stripe.RangeQueryParams{GreaterThanOrEqual: at(1), LesserThan: at(3)}
		}, []int{2, 1}},
		{"exact", func(p *stripe.ChargeListParams) { p.Created = stripe.Int64(at(2)) }, []int{2}},
		{"empty", func(p *stripe.ChargeListParams) {
			p.CreatedRange = &stripe.RangeQueryParams{GreaterThan: at(1), LesserThan: at(2)}
		}, nil},
	}
	for _, tc := range cases {
		p := &stripe.ChargeListParams{}
		tc.set(p)
		var got, want []string
		it := h.sc.Charges.List(p)
		for it.Next() {
			got = append(got, it.Charge().ID)
		}
		if err := it.Err(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, i := range tc.order {
			want = append(want, ids[i])
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: listed %v, want %v", tc.name, got, want)
		}
	}
}

// A list is put together by hand rather than by json.Marshal; its bytes must be what Marshal
// writes for the same page (field order, escaping of the url and of the objects' text), on a
// full page, a short one and an empty one. With expand[] the page is rewritten from its parse
// (keys sorted), so it must only still be the same list.
func TestListBodyIsWhatMarshalWrites(t *testing.T) {
	d, err := New(Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	for i := range 12 {
		md := map[string]string{"pledge_id": fmt.Sprintf("plg_<%d>&\u2028\"é", i)}
		if _, _, err := d.DashboardCharge(DashboardChargeParams{Amount: 100, Currency: "chf", TransferGroup: "cam_<&>", Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	for q, n := range map[string]int{"limit=5": 5, "limit=100&expand[]=data.balance_transaction": 12, "transfer_group=cam_%3C%26%3E&limit=100": 12, "transfer_group=none": 0} {
		r := httptest.NewRequest(http.MethodGet, "/v1/charges?"+q, nil)
		r.Header.Set("Authorization", "Bearer sk_test_123")
		w := httptest.NewRecorder()
		d.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", q, w.Code, w.Body)
		}
		var page struct {
			Object  string            `json:"object"`
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
			URL     string            `json:"url"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(page.Data) != n || page.URL != "/v1/charges" || page.Object != "list" {
			t.Errorf("%s: %d charges, url %q, object %q", q, len(page.Data), page.URL, page.Object)
		}
		if want := mustJSON(page); !strings.Contains(q, "expand") && !bytes.Equal(w.Body.Bytes(), want) {
			t.Errorf("%s:\n body    %.300s\n Marshal %.300s", q, w.Body.Bytes(), want)
		}
	}
}
