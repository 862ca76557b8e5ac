package stripepay

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// listEvery makes every listing reconciliation does, so plain stripe-mock can check each request
// (expansions, created ranges, filters) against Stripe's specification.
func listEvery(t *testing.T, c *Client, f reconcile.Filter) (charges []reconcile.Charge, transfers []reconcile.Transfer) {
	t.Helper()
	ctx := context.Background()
	if err := c.ListCharges(ctx, f, func(ch reconcile.Charge) error { charges = append(charges, ch); return nil }); err != nil {
		t.Fatalf("list charges: %v", err)
	}
	if err := c.ListTransfers(ctx, f, func(tr reconcile.Transfer) error { transfers = append(transfers, tr); return nil }); err != nil {
		t.Fatalf("list transfers: %v", err)
	}
	return charges, transfers
}

func TestReconcileListingsAreValidForPlainStripeMock(t *testing.T) {
	c := plainStripeMock(t)
	listEvery(t, c, reconcile.Filter{TransferGroup: "cam_1"})
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	listEvery(t, c, reconcile.Filter{From: from, To: from.AddDate(0, 1, 0)})
	ctx := context.Background()
	if _, err := c.PaymentIntentCharges(ctx, "pi_123"); err != nil {
		t.Fatalf("charges of a payment intent: %v", err)
	}
	if _, err := c.RetrieveCharge(ctx, "ch_123"); err != nil {
		t.Fatalf("retrieve charge: %v", err)
	}
}

// Listings page through more than one page of Stripe's largest size, keep to their transfer group
// or period, and bring each charge's fee, refunds and dispute.
func TestReconcileListingsPageThroughEverything(t *testing.T) {
	d, c := newDouble(t)
	var refundedCharge, disputedCharge string
	for i := range 250 {
		_, ch, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: 1000 + int64(i), Currency: "chf", TransferGroup: "cam_big",
			Metadata: map[string]string{"pledge_id": "plg_" + string(rune('a'+i%26))}})
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 7:
			refundedCharge = ch
		case 8:
			disputedCharge = ch
		}
	}
	if _, _, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: 5000, Currency: "eur", TransferGroup: "cam_other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DashboardRefund(refundedCharge, 300); err != nil {
		t.Fatal(err)
	}
	disputeID, err := d.DashboardDispute(disputedCharge, "fraudulent")
	if err != nil {
		t.Fatal(err)
	}
	charges, _ := listEvery(t, c, reconcile.Filter{TransferGroup: "cam_big"})
	if len(charges) != 250 {
		t.Fatalf("%d charges of cam_big, want 250", len(charges))
	}
	seen := map[string]bool{}
	for _, ch := range charges {
		if seen[ch.ID] || ch.CampaignID != "cam_big" || ch.Amount.Currency != "CHF" || ch.Status != "succeeded" || ch.PledgeID == "" ||
			ch.Fee != stripedouble.StandardFee(ch.Amount.Amount, "chf") {
			t.Fatalf("charge %+v (seen before: %t)", ch, seen[ch.ID])
		}
		seen[ch.ID] = true
		switch ch.ID {
		case refundedCharge:
			if ch.Refunded != 300 || len(ch.Refunds) != 1 || ch.Refunds[0].Amount != 300 {
				t.Errorf("refunded charge: %+v", ch)
			}
		case disputedCharge:
			if ch.Dispute == nil || ch.Dispute.ID != disputeID || ch.Dispute.Status != "needs_response" || ch.DisputeFee != 1500 {
				t.Errorf("disputed charge: %+v", ch.Dispute)
			}
		}
	}
	all, _ := listEvery(t, c, reconcile.Filter{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if len(all) != 251 {
		t.Fatalf("%d charges in the period, want 251", len(all))
	}
	none, _ := listEvery(t, c, reconcile.Filter{From: time.Now().Add(-48 * time.Hour), To: time.Now().Add(-24 * time.Hour)})
	if len(none) != 0 {
		t.Fatalf("%d charges in a period before any", len(none))
	}
}

// A listing split into parallel created ranges gives a reconciliation exactly what the
// sequential listing gives: every second of the period holds charges (up to 121, more than a
// page), so the ranges meet in seconds that hold charges on both sides, and a pledge's charges
// sit in different seconds, one refunded, one disputed.
func TestSplitChargeListingReconcilesLikeTheSequentialOne(t *testing.T) {
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(start.Unix())
	d, err := stripedouble.New(stripedouble.Options{Seed: 7, Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/charges" {
			mu.Lock()
			ranges = append(ranges, r.URL.Query().Get("created[gte]")+","+r.URL.Query().Get("created[lt]"))
			mu.Unlock()
		}
		d.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); d.Close() })
	client := func(workers int) *Client {
		return New(Options{SecretKey: "sk_test_split", BackendURL: srv.URL, Timeout: 10 * time.Second, ListWorkers: workers})
	}

	made := 0
	charge := func(pledge string) string {
		t.Helper()
		_, ch, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: 2500, Currency: "chf", TransferGroup: "cam_split",
			Metadata: map[string]string{"pledge_id": pledge}})
		if err != nil {
			t.Fatal(err)
		}
		made++
		return ch
	}
	const seconds = 40
	var thrice []string // one pledge charged in the first, a middle and the last second
	for s := range seconds {
		clock.Store(start.Unix() + int64(s))
		for i := range 1 + (s%5)*30 {
			charge(fmt.Sprintf("plg_%02d_%03d", s, i))
		}
		if s == 0 || s == seconds/2 || s == seconds-1 {
			thrice = append(thrice, charge("plg_thrice"))
		}
	}
	if _, err := d.DashboardRefund(thrice[1], 500); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DashboardDispute(thrice[2], "fraudulent"); err != nil {
		t.Fatal(err)
	}
	clock.Store(start.Unix() + seconds + 5)

	// As a run over a campaign lists: the campaign was created long before its charges.
	f := reconcile.Filter{TransferGroup: "cam_split", Since: start.Add(-30 * 24 * time.Hour)}
	sequential, _ := listEvery(t, client(1), f)
	if len(ranges) != (made+99)/100 || ranges[0] != "," {
		t.Fatalf("the sequential listing made %d requests (%v), want %d pages of one open range", len(ranges), ranges[:min(3, len(ranges))], (made+99)/100)
	}
	ranges = nil
	split, _ := listEvery(t, client(8), f)
	if len(sequential) != made || len(split) != made {
		t.Fatalf("listed %d charges sequentially and %d split, %d made", len(sequential), len(split), made)
	}
	ids := map[string]int{}
	for _, ch := range split {
		ids[ch.ID]++
	}
	if len(ids) != made {
		t.Fatalf("the split listing handed on %d distinct charges of %d", len(ids), made)
	}
	// Splits fall inside the busy seconds, each of which holds charges on both sides.
	inside := 0
	for _, r := range ranges {
		gte, _, _ := strings.Cut(r, ",")
		if s, err := strconv.ParseInt(gte, 10, 64); err == nil && s > start.Unix() && s < start.Unix()+seconds {
			inside++
		}
	}
	if inside == 0 {
		t.Fatalf("no range starts inside the seconds that hold charges: %v", ranges)
	}

	seqGroups, splitGroups := reconcile.Group(nil, sequential, nil), reconcile.Group(nil, split, nil)
	if !reflect.DeepEqual(seqGroups, splitGroups) {
		t.Fatal("the split listing groups into other Stripe records than the sequential one")
	}
	compare := func(groups []reconcile.Stripe) (reconcile.Summary, []reconcile.Match) {
		var ms []reconcile.Match
		sum, err := reconcile.Compare(slices.Values([]reconcile.Ledger(nil)), slices.Values(groups),
			reconcile.Options{Now: start, StuckAfter: time.Hour}, func(m reconcile.Match) error { ms = append(ms, m); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return sum, ms
	}
	seqSum, seqMatches := compare(seqGroups)
	splitSum, splitMatches := compare(splitGroups)
	if !reflect.DeepEqual(seqSum, splitSum) || !reflect.DeepEqual(seqMatches, splitMatches) {
		t.Fatalf("reconciliations differ:\n sequential %+v\n split      %+v", seqSum, splitSum)
	}
	if n := seqSum.Findings[reconcile.MissingInDB]; n != made {
		t.Fatalf("%d charges without a pledge found, want all %d", n, made)
	}
}
