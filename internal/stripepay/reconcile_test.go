package stripepay

import (
	"context"
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
