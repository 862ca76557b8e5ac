package stripedouble

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
)

func TestSaveCardThenChargeOffSession(t *testing.T) {
	clock := &testClock{now: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
	h := newHarness(t, Options{Now: clock.Now})
	cu := h.customer(t)

	si, err := h.sc.SetupIntents.New(&stripe.SetupIntentParams{
		Customer:           stripe.String(cu.ID),
		Usage:              stripe.String("off_session"),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if si.Status != stripe.SetupIntentStatusRequiresPaymentMethod {
		t.Fatalf("new SetupIntent status %s", si.Status)
	}
	si, err = h.sc.SetupIntents.Confirm(si.ID, &stripe.SetupIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
	if err != nil {
		t.Fatal(err)
	}
	if si.Status != stripe.SetupIntentStatusSucceeded {
		t.Fatalf("confirmed SetupIntent status %s", si.Status)
	}
	pmID := si.PaymentMethod.ID
	if pmID == "pm_card_visa" || pmID == "" {
		t.Fatalf("test id must be cloned into a new PaymentMethod, got %q", pmID)
	}
	pm, err := h.sc.PaymentMethods.Get(pmID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Customer == nil || pm.Customer.ID != cu.ID || pm.Card.Last4 != "4242" || pm.Card.Brand != "visa" {
		t.Fatalf("saved card not attached as expected: %+v", pm)
	}
	got, err := h.sc.SetupIntents.Get(si.ID, nil)
	if err != nil || got.Status != stripe.SetupIntentStatusSucceeded {
		t.Fatalf("retrieve SetupIntent: %v %v", got, err)
	}

	pi, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{
		Amount:        stripe.Int64(2500),
		Currency:      stripe.String("chf"),
		Customer:      stripe.String(cu.ID),
		PaymentMethod: stripe.String(pmID),
		Confirm:       stripe.Bool(true),
		OffSession:    stripe.Bool(true),
		TransferGroup: stripe.String("campaign_1"),
		Params:        stripe.Params{Metadata: map[string]string{"pledge": "p1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusSucceeded || pi.AmountReceived != 2500 || pi.LatestCharge == nil {
		t.Fatalf("off-session charge: status %s received %d", pi.Status, pi.AmountReceived)
	}
	ch, err := h.sc.Charges.Get(pi.LatestCharge.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != stripe.ChargeStatusSucceeded || !ch.Paid || ch.PaymentIntent.ID != pi.ID ||
		ch.TransferGroup != "campaign_1" || ch.Metadata["pledge"] != "p1" || ch.Livemode {
		t.Fatalf("charge: %+v", ch)
	}
	bt, err := h.sc.BalanceTransactions.Get(ch.BalanceTransaction.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2.9% of 2500 is 72.5, rounded half up to 73, plus 30.
	if bt.Fee != 103 || bt.Net != 2397 || bt.Amount != 2500 || bt.Source.ID != ch.ID {
		t.Fatalf("balance transaction: fee %d net %d amount %d", bt.Fee, bt.Net, bt.Amount)
	}
	if bt.AvailableOn != clock.Now().Unix()+2*86400 || bt.Status != stripe.BalanceTransactionStatusPending {
		t.Fatalf("available_on %d status %s", bt.AvailableOn, bt.Status)
	}
	clock.Advance(49 * time.Hour)
	if bt, _ = h.sc.BalanceTransactions.Get(bt.ID, nil); bt.Status != stripe.BalanceTransactionStatusAvailable {
		t.Fatalf("after two days status %s", bt.Status)
	}

	want := []string{"customer.created", "setup_intent.created", "payment_method.attached", "setup_intent.succeeded",
		"payment_intent.created", "charge.succeeded", "payment_intent.succeeded"}
	if got := eventTypes(h.d); len(got) != len(want) || !containsAll(got, want...) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, e := range h.d.Events() {
		if e.APIVersion != "2023-10-16" || e.Livemode || e.Request == nil || e.Request.ID == "" {
			t.Fatalf("event %s: api_version %q request %+v", e.Type, e.APIVersion, e.Request)
		}
	}
}

func TestCustomFee(t *testing.T) {
	h := newHarness(t, Options{Fee: PercentPlusFixed(140, 25)})
	pi, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(10000),
		Currency: stripe.String("eur"), PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true),
		Params: stripe.Params{Expand: []*string{stripe.String("latest_charge.balance_transaction")}}})
	if err != nil {
		t.Fatal(err)
	}
	bt := pi.LatestCharge.BalanceTransaction
	if bt == nil || bt.Fee != 165 || bt.Net != 9835 {
		t.Fatalf("expanded balance transaction %+v", bt)
	}
}

func TestPaymentIntentStatuses(t *testing.T) {
	h := newHarness(t, Options{})
	pi, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(500), Currency: stripe.String("usd")})
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || pi.ClientSecret == "" {
		t.Fatalf("created: %s", pi.Status)
	}
	_, err = h.sc.PaymentIntents.Confirm(pi.ID, nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "payment_method" {
		t.Fatalf("confirm without payment method: %+v", se)
	}
	pi, err = h.sc.PaymentIntents.Update(pi.ID, &stripe.PaymentIntentParams{PaymentMethod: stripe.String("pm_card_visa")})
	if err != nil || pi.Status != stripe.PaymentIntentStatusRequiresConfirmation {
		t.Fatalf("update: %v %v", pi.Status, err)
	}
	pi, err = h.sc.PaymentIntents.Cancel(pi.ID, &stripe.PaymentIntentCancelParams{
		CancellationReason: stripe.String("abandoned")})
	if err != nil || pi.Status != stripe.PaymentIntentStatusCanceled || pi.CanceledAt == 0 ||
		pi.CancellationReason != "abandoned" {
		t.Fatalf("cancel: %+v %v", pi, err)
	}
	_, err = h.sc.PaymentIntents.Confirm(pi.ID, nil)
	if se := stripeErr(t, err); se.Code != "payment_intent_unexpected_state" || se.PaymentIntent == nil ||
		se.PaymentIntent.Status != stripe.PaymentIntentStatusCanceled {
		t.Fatalf("confirm canceled: %+v", se)
	}

	ok, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(500), Currency: stripe.String("usd"),
		PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.sc.PaymentIntents.Cancel(ok.ID, nil)
	if se := stripeErr(t, err); se.Code != "payment_intent_unexpected_state" {
		t.Fatalf("cancel succeeded: %+v", se)
	}
	_, err = h.sc.PaymentIntents.Get("pi_missing", nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 404 || se.Code != "resource_missing" {
		t.Fatalf("missing: %+v", se)
	}

	si, err := h.sc.SetupIntents.New(&stripe.SetupIntentParams{})
	if err != nil {
		t.Fatal(err)
	}
	si, err = h.sc.SetupIntents.Cancel(si.ID, nil)
	if err != nil || si.Status != stripe.SetupIntentStatusCanceled {
		t.Fatalf("cancel setup intent: %v %v", si, err)
	}
	if !containsAll(eventTypes(h.d), "payment_intent.canceled", "setup_intent.canceled") {
		t.Fatalf("events %v", eventTypes(h.d))
	}
}

func TestOnSessionAuthentication(t *testing.T) {
	h := newHarness(t, Options{})
	pi, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(1200), Currency: stripe.String("eur"),
		PaymentMethod: stripe.String("pm_card_authenticationRequired"), Confirm: stripe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if pi.Status != stripe.PaymentIntentStatusRequiresAction || pi.NextAction == nil ||
		pi.NextAction.Type != stripe.PaymentIntentNextActionTypeUseStripeSDK {
		t.Fatalf("on-session 3DS: status %s next %+v", pi.Status, pi.NextAction)
	}
	if len(h.d.Charges()) != 0 {
		t.Fatal("no charge before authentication")
	}
	pi, err = h.sc.PaymentIntents.Confirm(pi.ID, nil)
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded || pi.NextAction != nil {
		t.Fatalf("after 3DS: %v %v", pi.Status, err)
	}
	if !containsAll(eventTypes(h.d), "payment_intent.requires_action", "payment_intent.succeeded", "charge.succeeded") {
		t.Fatalf("events %v", eventTypes(h.d))
	}
}
