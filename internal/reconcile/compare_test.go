package reconcile_test

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
)

var now = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

const (
	feeBPS     = 500
	stuckAfter = time.Hour
)

func options() reconcile.Options {
	return reconcile.Options{Now: now, StuckAfter: stuckAfter, PlatformFeeBPS: feeBPS}
}

func chf(a int64) money.Money { return money.Money{Amount: a, Currency: "CHF"} }
func eur(a int64) money.Money { return money.Money{Amount: a, Currency: "EUR"} }

// stripeFee is a plausible processing fee; its value only matters to the totals.
func stripeFee(amount int64) int64 { return amount*29/1000 + 30 }

// owed is what settlement transfers for a charge that kept what it took minus refunds.
func owed(kept int64) int64 { return kept - money.PlatformFee(kept, feeBPS) }

// found names a finding by the key of its match, which for findings without a pledge (unknown
// Stripe objects, campaigns) is the only stable name there is.
type found struct {
	Key  string
	Kind reconcile.Kind
}

func (f found) String() string { return string(f.Kind) + "@" + f.Key }

func compareFound(a, b found) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Kind, b.Kind))
}

// compare runs Compare over slices already sorted and keeps every match it emits.
func compare(tb testing.TB, db []reconcile.Ledger, st []reconcile.Stripe, o reconcile.Options) ([]reconcile.Match, reconcile.Summary) {
	tb.Helper()
	var ms []reconcile.Match
	sum, err := reconcile.Compare(slices.Values(db), slices.Values(st), o, func(m reconcile.Match) error {
		ms = append(ms, m)
		return nil
	})
	if err != nil {
		tb.Fatalf("Compare: %v", err)
	}
	return ms, sum
}

func foundIn(ms []reconcile.Match) []found {
	var out []found
	for _, m := range ms {
		for _, f := range m.Findings {
			out = append(out, found{m.Key, f.Kind})
		}
	}
	return out
}

// checkSummary holds the summary's counts to the findings actually emitted, so a report built
// from the summary never disagrees with the rows.
func checkSummary(tb testing.TB, ms []reconcile.Match, sum reconcile.Summary) {
	tb.Helper()
	want := map[reconcile.Kind]int{}
	for _, f := range foundIn(ms) {
		want[f.Kind]++
	}
	if !maps.Equal(want, sum.Findings) {
		tb.Errorf("Summary.Findings = %v, emitted %v", sum.Findings, want)
	}
}

// collected is a CHF pledge of camp-a that was charged, and the charge Stripe holds for it.
func collected(id string, amount int64) (reconcile.Ledger, reconcile.Charge) {
	p := reconcile.Ledger{PledgeID: id, CampaignID: "camp-a", Status: pledge.StatusCollected, Amount: chf(amount),
		PaymentIntentID: "pi_" + id, ChargeID: "ch_" + id, StripeFee: stripeFee(amount), UpdatedAt: now.Add(-72 * time.Hour)}
	return p, charge(p, "ch_"+id)
}

// charge is a succeeded charge of p's amount.
func charge(p reconcile.Ledger, id string) reconcile.Charge {
	return reconcile.Charge{ID: id, PaymentIntentID: p.PaymentIntentID, PledgeID: p.PledgeID, CampaignID: p.CampaignID,
		Amount: p.Amount, Status: "succeeded", Fee: stripeFee(p.Amount.Amount), Created: now.Add(-72 * time.Hour)}
}

// uncharged is a CHF pledge of camp-a that no money was taken for.
func uncharged(id string, status pledge.Status, amount int64) reconcile.Ledger {
	return reconcile.Ledger{PledgeID: id, CampaignID: "camp-a", Status: status, Amount: chf(amount), UpdatedAt: now.Add(-72 * time.Hour)}
}

func group(key string, charges ...reconcile.Charge) reconcile.Stripe {
	return reconcile.Stripe{Key: key, Charges: charges}
}

// transferred records on p and returns the transfer of what p's charge is owed.
func transferred(p *reconcile.Ledger, kept int64) reconcile.Transfer {
	p.TransferID, p.TransferAmount = "tr_"+p.PledgeID, owed(kept)
	return reconcile.Transfer{ID: p.TransferID, PledgeID: p.PledgeID, CampaignID: p.CampaignID,
		Amount: money.Money{Amount: owed(kept), Currency: p.Amount.Currency}}
}

// single returns the one finding under key, failing unless there is exactly one.
func single(tb testing.TB, ms []reconcile.Match, key string) reconcile.Finding {
	tb.Helper()
	for _, m := range ms {
		if m.Key == key {
			if len(m.Findings) != 1 {
				tb.Fatalf("%s: %d findings, want 1", key, len(m.Findings))
			}
			return m.Findings[0]
		}
	}
	tb.Fatalf("no match for %s", key)
	return reconcile.Finding{}
}

func wantAmounts(tb testing.TB, f reconcile.Finding, db, st money.Money) {
	tb.Helper()
	if f.Database != db || f.Stripe != st {
		tb.Errorf("%s: Database %v, Stripe %v; want %v, %v", f.Kind, f.Database, f.Stripe, db, st)
	}
}

func TestCompareFindings(t *testing.T) {
	type data struct {
		db     []reconcile.Ledger
		stripe []reconcile.Stripe
	}
	for _, tc := range []struct {
		name    string
		build   func() data
		paidOut map[string]bool
		want    []found // in emission order
		check   func(testing.TB, []reconcile.Match)
	}{
		// Clean: nothing to report.
		{name: "collected pledge with its charge", build: func() data {
			p, ch := collected("p1", 4000)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}},
		{name: "collected pledge known by its PaymentIntent only, after a failed attempt", build: func() data {
			p, ch := collected("p1", 4000)
			p.ChargeID = ""
			failed := charge(p, "ch_p1_failed")
			failed.Status, failed.Created = "failed", ch.Created.Add(-time.Minute)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", failed, ch)}}
		}},
		{name: "charging in flight without a charge", build: func() data {
			p := uncharged("p1", pledge.StatusCharging, 4000)
			p.UpdatedAt = now.Add(-10 * time.Minute)
			return data{[]reconcile.Ledger{p}, nil}
		}},
		{name: "charging in flight with its charge", build: func() data {
			p := uncharged("p1", pledge.StatusCharging, 4000)
			p.UpdatedAt, p.PaymentIntentID = now.Add(-10*time.Minute), "pi_p1"
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", charge(p, "ch_p1"))}}
		}},
		{name: "charging for exactly StuckAfter is still in flight", build: func() data {
			p := uncharged("p1", pledge.StatusCharging, 4000)
			p.UpdatedAt = now.Add(-stuckAfter)
			return data{[]reconcile.Ledger{p}, nil}
		}},
		{name: "active, void, cancelled and failed pledges without money", build: func() data {
			failed := uncharged("p4", pledge.StatusPaymentFailed, 4000)
			ch := charge(failed, "ch_p4")
			ch.Status = "failed"
			return data{[]reconcile.Ledger{uncharged("p1", pledge.StatusActive, 1000), uncharged("p2", pledge.StatusVoid, 2000),
				uncharged("p3", pledge.StatusCancelled, 3000), failed}, []reconcile.Stripe{group("p4", ch)}}
		}},
		{name: "failed charge for no pledge", build: func() data {
			ch := reconcile.Charge{ID: "ch_x", Amount: chf(2500), Status: "failed"}
			return data{nil, []reconcile.Stripe{group(reconcile.UnknownKey("ch_x"), ch)}}
		}},
		{name: "extra charge fully refunded", build: func() data {
			p, ch := collected("p1", 4000)
			extra := charge(p, "ch_p1_again")
			extra.Created = ch.Created.Add(time.Second)
			extra.Refunded, extra.Refunds = 4000, []reconcile.Refund{{ID: "re_1", Amount: 4000}}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch, extra)}}
		}},
		{name: "partly refunded on both sides", build: func() data {
			p, ch := collected("p1", 4000)
			p.Status, p.Refunded = pledge.StatusPartiallyRefunded, 1500
			ch.Refunded, ch.Refunds = 1500, []reconcile.Refund{{ID: "re_1", Amount: 1000}, {ID: "re_2", Amount: 500}}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}},
		// An open dispute's stage moves at Stripe without a webhook the pledge must record.
		{name: "dispute open on both sides at different stages", build: func() data {
			p, ch := collected("p1", 4000)
			p.Status, p.Dispute = pledge.StatusDisputed, &reconcile.Dispute{ID: "dp_1", Status: "needs_response", Amount: 4000}
			ch.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "under_review", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}},
		{name: "dispute lost on both sides", build: func() data {
			p, ch := collected("p1", 4000)
			p.Status, p.Dispute = pledge.StatusDisputeLost, &reconcile.Dispute{ID: "dp_1", Status: "lost", Amount: 4000}
			ch.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "lost", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}},
		{name: "paid-out campaign transferred what was owed", paidOut: map[string]bool{"camp-a": true}, build: func() data {
			p1, ch1 := collected("p1", 10000)
			tr1 := transferred(&p1, 10000)
			p2, ch2 := collected("p2", 4000)
			p2.Status, p2.Refunded, ch2.Refunded = pledge.StatusPartiallyRefunded, 1000, 1000
			tr2 := transferred(&p2, 3000)
			p3, ch3 := collected("p3", 2000)
			p3.Status, p3.Refunded, ch3.Refunded, p3.TransferID = pledge.StatusRefunded, 2000, 2000, "none"
			// A lost dispute is not owed, even for what it left of the charge: settlement never
			// pays disputed pledges.
			p4, ch4 := collected("p4", 5000)
			p4.Status, p4.Dispute = pledge.StatusDisputeLost, &reconcile.Dispute{ID: "dp_4", Status: "lost", Amount: 3000}
			ch4.Dispute = &reconcile.Dispute{ID: "dp_4", Status: "lost", Amount: 3000}
			s1, s2 := group("p1", ch1), group("p2", ch2)
			s1.Transfers, s2.Transfers = []reconcile.Transfer{tr1}, []reconcile.Transfer{tr2}
			return data{[]reconcile.Ledger{p1, p2, p3, p4, uncharged("p5", pledge.StatusVoid, 700)},
				[]reconcile.Stripe{s1, s2, group("p3", ch3), group("p4", ch4)}}
		}},

		// Findings.
		{name: "collected pledge without a charge", build: func() data {
			p, _ := collected("p1", 4000)
			return data{[]reconcile.Ledger{p}, nil}
		}, want: []found{{"p1", reconcile.MissingInStripe}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(4000), chf(0))
		}},
		{name: "collected pledge with only a failed charge", build: func() data {
			p, ch := collected("p1", 4000)
			ch.Status = "failed"
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.MissingInStripe}}},
		{name: "charge for an unknown pledge", build: func() data {
			ch := reconcile.Charge{ID: "ch_x", CampaignID: "camp-a", Amount: chf(2500), Status: "succeeded"}
			p, pch := collected("p1", 4000)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group(reconcile.UnknownKey("ch_x"), ch), group("p1", pch)}}
		}, want: []found{{"?ch_x", reconcile.MissingInDB}}, check: func(tb testing.TB, ms []reconcile.Match) {
			f := single(tb, ms, "?ch_x")
			wantAmounts(tb, f, money.Money{}, chf(2500))
			if f.PledgeID != "" || f.CampaignID != "camp-a" || len(f.Objects) != 1 || f.Objects[0].ID != "ch_x" {
				tb.Errorf("finding %+v: want no pledge, campaign camp-a and the charge", f)
			}
		}},
		{name: "charge for a pledge not charged (lost webhook)", build: func() data {
			p := uncharged("p1", pledge.StatusActive, 4000)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", charge(p, "ch_p1"))}}
		}, want: []found{{"p1", reconcile.MissingInDB}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(0), chf(4000))
		}},
		{name: "two charges for a pledge not charged", build: func() data {
			p := uncharged("p1", pledge.StatusVoid, 4000)
			first, second := charge(p, "ch_p1"), charge(p, "ch_p1_again")
			second.Created = first.Created.Add(time.Second)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", second, first)}}
		}, want: []found{{"p1", reconcile.MissingInDB}, {"p1", reconcile.DuplicateCharge}}},
		{name: "charge took more than the pledge", build: func() data {
			p, ch := collected("p1", 4000)
			ch.Amount = chf(5000)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.AmountMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(4000), chf(5000))
		}},
		// The currency decides alone: the same number in another currency is not the same amount.
		{name: "charge in another currency", build: func() data {
			p, ch := collected("p1", 4000)
			ch.Amount = eur(4000)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.CurrencyMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(4000), eur(4000))
		}},
		{name: "refund at Stripe the pledge does not record", build: func() data {
			p, ch := collected("p1", 4000)
			ch.Refunded, ch.Refunds = 1500, []reconcile.Refund{{ID: "re_1", Amount: 1500}}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.RefundMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			f := single(tb, ms, "p1")
			wantAmounts(tb, f, chf(0), chf(1500))
			if !slices.ContainsFunc(f.Objects, func(o reconcile.Object) bool { return o.Type == "refund" && o.ID == "re_1" }) {
				tb.Errorf("objects %+v lack the refund", f.Objects)
			}
		}},
		{name: "refund recorded that Stripe did not make", build: func() data {
			p, ch := collected("p1", 4000)
			p.Status, p.Refunded = pledge.StatusPartiallyRefunded, 1000
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.RefundMismatch}}},
		{name: "dispute at Stripe the pledge does not record", build: func() data {
			p, ch := collected("p1", 4000)
			ch.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "needs_response", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.DisputeUnrecorded}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(0), chf(4000))
		}},
		{name: "dispute lost at Stripe, open in the database", build: func() data {
			p, ch := collected("p1", 4000)
			p.Status, p.Dispute = pledge.StatusDisputed, &reconcile.Dispute{ID: "dp_1", Status: "under_review", Amount: 4000}
			ch.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "lost", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.DisputeUnrecorded}}},
		{name: "dispute won in the database, lost at Stripe", build: func() data {
			p, ch := collected("p1", 4000)
			p.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "won", Amount: 4000}
			ch.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "lost", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.DisputeUnrecorded}}},
		{name: "dispute recorded that Stripe does not have", build: func() data {
			p, ch := collected("p1", 4000)
			p.Status, p.Dispute = pledge.StatusDisputed, &reconcile.Dispute{ID: "dp_1", Status: "needs_response", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.DisputeUnrecorded}}},
		{name: "two succeeded charges", build: func() data {
			p, ch := collected("p1", 4000)
			extra := charge(p, "ch_p1_again")
			extra.PaymentIntentID, extra.Created = "pi_p1_again", ch.Created.Add(-time.Second)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", extra, ch)}}
		}, want: []found{{"p1", reconcile.DuplicateCharge}}, check: func(tb testing.TB, ms []reconcile.Match) {
			f := single(tb, ms, "p1")
			wantAmounts(tb, f, chf(4000), chf(8000))
			// The charge the pledge records stays its payment, though the other one is older.
			if len(f.Objects) != 3 || f.Objects[1].ID != "ch_p1" || f.Objects[2].ID != "ch_p1_again" {
				tb.Errorf("objects %+v: want pledge, ch_p1, ch_p1_again", f.Objects)
			}
		}},
		{name: "extra charge partly refunded", build: func() data {
			p, ch := collected("p1", 4000)
			extra := charge(p, "ch_p1_again")
			extra.Refunded = 1000
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch, extra)}}
		}, want: []found{{"p1", reconcile.DuplicateCharge}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(4000), chf(7000))
		}},
		{name: "charging for too long without a charge", build: func() data {
			p := uncharged("p1", pledge.StatusCharging, 4000)
			p.UpdatedAt = now.Add(-stuckAfter - time.Second)
			return data{[]reconcile.Ledger{p}, nil}
		}, want: []found{{"p1", reconcile.StuckPledge}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(4000), chf(0))
		}},
		// A stuck pledge whose charge went through is one finding: recovery resumes it.
		{name: "charging for too long with a charge", build: func() data {
			p := uncharged("p1", pledge.StatusCharging, 4000)
			p.UpdatedAt, p.PaymentIntentID = now.Add(-3*stuckAfter), "pi_p1"
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", charge(p, "ch_p1"))}}
		}, want: []found{{"p1", reconcile.StuckPledge}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(4000), chf(4000))
		}},
		{name: "transfer differs from the recorded one", build: func() data {
			p, ch := collected("p1", 4000)
			tr := transferred(&p, 4000)
			tr.Amount = chf(3000)
			s := group("p1", ch)
			s.Transfers = []reconcile.Transfer{tr}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{s}}
		}, want: []found{{"p1", reconcile.TransferMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(owed(4000)), chf(3000))
		}},
		{name: "transfer partly reversed", build: func() data {
			p, ch := collected("p1", 4000)
			tr := transferred(&p, 4000)
			tr.Reversed = 800
			s := group("p1", ch)
			s.Transfers = []reconcile.Transfer{tr}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{s}}
		}, want: []found{{"p1", reconcile.TransferMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			wantAmounts(tb, single(tb, ms, "p1"), chf(owed(4000)), chf(owed(4000)-800))
		}},
		{name: "transfer the pledge does not record", build: func() data {
			p, ch := collected("p1", 4000)
			tr := transferred(&p, 4000)
			p.TransferID, p.TransferAmount = "", 0
			s := group("p1", ch)
			s.Transfers = []reconcile.Transfer{tr}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{s}}
		}, want: []found{{"p1", reconcile.TransferMismatch}}},
		// Same amount, other transfer: the recorded one is not the one Stripe made.
		{name: "transfer of the right amount under another id", build: func() data {
			p, ch := collected("p1", 4000)
			tr := transferred(&p, 4000)
			tr.ID = "tr_other"
			s := group("p1", ch)
			s.Transfers = []reconcile.Transfer{tr}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{s}}
		}, want: []found{{"p1", reconcile.TransferMismatch}}},
		{name: "recorded transfer missing at Stripe", build: func() data {
			p, ch := collected("p1", 4000)
			transferred(&p, 4000)
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.TransferMismatch}}},
		{name: "transfer for an unknown pledge", build: func() data {
			s := reconcile.Stripe{Key: reconcile.UnknownKey("tr_x"), Transfers: []reconcile.Transfer{
				{ID: "tr_x", CampaignID: "camp-b", Amount: chf(1200), Reversed: 200}}}
			return data{[]reconcile.Ledger{uncharged("p1", pledge.StatusActive, 1000)}, []reconcile.Stripe{s}}
		}, want: []found{{"?tr_x", reconcile.TransferMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			f := single(tb, ms, "?tr_x")
			wantAmounts(tb, f, money.Money{}, chf(1000))
			if f.PledgeID != "" || f.CampaignID != "camp-b" {
				tb.Errorf("finding %+v: want no pledge and campaign camp-b", f)
			}
		}},
		// Neither side of p2 knows of a transfer, so only the campaign's sum shows it was never paid.
		{name: "paid-out campaign short of a transfer", paidOut: map[string]bool{"camp-a": true, "camp-z": true}, build: func() data {
			p1, ch1 := collected("p1", 10000)
			s1 := group("p1", ch1)
			s1.Transfers = []reconcile.Transfer{transferred(&p1, 10000)}
			p2, ch2 := collected("p2", 4000)
			return data{[]reconcile.Ledger{p1, p2}, []reconcile.Stripe{s1, group("p2", ch2)}}
		}, want: []found{{"campaign:camp-a", reconcile.TransferMismatch}}, check: func(tb testing.TB, ms []reconcile.Match) {
			f := single(tb, ms, "campaign:camp-a")
			wantAmounts(tb, f, chf(owed(10000)+owed(4000)), chf(owed(10000)))
			if f.CampaignID != "camp-a" || f.PledgeID != "" {
				tb.Errorf("finding %+v: want campaign camp-a and no pledge", f)
			}
		}},
		{name: "campaign not paid out is not summed", paidOut: map[string]bool{"camp-a": false}, build: func() data {
			p1, ch1 := collected("p1", 10000)
			p2, ch2 := collected("p2", 4000)
			return data{[]reconcile.Ledger{p1, p2}, []reconcile.Stripe{group("p1", ch1), group("p2", ch2)}}
		}},
		{name: "several discrepancies on one pledge", build: func() data {
			p, ch := collected("p1", 4000)
			ch.Amount, ch.Refunded = chf(4500), 500
			ch.Dispute = &reconcile.Dispute{ID: "dp_1", Status: "warning_needs_response", Amount: 4000}
			return data{[]reconcile.Ledger{p}, []reconcile.Stripe{group("p1", ch)}}
		}, want: []found{{"p1", reconcile.AmountMismatch}, {"p1", reconcile.RefundMismatch}, {"p1", reconcile.DisputeUnrecorded}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.build()
			o := options()
			o.PaidOut = tc.paidOut
			ms, sum := compare(t, d.db, d.stripe, o)
			if got := foundIn(ms); !slices.Equal(got, tc.want) {
				t.Fatalf("findings %v, want %v", got, tc.want)
			}
			checkSummary(t, ms, sum)
			for _, m := range ms {
				for _, f := range m.Findings {
					if m.Pledge != nil && (f.PledgeID != m.Key || len(f.Objects) == 0 || f.Objects[0].Type != "pledge") {
						t.Errorf("%s: finding %+v does not lead with its pledge", m.Key, f)
					}
					if f.Message == "" {
						t.Errorf("%s: %s without a message", m.Key, f.Kind)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, ms)
			}
		})
	}
}

// Every key gets exactly one match, in order, whichever side it comes from.
func TestCompareMerge(t *testing.T) {
	db := []reconcile.Ledger{uncharged("a", pledge.StatusActive, 1000), uncharged("c", pledge.StatusActive, 1000),
		uncharged("d", pledge.StatusActive, 1000)}
	st := []reconcile.Stripe{{Key: reconcile.UnknownKey("ch_1")}, {Key: "b"}, {Key: "c"}, {Key: "e"}}
	ms, _ := compare(t, db, st, options())
	var keys []string
	for _, m := range ms {
		keys = append(keys, m.Key)
		if (m.Pledge != nil) != slices.Contains([]string{"a", "c", "d"}, m.Key) || (m.Stripe != nil) != slices.Contains([]string{"?ch_1", "b", "c", "e"}, m.Key) {
			t.Errorf("%s: pledge %v, Stripe %v", m.Key, m.Pledge != nil, m.Stripe != nil)
		}
	}
	if want := []string{"?ch_1", "a", "b", "c", "d", "e"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
}

// A caller may keep the matches it is handed (to write them in batches, say): each must go on
// naming its own records once Compare has moved on.
func TestCompareMatchesOutliveEmit(t *testing.T) {
	p1, ch1 := collected("p1", 1000)
	p2, ch2 := collected("p2", 2000)
	ms, _ := compare(t, []reconcile.Ledger{p1, p2}, []reconcile.Stripe{group("p1", ch1), group("p2", ch2)}, options())
	for _, m := range ms {
		if m.Pledge == nil || m.Pledge.PledgeID != m.Key || m.Stripe == nil || m.Stripe.Key != m.Key {
			t.Errorf("match %s holds pledge %+v and Stripe %+v", m.Key, m.Pledge, m.Stripe)
		}
	}
}

func TestCompareUnsorted(t *testing.T) {
	a, b, c := uncharged("a", pledge.StatusActive, 1000), uncharged("b", pledge.StatusActive, 1000), uncharged("c", pledge.StatusActive, 1000)
	for _, tc := range []struct {
		name   string
		db     []reconcile.Ledger
		stripe []reconcile.Stripe
	}{
		{"pledges descending", []reconcile.Ledger{b, a}, nil},
		{"pledges repeated", []reconcile.Ledger{a, a}, nil},
		{"pledges out of order late", []reconcile.Ledger{a, c, b}, []reconcile.Stripe{{Key: "a"}, {Key: "c"}}},
		{"Stripe descending", nil, []reconcile.Stripe{{Key: "b"}, {Key: "a"}}},
		{"Stripe repeated", []reconcile.Ledger{a}, []reconcile.Stripe{{Key: "a"}, {Key: "a"}}},
		// Stripe's "a" comes after "b" has been merged ahead of pledge "c".
		{"Stripe out of order between pledges", []reconcile.Ledger{a, c}, []reconcile.Stripe{{Key: "b"}, {Key: "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reconcile.Compare(slices.Values(tc.db), slices.Values(tc.stripe), options(), func(reconcile.Match) error { return nil })
			if err == nil || !strings.Contains(err.Error(), "out of order") {
				t.Fatalf("Compare = %v, want an out-of-order error", err)
			}
		})
	}
}

func TestCompareEmitError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	db := []reconcile.Ledger{uncharged("a", pledge.StatusActive, 1000), uncharged("b", pledge.StatusActive, 1000)}
	_, err := reconcile.Compare(slices.Values(db), slices.Values([]reconcile.Stripe(nil)), options(), func(reconcile.Match) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Compare = %v after %d calls, want stop after 1", err, calls)
	}
}

func TestPrimary(t *testing.T) {
	at := func(id, pi string, minutes int) reconcile.Charge {
		return reconcile.Charge{ID: id, PaymentIntentID: pi, Status: "succeeded", Created: now.Add(time.Duration(minutes) * time.Minute)}
	}
	old, mid, recorded := at("ch_old", "pi_a", 0), at("ch_mid", "pi_b", 5), at("ch_rec", "pi_c", 10)
	tie := at("ch_aaa", "pi_d", 0)
	for _, tc := range []struct {
		name    string
		p       *reconcile.Ledger
		charges []reconcile.Charge
		want    string
	}{
		{"recorded charge first", &reconcile.Ledger{ChargeID: "ch_rec", PaymentIntentID: "pi_b"}, []reconcile.Charge{old, mid, recorded}, "ch_rec"},
		{"then the PaymentIntent's", &reconcile.Ledger{ChargeID: "ch_gone", PaymentIntentID: "pi_b"}, []reconcile.Charge{old, mid, recorded}, "ch_mid"},
		{"then the oldest", &reconcile.Ledger{}, []reconcile.Charge{recorded, mid, old}, "ch_old"},
		{"oldest by id on a tie", nil, []reconcile.Charge{old, tie}, "ch_aaa"},
		{"none", &reconcile.Ledger{ChargeID: "ch_rec"}, nil, ""},
	} {
		ch, ok := reconcile.Primary(tc.p, tc.charges)
		if ch.ID != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: Primary = %q, %v; want %q", tc.name, ch.ID, ok, tc.want)
		}
	}
}

// wantTotals recomputes the totals from the records, straight from their definitions, without
// Compare's merge.
func wantTotals(db []reconcile.Ledger, st []reconcile.Stripe, bps int64) map[string]reconcile.Totals {
	ts := map[string]*reconcile.Totals{}
	in := func(cur string) *reconcile.Totals {
		if ts[cur] == nil {
			ts[cur] = &reconcile.Totals{Currency: cur}
		}
		return ts[cur]
	}
	add := func(c *reconcile.Count, amount int64) { c.Count++; c.Amount += amount }
	succeeded := map[string][]reconcile.Charge{}
	transfers := map[string][]reconcile.Transfer{}
	for _, s := range st {
		for _, ch := range s.Charges {
			if ch.Status != "succeeded" {
				continue
			}
			succeeded[s.Key] = append(succeeded[s.Key], ch)
			t := in(ch.Amount.Currency)
			t.Gross += ch.Amount.Amount
			t.Refunds += ch.Refunded
			t.StripeFees += ch.Fee + ch.DisputeFee
			if ch.Dispute != nil && ch.Dispute.Status != "won" {
				t.Disputes += ch.Dispute.Amount
			}
			add(&t.Charges.Total, ch.Amount.Amount)
		}
		for _, tr := range s.Transfers {
			transfers[s.Key] = append(transfers[s.Key], tr)
			t := in(tr.Amount.Currency)
			t.Transferred += tr.Amount.Amount - tr.Reversed
			add(&t.Transfers.Total, tr.Amount.Amount-tr.Reversed)
		}
	}
	matchedCharge := map[string]bool{}
	matchedTransfer := map[string]bool{}
	for _, p := range db {
		t := in(p.Amount.Currency)
		add(&t.Pledges.Total, p.Amount.Amount)
		charged := p.Status.Charged()
		primary, paid := reconcile.Primary(&p, succeeded[p.PledgeID])
		switch {
		case charged && paid:
			add(&t.Pledges.Matched, p.Amount.Amount)
			matchedCharge[primary.ID] = true
		case charged || paid:
			add(&t.Pledges.Unmatched, p.Amount.Amount)
		default:
			add(&t.Pledges.Uncharged, p.Amount.Amount)
		}
		if charged {
			t.Collected += p.Amount.Amount
			t.Refunded += p.Refunded
			if p.TransferID != "none" {
				t.RecordedTransfers += p.TransferAmount
			}
		}
		if paid {
			kept := primary.Amount.Amount - primary.Refunded
			if d := primary.Dispute; d != nil && d.Status != "won" {
				kept -= min(d.Amount, kept)
			}
			in(primary.Amount.Currency).PlatformFee += money.PlatformFee(kept, bps)
		}
		for _, tr := range transfers[p.PledgeID] {
			if tr.ID == p.TransferID {
				matchedTransfer[tr.ID] = true
			}
		}
	}
	for _, chs := range succeeded {
		for _, ch := range chs {
			if matchedCharge[ch.ID] {
				add(&in(ch.Amount.Currency).Charges.Matched, ch.Amount.Amount)
			} else {
				add(&in(ch.Amount.Currency).Charges.Unmatched, ch.Amount.Amount)
			}
		}
	}
	for _, trs := range transfers {
		for _, tr := range trs {
			if matchedTransfer[tr.ID] {
				add(&in(tr.Amount.Currency).Transfers.Matched, tr.Amount.Amount-tr.Reversed)
			} else {
				add(&in(tr.Amount.Currency).Transfers.Unmatched, tr.Amount.Amount-tr.Reversed)
			}
		}
	}
	out := map[string]reconcile.Totals{}
	for cur, t := range ts {
		t.Net = t.Gross - t.Refunds - t.Disputes - t.StripeFees
		out[cur] = *t
	}
	return out
}

// checkTotals holds Compare's totals to the recomputed ones and each side to its own split.
func checkTotals(tb testing.TB, db []reconcile.Ledger, st []reconcile.Stripe, sum reconcile.Summary, bps int64) {
	tb.Helper()
	if !slices.IsSortedFunc(sum.Totals, func(a, b reconcile.Totals) int { return cmp.Compare(a.Currency, b.Currency) }) {
		tb.Errorf("totals not in currency order: %+v", sum.Totals)
	}
	want := wantTotals(db, st, bps)
	if len(sum.Totals) != len(want) {
		tb.Errorf("totals in %d currencies, want %d: %+v", len(sum.Totals), len(want), sum.Totals)
	}
	sumCounts := func(cs ...reconcile.Count) reconcile.Count {
		var s reconcile.Count
		for _, c := range cs {
			s.Count += c.Count
			s.Amount += c.Amount
		}
		return s
	}
	for _, got := range sum.Totals {
		if w, ok := want[got.Currency]; !ok || got != w {
			tb.Errorf("%s totals\n got %+v\nwant %+v", got.Currency, got, w)
		}
		if s := sumCounts(got.Pledges.Matched, got.Pledges.Unmatched, got.Pledges.Uncharged); s != got.Pledges.Total {
			tb.Errorf("%s pledges: matched + unmatched + uncharged = %+v, total %+v", got.Currency, s, got.Pledges.Total)
		}
		if s := sumCounts(got.Charges.Matched, got.Charges.Unmatched); s != got.Charges.Total {
			tb.Errorf("%s charges: matched + unmatched = %+v, total %+v", got.Currency, s, got.Charges.Total)
		}
		if s := sumCounts(got.Transfers.Matched, got.Transfers.Unmatched); s != got.Transfers.Total {
			tb.Errorf("%s transfers: matched + unmatched = %+v, total %+v", got.Currency, s, got.Transfers.Total)
		}
	}
}

// The figures are worked out by hand once, so the recomputation in wantTotals is itself checked.
func TestCompareTotals(t *testing.T) {
	p1, ch1 := collected("p1", 10000)
	s1 := group("p1", ch1)
	s1.Transfers = []reconcile.Transfer{transferred(&p1, 10000)} // 9500
	p2, ch2 := collected("p2", 4000)
	p2.Status, p2.Refunded, ch2.Refunded = pledge.StatusPartiallyRefunded, 1000, 1000
	s2 := group("p2", ch2)
	s2.Transfers = []reconcile.Transfer{transferred(&p2, 3000)} // 2850
	p3 := uncharged("p3", pledge.StatusActive, 2500)
	p4, _ := collected("p4", 3000)
	unknown := reconcile.Charge{ID: "ch_x", Amount: chf(2000), Status: "succeeded", Fee: 88}
	p5, ch5 := collected("p5", 5000)
	p5.Status, p5.Dispute = pledge.StatusDisputed, &reconcile.Dispute{ID: "dp_5", Status: "needs_response", Amount: 5000}
	ch5.Dispute, ch5.DisputeFee = &reconcile.Dispute{ID: "dp_5", Status: "needs_response", Amount: 5000}, 1500
	failed := charge(p3, "ch_p3")
	failed.Status = "failed"
	p6, ch6 := collected("p6", 6000)
	p6.Amount, ch6.Amount = eur(6000), eur(6000)
	extra := charge(p6, "ch_p6_again")
	extra.Refunded = 6000
	strayTransfer := reconcile.Transfer{ID: "tr_y", Amount: eur(1000), Reversed: 200}

	db := []reconcile.Ledger{p1, p2, p3, p4, p5, p6}
	st := []reconcile.Stripe{group(reconcile.UnknownKey("ch_x"), unknown), {Key: reconcile.UnknownKey("tr_y"), Transfers: []reconcile.Transfer{strayTransfer}},
		s1, s2, group("p3", failed), group("p5", ch5), group("p6", ch6, extra)}
	ms, sum := compare(t, db, st, options())
	checkSummary(t, ms, sum)

	fee := stripeFee
	want := []reconcile.Totals{{
		Currency: "CHF",
		Gross:    21000, Refunds: 1000, Disputes: 5000,
		StripeFees:  fee(10000) + fee(4000) + 88 + fee(5000) + 1500,
		Net:         21000 - 1000 - 5000 - (fee(10000) + fee(4000) + 88 + fee(5000) + 1500),
		PlatformFee: 500 + 150, // p5's dispute took everything its charge kept
		Transferred: 9500 + 2850, Collected: 10000 + 4000 + 3000 + 5000, Refunded: 1000, RecordedTransfers: 9500 + 2850,
		Pledges: reconcile.PledgeCounts{
			SideCounts: reconcile.SideCounts{Total: reconcile.Count{Count: 5, Amount: 24500}, Matched: reconcile.Count{Count: 3, Amount: 19000},
				Unmatched: reconcile.Count{Count: 1, Amount: 3000}},
			Uncharged: reconcile.Count{Count: 1, Amount: 2500}},
		Charges: reconcile.SideCounts{Total: reconcile.Count{Count: 4, Amount: 21000}, Matched: reconcile.Count{Count: 3, Amount: 19000},
			Unmatched: reconcile.Count{Count: 1, Amount: 2000}},
		Transfers: reconcile.SideCounts{Total: reconcile.Count{Count: 2, Amount: 12350}, Matched: reconcile.Count{Count: 2, Amount: 12350}},
	}, {
		Currency: "EUR",
		Gross:    12000, Refunds: 6000, StripeFees: 2 * fee(6000), Net: 12000 - 6000 - 2*fee(6000),
		PlatformFee: 300, Transferred: 800, Collected: 6000,
		Pledges: reconcile.PledgeCounts{SideCounts: reconcile.SideCounts{Total: reconcile.Count{Count: 1, Amount: 6000}, Matched: reconcile.Count{Count: 1, Amount: 6000}}},
		Charges: reconcile.SideCounts{Total: reconcile.Count{Count: 2, Amount: 12000}, Matched: reconcile.Count{Count: 1, Amount: 6000},
			Unmatched: reconcile.Count{Count: 1, Amount: 6000}},
		Transfers: reconcile.SideCounts{Total: reconcile.Count{Count: 1, Amount: 800}, Unmatched: reconcile.Count{Count: 1, Amount: 800}},
	}}
	if !slices.Equal(sum.Totals, want) {
		t.Errorf("totals\n got %+v\nwant %+v", sum.Totals, want)
	}
	checkTotals(t, db, st, sum, feeBPS)
}

// world is a random data set that both sides agree on, open to discrepancies injected one
// pledge at a time.
type world struct {
	camps   []campaign
	paidOut map[string]bool
	db      map[string]*reconcile.Ledger
	stripe  map[string]*reconcile.Stripe
	ids     []string // pledge ids in creation order, so injections pick them reproducibly
	next    int      // numbers the objects injections invent
	short   map[string]bool
}

type campaign struct{ id, currency string }

func (w *world) sorted() ([]reconcile.Ledger, []reconcile.Stripe) {
	var db []reconcile.Ledger
	for _, id := range slices.Sorted(maps.Keys(w.db)) {
		db = append(db, *w.db[id])
	}
	var st []reconcile.Stripe
	for _, k := range slices.Sorted(maps.Keys(w.stripe)) {
		st = append(st, *w.stripe[k])
	}
	return db, st
}

func (w *world) group(key string) *reconcile.Stripe {
	if w.stripe[key] == nil {
		w.stripe[key] = &reconcile.Stripe{Key: key}
	}
	return w.stripe[key]
}

// paid returns the pledge's succeeded charge, the only one a clean world holds.
func (w *world) paid(id string) *reconcile.Charge {
	s := w.stripe[id]
	if s == nil {
		return nil
	}
	for i := range s.Charges {
		if s.Charges[i].Status == "succeeded" {
			return &s.Charges[i]
		}
	}
	return nil
}

func (w *world) transfer(id string) *reconcile.Transfer {
	if s := w.stripe[id]; s != nil && len(s.Transfers) > 0 {
		return &s.Transfers[0]
	}
	return nil
}

var (
	statuses = []pledge.Status{pledge.StatusCollected, pledge.StatusCollected, pledge.StatusCollected, pledge.StatusPartiallyRefunded,
		pledge.StatusRefunded, pledge.StatusDisputed, pledge.StatusDisputeLost, pledge.StatusActive, pledge.StatusVoid,
		pledge.StatusCancelled, pledge.StatusPending, pledge.StatusExpired, pledge.StatusPaymentFailed, pledge.StatusDropped,
		pledge.StatusCharging, pledge.StatusCharging}
	openDisputes = []string{"warning_needs_response", "needs_response", "under_review"}
)

func newWorld(r *rand.Rand) *world {
	w := &world{paidOut: map[string]bool{}, db: map[string]*reconcile.Ledger{}, stripe: map[string]*reconcile.Stripe{}, short: map[string]bool{}}
	for i := range 2 + r.IntN(2) {
		c := campaign{fmt.Sprintf("camp-%d", i), []string{"CHF", "EUR"}[i%2]}
		w.camps = append(w.camps, c)
		w.paidOut[c.id] = r.IntN(2) == 0
	}
	n := 5 + r.IntN(36)
	// Ids drawn out of order so creation order is not key order.
	for _, num := range r.Perm(1000)[:n] {
		w.addPledge(r, fmt.Sprintf("pl_%03d", num))
	}
	if r.IntN(3) == 0 {
		id := fmt.Sprintf("ch_declined_%d", r.IntN(100))
		w.group(reconcile.UnknownKey(id)).Charges = []reconcile.Charge{{ID: id, Amount: money.Money{Amount: 1000, Currency: "CHF"}, Status: "failed"}}
	}
	return w
}

func (w *world) addPledge(r *rand.Rand, id string) {
	c := w.camps[r.IntN(len(w.camps))]
	amount := 500 + r.Int64N(99_500)
	p := &reconcile.Ledger{PledgeID: id, CampaignID: c.id, Status: statuses[r.IntN(len(statuses))],
		Amount: money.Money{Amount: amount, Currency: c.currency}, UpdatedAt: now.Add(-stuckAfter - time.Duration(1+r.IntN(1000))*time.Minute)}
	w.db[id], w.ids = p, append(w.ids, id)
	created := now.Add(-time.Duration(48+r.IntN(100)) * time.Hour)
	ch := reconcile.Charge{ID: "ch_" + id, PaymentIntentID: "pi_" + id, PledgeID: id, CampaignID: c.id, Amount: p.Amount,
		Status: "succeeded", Fee: stripeFee(amount), Created: created}
	if r.IntN(4) == 0 && p.Status != pledge.StatusActive {
		declined := ch
		declined.ID, declined.Status, declined.Created = "ch_"+id+"_declined", "failed", created.Add(-time.Hour)
		w.group(id).Charges = append(w.group(id).Charges, declined)
	}
	switch {
	case p.Status == pledge.StatusCharging:
		p.UpdatedAt = now.Add(-time.Duration(r.Int64N(int64(stuckAfter) + 1)))
		p.PaymentIntentID = "pi_" + id
		if r.IntN(2) == 0 {
			w.group(id).Charges = append(w.group(id).Charges, ch)
		}
		return
	case !p.Status.Charged():
		return
	}
	p.PaymentIntentID, p.StripeFee = "pi_"+id, ch.Fee
	// Some pledges lost their charge id to a crash; the PaymentIntent still ties them.
	if r.IntN(4) != 0 {
		p.ChargeID = ch.ID
	}
	refund := func(total int64) {
		p.Refunded, ch.Refunded = total, total
		for left, i := total, 0; left > 0; i++ {
			part := left
			if i == 0 && left > 1 && r.IntN(2) == 0 {
				part = 1 + r.Int64N(left-1)
			}
			ch.Refunds = append(ch.Refunds, reconcile.Refund{ID: fmt.Sprintf("re_%s_%d", id, i), Amount: part})
			left -= part
		}
	}
	dispute := func(db, st string) {
		// Some disputes take part of the charge, so what a lost one leaves is not zero.
		disputed := amount
		if r.IntN(2) == 0 {
			disputed = 1 + r.Int64N(amount)
		}
		p.Dispute = &reconcile.Dispute{ID: "dp_" + id, Status: db, Amount: disputed}
		ch.Dispute = &reconcile.Dispute{ID: "dp_" + id, Status: st, Amount: disputed}
		ch.DisputeFee = 1500
	}
	switch p.Status {
	case pledge.StatusPartiallyRefunded:
		refund(1 + r.Int64N(amount-1))
	case pledge.StatusRefunded:
		refund(amount)
		if r.IntN(2) == 0 {
			p.TransferID = "none"
		}
	case pledge.StatusDisputed:
		dispute(openDisputes[r.IntN(len(openDisputes))], openDisputes[r.IntN(len(openDisputes))])
	case pledge.StatusDisputeLost:
		dispute("lost", "lost")
	case pledge.StatusCollected:
		if r.IntN(5) == 0 {
			dispute("won", "won")
		}
	}
	w.group(id).Charges = append(w.group(id).Charges, ch)
	// Settlement pays collected and partly refunded pledges: all of a paid-out campaign's,
	// some of a campaign still paying out.
	if (p.Status == pledge.StatusCollected || p.Status == pledge.StatusPartiallyRefunded) && (w.paidOut[c.id] || r.IntN(2) == 0) {
		s := w.group(id)
		s.Transfers = append(s.Transfers, transferred(p, amount-p.Refunded))
	}
}

// injector makes one discrepancy that must show as exactly one finding of kind: on the pledge
// it is given when it accepts it (ok), else it declines. None changes what a paid-out
// campaign's designer is owed or was sent, unless that is the discrepancy it makes, so no
// campaign finding appears unasked.
type injector struct {
	kind reconcile.Kind
	do   func(w *world, r *rand.Rand, p *reconcile.Ledger) (key, what string, ok bool)
}

var injectors = []injector{
	{reconcile.AmountMismatch, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		ch := w.paid(p.PledgeID)
		if !p.Status.Charged() || ch == nil {
			return "", "", false
		}
		delta := 1 + r.Int64N(1000)
		// A paid-out campaign is owed what Stripe kept, so there the database's side moves.
		if w.paidOut[p.CampaignID] {
			p.Amount.Amount += delta
			return p.PledgeID, "pledge amount +" + strconv.FormatInt(delta, 10), true
		}
		ch.Amount.Amount += delta
		return p.PledgeID, "charge amount +" + strconv.FormatInt(delta, 10), true
	}},
	{reconcile.CurrencyMismatch, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		ch := w.paid(p.PledgeID)
		if !p.Status.Charged() || ch == nil {
			return "", "", false
		}
		ch.Amount.Currency = map[string]string{"CHF": "EUR", "EUR": "CHF"}[ch.Amount.Currency]
		return p.PledgeID, "charge currency " + ch.Amount.Currency, true
	}},
	{reconcile.MissingInStripe, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		ch := w.paid(p.PledgeID)
		owes := p.Status == pledge.StatusCollected || p.Status == pledge.StatusPartiallyRefunded
		if !p.Status.Charged() || ch == nil || (w.paidOut[p.CampaignID] && owes) {
			return "", "", false
		}
		if r.IntN(2) == 0 {
			ch.Status = "failed"
			return p.PledgeID, "charge failed", true
		}
		s := w.stripe[p.PledgeID]
		s.Charges = slices.DeleteFunc(s.Charges, func(c reconcile.Charge) bool { return c.ID == ch.ID })
		if len(s.Charges) == 0 && len(s.Transfers) == 0 {
			delete(w.stripe, p.PledgeID)
		}
		return p.PledgeID, "charge dropped", true
	}},
	{reconcile.MissingInDB, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		if r.IntN(2) == 0 {
			w.next++
			id := fmt.Sprintf("ch_unknown_%d", w.next)
			c := w.camps[r.IntN(len(w.camps))]
			w.group(reconcile.UnknownKey(id)).Charges = []reconcile.Charge{{ID: id, CampaignID: c.id, Status: "succeeded",
				Amount: money.Money{Amount: 500 + r.Int64N(5000), Currency: c.currency}, Fee: 50}}
			return reconcile.UnknownKey(id), "charge for no pledge", true
		}
		if p.Status.Charged() || p.Status == pledge.StatusCharging || w.paid(p.PledgeID) != nil {
			return "", "", false
		}
		s := w.group(p.PledgeID)
		s.Charges = append(s.Charges, charge(*p, "ch_"+p.PledgeID+"_lost"))
		return p.PledgeID, "charge for a " + string(p.Status) + " pledge", true
	}},
	{reconcile.RefundMismatch, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		ch := w.paid(p.PledgeID)
		if !p.Status.Charged() || ch == nil {
			return "", "", false
		}
		if room := ch.Amount.Amount - ch.Refunded; room > 0 && !w.paidOut[p.CampaignID] {
			amount := 1 + r.Int64N(room)
			ch.Refunded += amount
			ch.Refunds = append(ch.Refunds, reconcile.Refund{ID: "re_" + p.PledgeID + "_unrecorded", Amount: amount})
			return p.PledgeID, "unrecorded refund at Stripe", true
		}
		if p.Refunded == p.Amount.Amount {
			p.Refunded -= 1 + r.Int64N(p.Refunded)
		} else {
			p.Refunded += 1 + r.Int64N(p.Amount.Amount-p.Refunded)
		}
		return p.PledgeID, "pledge refunded " + strconv.FormatInt(p.Refunded, 10), true
	}},
	{reconcile.DisputeUnrecorded, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		ch := w.paid(p.PledgeID)
		if !p.Status.Charged() || ch == nil {
			return "", "", false
		}
		switch {
		case p.Status == pledge.StatusDisputed && r.IntN(2) == 0:
			// Lost is as far from owed as open was: the campaign's sum stays put.
			ch.Dispute.Status = "lost"
			return p.PledgeID, "dispute lost at Stripe", true
		case p.Dispute != nil:
			p.Dispute = nil
			return p.PledgeID, "dispute dropped from the pledge", true
		}
		// Won from the start withdraws nothing, so only the pledge's record is short.
		ch.Dispute = &reconcile.Dispute{ID: "dp_" + p.PledgeID, Status: "won", Amount: ch.Amount.Amount}
		return p.PledgeID, "won dispute at Stripe", true
	}},
	{reconcile.DuplicateCharge, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		ch := w.paid(p.PledgeID)
		if ch == nil || !(p.Status.Charged() || p.Status == pledge.StatusCharging) {
			return "", "", false
		}
		extra := *ch
		extra.ID, extra.PaymentIntentID, extra.Created = ch.ID+"_again", ch.PaymentIntentID+"_again", ch.Created.Add(time.Duration(r.IntN(120)-60)*time.Minute)
		extra.Refunded, extra.Refunds, extra.Dispute, extra.DisputeFee = r.Int64N(extra.Amount.Amount), nil, nil, 0
		s := w.stripe[p.PledgeID]
		s.Charges = append(s.Charges, extra)
		return p.PledgeID, "second charge", true
	}},
	{reconcile.StuckPledge, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		if p.Status.Charged() {
			return "", "", false
		}
		p.Status, p.UpdatedAt = pledge.StatusCharging, now.Add(-stuckAfter-time.Duration(1+r.IntN(5000))*time.Second)
		return p.PledgeID, "charging since " + p.UpdatedAt.Format(time.TimeOnly), true
	}},
	{reconcile.TransferMismatch, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		tr := w.transfer(p.PledgeID)
		switch {
		case r.IntN(4) == 0:
			w.next++
			id := fmt.Sprintf("tr_unknown_%d", w.next)
			// Into a campaign no payout sum covers, or the sum would be off as well.
			camp := "camp-closed"
			for _, c := range w.camps {
				if !w.paidOut[c.id] {
					camp = c.id
				}
			}
			w.group(reconcile.UnknownKey(id)).Transfers = []reconcile.Transfer{{ID: id, CampaignID: camp, Amount: chf(100 + r.Int64N(1000))}}
			return reconcile.UnknownKey(id), "transfer for no pledge", true
		case tr == nil:
			return "", "", false
		case !w.paidOut[p.CampaignID] && r.IntN(2) == 0:
			tr.Reversed = 1 + r.Int64N(tr.Amount.Amount)
			return p.PledgeID, "transfer reversed at Stripe", true
		case r.IntN(2) == 0:
			p.TransferID, p.TransferAmount = "", 0
			return p.PledgeID, "transfer missing from the pledge", true
		}
		p.TransferAmount += 1 + r.Int64N(1000)
		return p.PledgeID, "recorded transfer amount changed", true
	}},
	{reconcile.TransferMismatch, func(w *world, r *rand.Rand, p *reconcile.Ledger) (string, string, bool) {
		tr := w.transfer(p.PledgeID)
		key := "campaign:" + p.CampaignID
		if tr == nil || !w.paidOut[p.CampaignID] || w.short[p.CampaignID] {
			return "", "", false
		}
		// Neither side knows of the transfer any more: only the campaign's sum can tell.
		p.TransferID, p.TransferAmount = "", 0
		w.stripe[p.PledgeID].Transfers = nil
		w.short[p.CampaignID] = true
		return key, "payout of a paid-out campaign skipped a pledge", true
	}},
}

// baseSeed is the property test's first seed: fixed, so runs repeat, unless RECONCILE_SEED
// names another (a failure prints the one to replay).
func baseSeed(tb testing.TB) uint64 {
	tb.Helper()
	s := os.Getenv("RECONCILE_SEED")
	if s == "" {
		return 20250314
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		tb.Fatalf("RECONCILE_SEED=%q: %v", s, err)
	}
	return v
}

// A world both sides agree on yields nothing; each discrepancy injected into it yields exactly
// its own finding, whatever else is injected alongside, and the totals hold throughout.
func TestCompareProperty(t *testing.T) {
	base := baseSeed(t)
	t.Logf("seeds %d to %d", base, base+299)
	injected := map[reconcile.Kind]int{}
	campaigns := 0
	for i := range 300 {
		seed := base + uint64(i)
		replay := fmt.Sprintf("replay: RECONCILE_SEED=%d go test -run TestCompareProperty ./internal/reconcile", seed)
		r := rand.New(rand.NewPCG(seed, seed))
		w := newWorld(r)
		o := options()
		o.PaidOut = w.paidOut

		db, st := w.sorted()
		ms, sum := compare(t, db, st, o)
		if got := foundIn(ms); len(got) > 0 {
			t.Fatalf("seed %d: a clean world yields %v\n%s", seed, got, replay)
		}
		checkSummary(t, ms, sum)
		checkTotals(t, db, st, sum, feeBPS)
		if t.Failed() {
			t.Fatalf("seed %d: clean world\n%s", seed, replay)
		}

		var want []found
		var what []string
		used := map[string]bool{}
		order := slices.Clone(w.ids)
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for range 1 + r.IntN(10) {
			inj := injectors[r.IntN(len(injectors))]
			for _, id := range order {
				if used[id] {
					continue
				}
				if key, desc, ok := inj.do(w, r, w.db[id]); ok {
					used[id] = true
					want = append(want, found{key, inj.kind})
					what = append(what, fmt.Sprintf("%s (%s, on pledge %s)", found{key, inj.kind}, desc, id))
					injected[inj.kind]++
					if strings.HasPrefix(key, "campaign:") {
						campaigns++
					}
					break
				}
			}
		}

		db, st = w.sorted()
		ms, sum = compare(t, db, st, o)
		got := foundIn(ms)
		slices.SortFunc(got, compareFound)
		slices.SortFunc(want, compareFound)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: found %v\nwant %v\ninjected:\n  %s\n%s", seed, got, want, strings.Join(what, "\n  "), replay)
		}
		checkSummary(t, ms, sum)
		checkTotals(t, db, st, sum, feeBPS)
		if t.Failed() {
			t.Fatalf("seed %d: injected:\n  %s\n%s", seed, strings.Join(what, "\n  "), replay)
		}
	}
	// An injector that always declined would leave its kind untested while the test passes.
	for _, k := range reconcile.Kinds {
		if injected[k] == 0 {
			t.Errorf("no %s injected in 300 worlds", k)
		}
	}
	if campaigns == 0 {
		t.Errorf("no campaign's payout injected short in 300 worlds")
	}
	t.Logf("injected %v, %d of them campaigns short", injected, campaigns)
}

// A listing split into time ranges hands a pledge's charges on in any order; grouped, they are
// in one order (Stripe's, newest first, ties by id), so the findings that name them and the
// report's rows are the same whatever the listing's order.
func TestGroupOrdersAPledgesChargesWhateverTheListingOrder(t *testing.T) {
	chf := func(a int64) money.Money { return money.Money{Amount: a, Currency: "CHF"} }
	charges := []reconcile.Charge{
		{ID: "ch_a", PledgeID: "plg_1", Amount: chf(2500), Status: "succeeded", Created: now},
		{ID: "ch_b", PledgeID: "plg_1", Amount: chf(2500), Status: "succeeded", Created: now},
		{ID: "ch_c", PledgeID: "plg_1", Amount: chf(2500), Status: "succeeded", Created: now.Add(time.Second)},
		{ID: "ch_d", PledgeID: "plg_1", Amount: chf(2500), Status: "succeeded", Created: now.Add(-time.Hour)},
	}
	want := []string{"ch_c", "ch_b", "ch_a", "ch_d"}
	for i := range 24 {
		shuffled := slices.Clone(charges)
		rand.New(rand.NewPCG(uint64(i), 1)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		groups := reconcile.Group(nil, shuffled, nil)
		var got []string
		for _, ch := range groups[0].Charges {
			got = append(got, ch.ID)
		}
		if len(groups) != 1 || !slices.Equal(got, want) {
			t.Fatalf("listed as %v, grouped as %v, want %v", shuffled, got, want)
		}
	}
}
