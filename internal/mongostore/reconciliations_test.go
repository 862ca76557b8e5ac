package mongostore_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/testenv"
)

// On the embedded store StreamLedger reads the pledges' fields from FerretDB's files instead of
// asking FerretDB (see Options.Scanner). Reconciliation compares what it reads against Stripe to
// the cent, so that read must give exactly what the server's query gives: every field, a missing
// one, an int64 past float64's precision, text that needs escaping, a dispute with and without
// values, and each scope's boundaries (the campaign, and the period [from, to) to the millisecond).
func TestScannedLedgerEqualsTheServersAnswer(t *testing.T) {
	scanned, served := scannedAndServed(t)
	ctx := context.Background()

	from := time.Date(2030, 2, 1, 10, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	at := func(d time.Duration) *time.Time { t := from.Add(d); return &t }
	full := func(id, campaign string, collected *time.Time) pledge.Pledge {
		return pledge.Pledge{ID: id, CampaignID: campaign, Status: pledge.StatusDisputed,
			Amount: money.Money{Amount: 1<<53 + 1, Currency: "JPY"}, Shipping: 1200,
			PaymentIntentID: `pi_"quoted"\back/slash é 日本`, ChargeID: "ch_" + id, AmountRefunded: 700, CollectedAt: collected,
			Dispute:    &pledge.Dispute{ID: "dp_" + id, Reason: "fraudulent", Status: "needs_response", Amount: 4300, At: from},
			TransferID: "tr_" + id, TransferAmount: 3900, StripeFee: 175,
			// Sub-millisecond digits: BSON keeps milliseconds, and so must the scan.
			UpdatedAt: from.Add(1234567891 * time.Nanosecond)}
	}
	pledges := []pledge.Pledge{
		full("plg_a1", "cam_a", at(time.Hour)),
		full("plg_a2_from", "cam_a", at(0)),
		full("plg_a3_to", "cam_a", at(24*time.Hour)),
		full("plg_a4_before", "cam_a", at(-time.Millisecond)),
		full("plg_a5_last_ms", "cam_a", at(24*time.Hour-time.Millisecond)),
		// Nothing but what a new pledge has: every optional field missing.
		{ID: "plg_a6_pending", CampaignID: "cam_a", Status: pledge.StatusPending, Amount: money.Money{Amount: 5000, Currency: "CHF"}},
		{ID: "plg_a7_empty_dispute", CampaignID: "cam_a", Status: pledge.StatusDisputed, Dispute: &pledge.Dispute{},
			Amount: money.Money{Amount: -1, Currency: "CHF"}, CollectedAt: at(2 * time.Hour)},
		full("plg_b1", "cam_b", at(3*time.Hour)),
		full("plg_b2", "cam_a_b", at(48*time.Hour)),
	}
	for _, p := range pledges {
		if err := scanned.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	read := func(s *mongostore.Store, sc reconcile.Scope) []reconcile.Ledger {
		t.Helper()
		var out []reconcile.Ledger
		if err := s.StreamLedger(ctx, sc, func(l reconcile.Ledger) error { out = append(out, l); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(out, func(a, b reconcile.Ledger) int { return strings.Compare(a.PledgeID, b.PledgeID) })
		return out
	}
	ids := func(ls []reconcile.Ledger) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.PledgeID)
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		name  string
		scope reconcile.Scope
		want  string
	}{
		{"campaign", reconcile.Scope{CampaignID: "cam_a"}, "plg_a1 plg_a2_from plg_a3_to plg_a4_before plg_a5_last_ms plg_a6_pending plg_a7_empty_dispute"},
		{"other campaign", reconcile.Scope{CampaignID: "cam_b"}, "plg_b1"},
		{"no such campaign", reconcile.Scope{CampaignID: "cam"}, ""},
		{"period", reconcile.Scope{From: &from, To: &to}, "plg_a1 plg_a2_from plg_a5_last_ms plg_a7_empty_dispute plg_b1"},
	} {
		got, want := read(scanned, c.scope), read(served, c.scope)
		if ids(want) != c.want {
			t.Fatalf("%s: the server's answer is %q, want %q", c.name, ids(want), c.want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the scan differs from the server's answer:\n got  %+v\n want %+v", c.name, got, want)
		}
	}
	// A pledge changed after the first read is read as it is now.
	p, err := scanned.FindPledge(ctx, "plg_a6_pending")
	if err != nil {
		t.Fatal(err)
	}
	next := p
	next.Status, next.AmountRefunded, next.UpdatedAt = pledge.StatusRefunded, 5000, from
	if _, err := scanned.ReplacePledge(ctx, p, next); err != nil {
		t.Fatal(err)
	}
	sc := reconcile.Scope{CampaignID: "cam_a"}
	if got, want := read(scanned, sc), read(served, sc); !reflect.DeepEqual(got, want) || want[5].Refunded != 5000 {
		t.Errorf("after a change the scan gives %+v, the server %+v", got[5], want[5])
	}
}

// A campaign's ledger comes from the index the store makes when it opens (ScanEqual), never from
// reading every pledge of every campaign (Scan: 4.5 s of CPU for 100,000 pledges in
// bench/reconcile, the index 0.2 s); a period's still reads them all. What either reads equals
// the server's answer (TestScannedLedgerEqualsTheServersAnswer).
func TestCampaignLedgerIsReadFromTheIndexMadeAtOpen(t *testing.T) {
	opts := testenv.StoreOptions(t)
	if opts.Scanner == nil {
		t.Skip("the scanner exists only on the embedded store opened as the service opens it")
	}
	counting := &countingScanner{Scanner: opts.Scanner}
	opts.Scanner = counting
	store := testenv.MustStoreAt(t, opts)
	if counting.indexed != "pledges" {
		t.Fatalf("opening the store indexed %q, want the pledges", counting.indexed)
	}
	ctx := context.Background()
	at := time.Date(2030, 2, 1, 10, 0, 0, 0, time.UTC)
	for i, cam := range []string{"cam_a", "cam_a", "cam_b"} {
		p := pledge.Pledge{ID: fmt.Sprintf("plg_%d", i), CampaignID: cam, Status: pledge.StatusCollected,
			Amount: money.Money{Amount: 5000, Currency: "CHF"}, CollectedAt: &at, UpdatedAt: at}
		if err := store.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	count := func(sc reconcile.Scope) int {
		n := 0
		if err := store.StreamLedger(ctx, sc, func(reconcile.Ledger) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(reconcile.Scope{CampaignID: "cam_a"}); n != 2 || counting.equal != 1 || counting.scans != 0 {
		t.Errorf("campaign: %d pledges with %d reads of the index and %d of every pledge, want 2 with 1 and 0", n, counting.equal, counting.scans)
	}
	to := at.Add(time.Hour)
	if n := count(reconcile.Scope{From: &at, To: &to}); n != 3 || counting.scans != 1 {
		t.Errorf("period: %d pledges with %d reads of every pledge, want 3 with 1", n, counting.scans)
	}
}

// countingScanner counts the reads of ledgers and remembers which collection was indexed for them.
type countingScanner struct {
	mongostore.Scanner
	indexed      string
	equal, scans int
}

func (c *countingScanner) IndexScanEqual(ctx context.Context, database, collection string, equal, paths []string) error {
	c.indexed = collection
	return c.Scanner.IndexScanEqual(ctx, database, collection, equal, paths)
}

func (c *countingScanner) ScanEqual(ctx context.Context, database, collection string, equal map[string]string, paths []string, fn func([]any) error) error {
	c.equal++
	return c.Scanner.ScanEqual(ctx, database, collection, equal, paths, fn)
}

func (c *countingScanner) Scan(ctx context.Context, database, collection string, paths []string, fn func([]any) error) error {
	c.scans++
	return c.Scanner.Scan(ctx, database, collection, paths, fn)
}

// scannedAndServed opens this test's database twice: as the service opens the embedded store,
// with its Scanner reading FerretDB's files, and without it, so the server answers every query.
// Tests compare the two; off the embedded store they are skipped.
func scannedAndServed(tb testing.TB) (scanned, served *mongostore.Store) {
	tb.Helper()
	opts := testenv.StoreOptions(tb)
	if opts.Scanner == nil {
		tb.Skip("the scanner exists only on the embedded store opened as the service opens it")
	}
	scanned = testenv.MustStoreAt(tb, opts)
	opts.Scanner = nil
	served, err := mongostore.Open(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = served.Close(context.Background()) })
	return scanned, served
}
