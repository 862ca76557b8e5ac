package stripepay

import (
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// FuzzWebhookEvent signs any body as Stripe would and maps it: it never panics; a signed body is
// refused only as malformed_event or unsupported_api_version, never as an internal error; an
// accepted event has its id and type, sets at most one of the parts a pledge acts on, carries no
// client secret, and an intent always has an id (the key the pledge is found by).
func FuzzWebhookEvent(f *testing.F) {
	const v = `"api_version":"2023-10-16"`
	for _, seed := range []string{
		`{"id":"evt_1","type":"payment_intent.succeeded",` + v + `,"data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","latest_charge":"ch_1","metadata":{"pledge_id":"plg_1","attempt":"1"}}}}`,
		`{"id":"evt_2","type":"payment_intent.payment_failed",` + v + `,"data":{"object":{"id":"pi_1","status":"requires_payment_method","last_payment_error":{"code":"card_declined","decline_code":"generic_decline"},"metadata":{"pledge_id":"plg_1","attempt":"x"}}}}`,
		`{"id":"evt_3","type":"setup_intent.succeeded",` + v + `,"data":{"object":{"id":"seti_1","status":"succeeded","client_secret":"seti_1_secret","payment_method":"pm_1","metadata":{"pledge_id":"plg_1"}}}}`,
		`{"id":"evt_4","type":"setup_intent.setup_failed",` + v + `,"data":{"object":{"id":"seti_1","status":"requires_payment_method","last_setup_error":{"code":"setup_intent_authentication_failure"}}}}`,
		`{"id":"evt_5","type":"charge.refunded",` + v + `,"data":{"object":{"id":"ch_1","amount_refunded":2500,"payment_intent":"pi_1"}}}`,
		`{"id":"evt_6","type":"charge.dispute.created",` + v + `,"data":{"object":{"id":"dp_1","amount":9000,"reason":"fraudulent","status":"needs_response","payment_intent":{"id":"pi_1"}}}}`,
		`{"id":"evt_7","type":"account.updated",` + v + `,"data":{"object":{"id":"acct_1","payouts_enabled":true,"capabilities":{"transfers":"active"}}}}`,
		`{"id":"evt_8","type":"checkout.session.completed",` + v + `,"data":{"object":{"id":"cs_1","metadata":{"pledge_id":"plg_1"}}}}`,
		`{"id":"evt_9","type":"customer.created",` + v + `,"data":{"object":{"id":"cus_1"}}}`,
		// Inputs that once broke or nearly broke the mapping: no object, the wrong object for the
		// type, stripe-mock's null api_version, a dispute whose payment_intent is absent.
		`{"id":"evt_a","type":"payment_intent.succeeded",` + v + `,"data":{}}`,
		`{"id":"evt_b","type":"payment_intent.succeeded",` + v + `,"data":{"object":{"id":"ch_1","object":"charge"}}}`,
		`{"id":"evt_c","type":"payment_intent.succeeded","api_version":null,"data":{"object":{"id":"pi_1"}}}`,
		`{"id":"evt_d","type":"charge.dispute.closed",` + v + `,"data":{"object":{"id":"dp_1","status":"lost"}}}`,
		`{"id":"evt_e","type":"payment_intent.succeeded",` + v + `,"data":{"object":[]}}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	const secret = "whsec_fuzz"
	c := New(Options{SecretKey: "sk_test_fuzz", WebhookSecret: secret})
	f.Fuzz(func(t *testing.T, payload []byte) {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
		ev, err := c.ParseWebhook(payload, signed.Header)
		if err != nil {
			e, ok := errors.AsType[*backstitch.Error](err)
			if !ok || (e.Code != backstitch.CodeMalformedEvent && e.Code != backstitch.CodeUnsupportedAPIVersion) {
				t.Fatalf("signed body %q: %v, want malformed_event or unsupported_api_version", payload, err)
			}
			return
		}
		if ev.ID == "" || ev.Type == "" {
			t.Fatalf("body %q: event without id or type: %+v", payload, ev)
		}
		parts := 0
		for _, set := range []bool{ev.Intent != nil, ev.CheckoutSessionID != "", ev.RefundedTotal != nil, ev.Dispute != nil, ev.Payouts != nil} {
			if set {
				parts++
			}
		}
		if parts > 1 {
			t.Fatalf("body %q: %d parts set: %+v", payload, parts, ev)
		}
		if in := ev.Intent; in != nil {
			if in.ID == "" || in.ClientSecret != "" {
				t.Fatalf("body %q: intent %+v (want an id and no client secret)", payload, *in)
			}
		}
		if ev.Dispute != nil && ev.Dispute.ID == "" {
			t.Fatalf("body %q: dispute without id", payload)
		}
		if ev.Payouts != nil && ev.Payouts.AccountID == "" {
			t.Fatalf("body %q: payouts change without an account", payload)
		}
	})
}
