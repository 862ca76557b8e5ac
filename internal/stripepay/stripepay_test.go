package stripepay

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stripe/stripe-mock/embedded"
	"github.com/stripe/stripe-mock/server"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// callEvery makes every request the adapter knows, in a plausible order, and fails on any error.
// Against plain stripe-mock this proves each request is valid for Stripe's API specification.
func callEvery(t *testing.T, c *Client, validOnly bool) {
	t.Helper()
	ctx := context.Background()
	cus, err := c.CreateCustomer(ctx, pledge.CustomerRequest{Email: "ana@example.com", Name: "Ana", PledgeID: "plg_1", CampaignID: "cam_1", IdempotencyKey: "plg_1/customer"})
	if err != nil {
		t.Fatalf("create customer: %v", err)
	}
	si, err := c.CreateSetupIntent(ctx, pledge.SetupRequest{CustomerID: cus, PledgeID: "plg_1", CampaignID: "cam_1", IdempotencyKey: "plg_1/setup_intent"})
	if err != nil {
		t.Fatalf("create setup intent: %v", err)
	}
	confirmed, err := c.ConfirmSetupIntent(ctx, si.ID, "pm_card_visa", "plg_1/confirm/1")
	if err != nil {
		t.Fatalf("confirm setup intent: %v", err)
	}
	if !validOnly && (confirmed.Status != pledge.IntentSucceeded || confirmed.PaymentMethodID == "") {
		t.Fatalf("confirmed setup intent: %+v", confirmed)
	}
	si2, err := c.CreateSetupIntent(ctx, pledge.SetupRequest{CustomerID: cus, PledgeID: "plg_2", CampaignID: "cam_1", IdempotencyKey: "plg_2/setup_intent"})
	if err != nil {
		t.Fatal(err)
	}
	if in, err := c.CancelSetupIntent(ctx, si2.ID, "plg_2/setup_intent/cancel"); err != nil || (!validOnly && in.Status != pledge.IntentCanceled) {
		t.Fatalf("cancel setup intent: %+v %v", in, err)
	}
	// Too late to cancel a setup the backer completed: the answer is the intent as it is.
	if in, err := c.CancelSetupIntent(ctx, confirmed.ID, "plg_1/setup_intent/cancel"); err != nil || (!validOnly && in.Status != pledge.IntentSucceeded) {
		t.Fatalf("cancel of a succeeded setup intent: %+v %v", in, err)
	}
	pm := confirmed.PaymentMethodID
	if validOnly {
		pm = "pm_card_visa"
	}
	charged, err := c.CreatePaymentIntent(ctx, pledge.PaymentRequest{Amount: money.Money{Amount: 32000, Currency: "CHF"}, CustomerID: cus,
		PaymentMethodID: pm, OffSession: true, Confirm: true, TransferGroup: "cam_1", PledgeID: "plg_1", CampaignID: "cam_1", IdempotencyKey: "plg_1/charge/1"})
	if err != nil {
		t.Fatalf("off-session charge: %v", err)
	}
	if !validOnly && charged.Status != pledge.IntentSucceeded {
		t.Fatalf("off-session charge: %+v", charged)
	}
	if err := c.Refund(ctx, charged.ID, 1000, "plg_1/refund/1"); err != nil {
		t.Fatalf("partial refund: %v", err)
	}
	flex, err := c.CreatePaymentIntent(ctx, pledge.PaymentRequest{Amount: money.Money{Amount: 5000, Currency: "EUR"}, TransferGroup: "cam_2",
		PledgeID: "plg_3", CampaignID: "cam_2", IdempotencyKey: "plg_3/payment_intent"})
	if err != nil {
		t.Fatalf("create payment intent: %v", err)
	}
	if _, err := c.ConfirmPaymentIntent(ctx, flex.ID, "pm_card_visa", "plg_3/confirm/1"); err != nil {
		t.Fatalf("confirm payment intent: %v", err)
	}
	if in, err := c.CancelPaymentIntent(ctx, flex.ID, "plg_3/payment_intent/cancel"); err != nil || (!validOnly && (in.Status != pledge.IntentSucceeded || in.ChargeID == "")) {
		t.Fatalf("cancel of a succeeded payment intent: %+v %v", in, err)
	}
	if err := c.Refund(ctx, flex.ID, 0, "plg_3/refund/cancel"); err != nil {
		t.Fatalf("full refund: %v", err)
	}
	other, err := c.CreatePaymentIntent(ctx, pledge.PaymentRequest{Amount: money.Money{Amount: 500, Currency: "JPY"}, PledgeID: "plg_4", CampaignID: "cam_3", IdempotencyKey: "plg_4/payment_intent"})
	if err != nil {
		t.Fatal(err)
	}
	if in, err := c.CancelPaymentIntent(ctx, other.ID, "plg_4/payment_intent/cancel"); err != nil || (!validOnly && in.Status != pledge.IntentCanceled) {
		t.Fatalf("cancel payment intent: %+v %v", in, err)
	}
}

// Every request the adapter makes is valid for Stripe's API as stripe-mock knows it.
func TestEveryCallIsValidForPlainStripeMock(t *testing.T) {
	callEvery(t, plainStripeMock(t), true)
}

// plainStripeMock is a client of stripe-mock itself, which checks requests against Stripe's
// specification and answers fixtures.
func plainStripeMock(t *testing.T) *Client {
	t.Helper()
	spec, err := server.LoadSpec(embedded.OpenAPISpec, "")
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := server.LoadFixtures(embedded.OpenAPIFixtures, "")
	if err != nil {
		t.Fatal(err)
	}
	stub, err := server.NewStubServer(fixtures, spec, false, false)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(stub.HandleRequest))
	t.Cleanup(srv.Close)
	return New(Options{SecretKey: "sk_test_plain", BackendURL: srv.URL, Timeout: 10 * time.Second})
}

func newDouble(t *testing.T) (*stripedouble.Double, *Client) {
	t.Helper()
	d, err := stripedouble.New(stripedouble.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() { srv.Close(); d.Close() })
	return d, New(Options{SecretKey: "sk_test_double", PublishableKey: "pk_test_double", BackendURL: srv.URL, Timeout: 10 * time.Second})
}

func TestFlowsAgainstTheDouble(t *testing.T) {
	d, c := newDouble(t)
	callEvery(t, c, false)
	if n := len(d.Refunds()); n != 2 {
		t.Fatalf("refunds %d, want 2", n)
	}
	if c.PublishableKey() != "pk_test_double" {
		t.Fatal("publishable key lost")
	}
}

// Declines are outcomes, not errors: the adapter returns the intent with Stripe's codes.
func TestDeclinesBecomeFailures(t *testing.T) {
	_, c := newDouble(t)
	ctx := context.Background()
	for _, tc := range []struct {
		pm, code, decline string
	}{
		{"pm_card_chargeDeclined", "card_declined", "generic_decline"},
		{"pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"},
		{"pm_card_chargeDeclinedExpiredCard", "expired_card", ""},
	} {
		pi, err := c.CreatePaymentIntent(ctx, pledge.PaymentRequest{Amount: money.Money{Amount: 5000, Currency: "CHF"}, PledgeID: "plg_" + tc.pm, IdempotencyKey: tc.pm + "/pi"})
		if err != nil {
			t.Fatal(err)
		}
		in, err := c.ConfirmPaymentIntent(ctx, pi.ID, tc.pm, tc.pm+"/confirm")
		if err != nil {
			t.Fatalf("%s: decline returned as error: %v", tc.pm, err)
		}
		if in.Failure == nil || in.Failure.Code != tc.code || (tc.decline != "" && in.Failure.DeclineCode != tc.decline) || in.Status != pledge.IntentRequiresPaymentMethod {
			t.Errorf("%s: %+v failure %+v", tc.pm, in, in.Failure)
		}
	}
	cus, _ := c.CreateCustomer(ctx, pledge.CustomerRequest{Email: "a@b.example", Name: "A", IdempotencyKey: "auth/customer"})
	si, _ := c.CreateSetupIntent(ctx, pledge.SetupRequest{CustomerID: cus, IdempotencyKey: "auth/si"})
	saved, err := c.ConfirmSetupIntent(ctx, si.ID, "pm_card_authenticationRequired", "auth/confirm")
	if err != nil || saved.Status != pledge.IntentRequiresAction {
		t.Fatalf("3DS card on-session: %+v %v", saved, err)
	}
}

// Stripe errors other than declines are classified: outages are payment_provider_unavailable,
// so the API answers 502 and the client retries with the same key.
func TestProviderErrorsAreClassified(t *testing.T) {
	d, c := newDouble(t)
	d.SetFaults(stripedouble.Faults{ErrorRate: 1})
	_, err := c.CreateCustomer(context.Background(), pledge.CustomerRequest{Email: "a@b.example", Name: "A", IdempotencyKey: "down/customer"})
	if backstitch.ErrorCode(err) != backstitch.CodePaymentProvider {
		t.Fatalf("500 from Stripe: %v", err)
	}
	d.SetFaults(stripedouble.Faults{})
	_, err = c.ConfirmPaymentIntent(context.Background(), "pi_does_not_exist", "pm_card_visa", "x")
	if err == nil || backstitch.ErrorCode(err) == backstitch.CodePaymentProvider {
		t.Fatalf("an invalid request must be our bug (internal), not an outage: %v", err)
	}
}
