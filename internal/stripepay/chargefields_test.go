package stripepay

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// stripeGoCharge is how charges were read before chargeFields: stripe-go's full stripe.Charge,
// mapped field by field. It is the reference the lean decoding must equal.
func stripeGoCharge(t *testing.T, c *Client, ch *stripe.Charge) reconcile.Charge {
	t.Helper()
	out := reconcile.Charge{ID: ch.ID, PledgeID: ch.Metadata["pledge_id"], CampaignID: ch.TransferGroup,
		Amount: money.Money{Amount: ch.Amount, Currency: strings.ToUpper(string(ch.Currency))},
		Status: string(ch.Status), Refunded: ch.AmountRefunded, Created: time.Unix(ch.Created, 0).UTC()}
	if ch.PaymentIntent != nil {
		out.PaymentIntentID = ch.PaymentIntent.ID
	}
	if bt := ch.BalanceTransaction; bt != nil {
		out.Fee = bt.Fee
	}
	if ch.AmountRefunded > 0 {
		it := c.api.Refunds.List(&stripe.RefundListParams{ListParams: listParams(context.Background()), Charge: stripe.String(ch.ID)})
		for it.Next() {
			if rf := it.Refund(); rf.Status != stripe.RefundStatusFailed && rf.Status != stripe.RefundStatusCanceled {
				out.Refunds = append(out.Refunds, reconcile.Refund{ID: rf.ID, Amount: rf.Amount})
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if ch.Disputed {
		it := c.api.Disputes.List(&stripe.DisputeListParams{ListParams: listParams(context.Background()), Charge: stripe.String(ch.ID)})
		for it.Next() {
			dp := it.Dispute()
			out.Dispute = &reconcile.Dispute{ID: dp.ID, Status: string(dp.Status), Amount: dp.Amount}
			for _, bt := range dp.BalanceTransactions {
				out.DisputeFee += bt.Fee
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Charges are decoded into chargeFields, not stripe.Charge (issue 16: decoding was half of a large
// reconciliation's CPU). Over the double's real answers — refunds full and partial, a dispute,
// fees, a declined charge without balance transaction, no metadata, metadata with hostile text
// and keys that differ from pledge_id only by case — ListCharges (split and sequential),
// PaymentIntentCharges and RetrieveCharge give exactly what stripe-go's full decoding gave.
func TestChargeFieldsDecodeLikeStripeGo(t *testing.T) {
	d, c := newDouble(t)
	ctx := context.Background()
	charge := func(amount int64, currency, group string, md map[string]string) string {
		t.Helper()
		_, ch, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: amount, Currency: currency, TransferGroup: group, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	const hostile = "plg_\"}],\"pledge_id\":\"plg_evil\\\\\u2028<script>é😀\t\u0001"
	charge(2500, "chf", "cam_lean", map[string]string{"pledge_id": "plg_plain", "campaign_id": "cam_lean"})
	charge(120000, "jpy", "cam_lean", map[string]string{"pledge_id": "plg_jpy"})
	refunded := charge(4000, "eur", "cam_lean", map[string]string{"pledge_id": "plg_refunded"})
	partial := charge(9000, "chf", "cam_lean", map[string]string{"pledge_id": "plg_partial"})
	disputed := charge(7000, "chf", "cam_lean", map[string]string{"pledge_id": "plg_disputed"})
	charge(1500, "chf", "cam_lean", map[string]string{"pledge_id": hostile, "campaign_id": "cam_lean"})
	charge(1600, "chf", "cam_lean", map[string]string{"PLEDGE_ID": "plg_upper", "Pledge_Id": "plg_mixed"})
	charge(1700, "chf", "cam_lean", map[string]string{"Pledge_ID": "plg_fake", "pledge_id": "plg_real", "pledge_iD": "plg_fake2"})
	charge(1800, "usd", "", nil)
	for _, r := range []struct {
		ch     string
		amount int64
	}{{refunded, 0}, {partial, 1000}, {partial, 2500}} {
		if _, err := d.DashboardRefund(r.ch, r.amount); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.DashboardDispute(disputed, "fraudulent"); err != nil {
		t.Fatal(err)
	}
	declined := &stripe.PaymentIntentParams{Amount: stripe.Int64(3000), Currency: stripe.String("chf"), Confirm: stripe.Bool(true),
		PaymentMethod: stripe.String("pm_card_chargeDeclined"), TransferGroup: stripe.String("cam_lean")}
	declined.AddMetadata("pledge_id", "plg_declined")
	if _, err := c.api.PaymentIntents.New(declined); err == nil {
		t.Fatal("a declined card was charged")
	} else if se, ok := errors.AsType[*stripe.Error](err); !ok || se.Type != stripe.ErrorTypeCard {
		t.Fatalf("declined charge: %v", err)
	}

	period := reconcile.Filter{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
	lp := &stripe.ChargeListParams{ListParams: listParams(ctx), CreatedRange: rangeQuery(createdBounds(period))}
	lp.AddExpand("data.balance_transaction")
	var want []reconcile.Charge
	for it := c.api.Charges.List(lp); it.Next(); {
		want = append(want, stripeGoCharge(t, c, it.Charge()))
	}
	byID := func(a, b reconcile.Charge) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(want, byID)

	// The reference itself holds every case, so the comparison cannot pass on easy charges only.
	var fees, failed, twoRefunds, disputes, hostileIDs, noPledge int
	for _, ch := range want {
		switch {
		case ch.Fee > 0:
			fees++
		case ch.Status == "failed":
			failed++
		}
		if len(ch.Refunds) == 2 && ch.Refunded == 3500 {
			twoRefunds++
		}
		if ch.Dispute != nil && ch.DisputeFee > 0 {
			disputes++
		}
		if ch.PledgeID == hostile {
			hostileIDs++
		}
		if ch.PledgeID == "" {
			noPledge++
		}
	}
	if len(want) != 10 || fees != 9 || failed != 1 || twoRefunds != 1 || disputes != 1 || hostileIDs != 1 || noPledge != 2 {
		t.Fatalf("reference: %d charges, %d with fees, %d failed, %d twice refunded, %d disputed, %d hostile, %d without pledge",
			len(want), fees, failed, twoRefunds, disputes, hostileIDs, noPledge)
	}

	same := func(what string, got, want reconcile.Charge) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n lean      %+v (dispute %+v)\n stripe-go %+v (dispute %+v)", what, got, got.Dispute, want, want.Dispute)
		}
	}
	for _, workers := range []int{1, 4} {
		c.listWorkers = workers
		var got []reconcile.Charge
		if err := c.ListCharges(ctx, period, func(ch reconcile.Charge) error { got = append(got, ch); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, byID)
		if len(got) != len(want) {
			t.Fatalf("%d workers listed %d charges, stripe-go %d", workers, len(got), len(want))
		}
		for i := range want {
			same("listed", got[i], want[i])
		}
	}
	for _, w := range want {
		got, err := c.RetrieveCharge(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		same("retrieved", got, w)
		of, err := c.PaymentIntentCharges(ctx, w.PaymentIntentID)
		if err != nil {
			t.Fatal(err)
		}
		if len(of) != 1 {
			t.Fatalf("%d charges of payment intent %s, want 1", len(of), w.PaymentIntentID)
		}
		same("charges of its payment intent", of[0], w)
	}
}
