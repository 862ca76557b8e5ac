package stripedouble

import (
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// TestTestCards drives every supported test card, by test id and by number,
// through saving (SetupIntent, off_session) and an off-session charge.
func TestTestCards(t *testing.T) {
	type outcome struct {
		setupAction  bool   // SetupIntent stops at requires_action first
		setupCode    string // SetupIntent declines with this code
		chargeCode   string // off-session charge declines with this code
		chargeDecl   string // ... and this decline_code
		chargeStatus stripe.PaymentIntentStatus
	}
	succeeds := outcome{chargeStatus: stripe.PaymentIntentStatusSucceeded}
	cases := []struct {
		token, number string
		want          outcome
	}{
		{"pm_card_visa", "4242424242424242", succeeds},
		{"pm_card_chargeDeclined", "4000000000000002", outcome{setupCode: "card_declined",
			chargeCode: "card_declined", chargeDecl: "generic_decline"}},
		{"pm_card_chargeDeclinedInsufficientFunds", "4000000000009995", outcome{setupCode: "card_declined",
			chargeCode: "card_declined", chargeDecl: "insufficient_funds"}},
		{"pm_card_chargeDeclinedExpiredCard", "4000000000000069", outcome{setupCode: "expired_card",
			chargeCode: "expired_card", chargeDecl: "expired_card"}},
		{"pm_card_authenticationRequired", "4000002760003184", outcome{setupAction: true,
			chargeCode: "authentication_required", chargeDecl: "authentication_required"}},
		{"pm_card_authenticationRequiredOnSetup", "4000002500003155", outcome{setupAction: true,
			chargeStatus: stripe.PaymentIntentStatusSucceeded}},
		{"pm_card_chargeCustomerFail", "4000000000000341", outcome{chargeCode: "card_declined",
			chargeDecl: "generic_decline"}},
	}
	h := newHarness(t, Options{})
	for _, tc := range cases {
		for _, byNumber := range []bool{false, true} {
			name := tc.token
			if byNumber {
				name = tc.number
			}
			t.Run(name, func(t *testing.T) {
				pmID := tc.token
				if byNumber {
					pm, err := h.sc.PaymentMethods.New(&stripe.PaymentMethodParams{
						Type: stripe.String("card"),
						Card: &stripe.PaymentMethodCardParams{Number: stripe.String(tc.number),
							ExpMonth: stripe.Int64(12), ExpYear: stripe.Int64(2034), CVC: stripe.String("123")},
					})
					if err != nil {
						t.Fatal(err)
					}
					if pm.Card.Last4 != tc.number[len(tc.number)-4:] {
						t.Fatalf("last4 %s", pm.Card.Last4)
					}
					pmID = pm.ID
				}
				cu := h.customer(t)
				si, err := h.sc.SetupIntents.New(&stripe.SetupIntentParams{Customer: stripe.String(cu.ID),
					PaymentMethod: stripe.String(pmID), Confirm: stripe.Bool(true), Usage: stripe.String("off_session")})
				if tc.want.setupCode != "" {
					se := stripeErr(t, err)
					if se.HTTPStatusCode != 402 || se.Type != stripe.ErrorTypeCard || string(se.Code) != tc.want.setupCode ||
						se.SetupIntent == nil || se.SetupIntent.Status != stripe.SetupIntentStatusRequiresPaymentMethod ||
						se.SetupIntent.LastSetupError == nil {
						t.Fatalf("setup decline: %+v", se)
					}
				} else {
					if err != nil {
						t.Fatal(err)
					}
					if tc.want.setupAction {
						if si.Status != stripe.SetupIntentStatusRequiresAction || si.NextAction == nil {
							t.Fatalf("setup wants action, got %s", si.Status)
						}
						if si, err = h.sc.SetupIntents.Confirm(si.ID, nil); err != nil {
							t.Fatal(err)
						}
					}
					if si.Status != stripe.SetupIntentStatusSucceeded {
						t.Fatalf("setup status %s", si.Status)
					}
				}

				params := &stripe.PaymentIntentParams{Amount: stripe.Int64(1000), Currency: stripe.String("usd"),
					Confirm: stripe.Bool(true), OffSession: stripe.Bool(true), PaymentMethod: stripe.String(pmID)}
				if si != nil && si.Status == stripe.SetupIntentStatusSucceeded {
					params.Customer, params.PaymentMethod = stripe.String(cu.ID), stripe.String(si.PaymentMethod.ID)
				} else if byNumber {
					params.PaymentMethod = stripe.String(pmID)
				}
				pi, err := h.sc.PaymentIntents.New(params)
				if tc.want.chargeCode == "" {
					if err != nil || pi.Status != tc.want.chargeStatus {
						t.Fatalf("charge: %v %v", pi, err)
					}
					return
				}
				se := stripeErr(t, err)
				if se.HTTPStatusCode != 402 || se.Type != stripe.ErrorTypeCard || string(se.Code) != tc.want.chargeCode ||
					string(se.DeclineCode) != tc.want.chargeDecl || se.ChargeID == "" {
					t.Fatalf("charge decline: %+v", se)
				}
				pi = se.PaymentIntent
				if pi == nil || pi.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || pi.LastPaymentError == nil ||
					string(pi.LastPaymentError.DeclineCode) != tc.want.chargeDecl || pi.LastPaymentError.PaymentMethod == nil {
					t.Fatalf("declined PaymentIntent: %+v", pi)
				}
				ch, err := h.sc.Charges.Get(se.ChargeID, nil)
				if err != nil || ch.Status != stripe.ChargeStatusFailed || ch.Paid || ch.BalanceTransaction != nil {
					t.Fatalf("failed charge: %+v %v", ch, err)
				}
			})
		}
	}
}

func TestAttachAndDetach(t *testing.T) {
	h := newHarness(t, Options{})
	cu := h.customer(t)
	_, err := h.sc.PaymentMethods.Attach("pm_card_chargeDeclined", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cu.ID)})
	if se := stripeErr(t, err); se.HTTPStatusCode != 402 || se.DeclineCode != "generic_decline" {
		t.Fatalf("attach declining card: %+v", se)
	}
	pm, err := h.sc.PaymentMethods.Attach("pm_card_chargeCustomerFail", &stripe.PaymentMethodAttachParams{Customer: stripe.String(cu.ID)})
	if err != nil || pm.Customer == nil || pm.Customer.ID != cu.ID {
		t.Fatalf("attach 0341: %v %v", pm, err)
	}
	other := h.customer(t)
	_, err = h.sc.PaymentMethods.Attach(pm.ID, &stripe.PaymentMethodAttachParams{Customer: stripe.String(other.ID)})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 {
		t.Fatalf("attach to second customer: %+v", se)
	}
	pm, err = h.sc.PaymentMethods.Detach(pm.ID, nil)
	if err != nil || pm.Customer != nil {
		t.Fatalf("detach: %v %v", pm, err)
	}
	_, err = h.sc.PaymentMethods.Detach(pm.ID, nil)
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 {
		t.Fatalf("second detach: %+v", se)
	}
	_, err = h.sc.PaymentMethods.New(&stripe.PaymentMethodParams{Type: stripe.String("card"),
		Card: &stripe.PaymentMethodCardParams{Number: stripe.String("4242424242424241"),
			ExpMonth: stripe.Int64(1), ExpYear: stripe.Int64(2030)}})
	if se := stripeErr(t, err); se.Code != "incorrect_number" {
		t.Fatalf("bad number: %+v", se)
	}
	types := eventTypes(h.d)
	if !containsAll(types, "payment_method.attached", "payment_method.detached") {
		t.Fatalf("events %v", types)
	}
	n := 0
	for _, ty := range types {
		if ty == "payment_method.attached" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d payment_method.attached events, want 1", n)
	}
}
