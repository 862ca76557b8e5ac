package stripepay

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
)

// webhookTolerance is how far a signature's timestamp may be from now, either way: an old one is
// a replay, and one from the future would stay replayable for as long as it is ahead.
const webhookTolerance = 5 * time.Minute

// ParseWebhook verifies a Stripe webhook on its raw body and maps its object to the domain. Each
// refusal has its own code: invalid_signature (no valid signature, or a timestamp outside the
// tolerance), malformed_event (not an event, or an object other than its type says) and
// unsupported_api_version (stripe-go v76 reads 2023-10-16 objects only: create the endpoint with
// that version). The tolerance is checked on the wall clock, which Stripe signs with.
func (c *Client) ParseWebhook(payload []byte, header string) (pledge.Event, error) {
	// Without a secret every signature would be one anybody can make.
	if c.webhookSecret == "" {
		return pledge.Event{}, backstitch.Errorf(backstitch.CodeInvalidSignature, "This service has no Stripe webhook secret configured.")
	}
	if err := webhook.ValidatePayloadIgnoringTolerance(payload, header, c.webhookSecret); err != nil {
		return pledge.Event{}, backstitch.Errorf(backstitch.CodeInvalidSignature, "The Stripe-Signature header does not verify against this body.")
	}
	if at, ok := signedAt(header); !ok || time.Since(at).Abs() > webhookTolerance {
		return pledge.Event{}, backstitch.Errorf(backstitch.CodeInvalidSignature, "The Stripe-Signature timestamp is more than %s away from now.", webhookTolerance)
	}
	var ev stripe.Event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.ID == "" || ev.Type == "" || ev.Data == nil {
		return pledge.Event{}, backstitch.Errorf(backstitch.CodeMalformedEvent, "The body is not a Stripe event.")
	}
	if ev.APIVersion != stripe.APIVersion {
		return pledge.Event{}, backstitch.Errorf(backstitch.CodeUnsupportedAPIVersion,
			"The event has API version %q; this endpoint reads %s only.", ev.APIVersion, stripe.APIVersion)
	}
	out, err := eventOf(ev)
	if err != nil {
		return pledge.Event{}, err
	}
	out.ID, out.Type = ev.ID, string(ev.Type)
	return out, nil
}

// signedAt is the t= timestamp of a Stripe-Signature header.
func signedAt(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			unix, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(unix, 0), err == nil
		}
	}
	return time.Time{}, false
}

// eventOf maps the object of the event types Backstitch acts on, with the mappings the API's
// answers go through (setupIntent, paymentIntent).
func eventOf(ev stripe.Event) (pledge.Event, error) {
	malformed := func(kind string) error {
		return backstitch.Errorf(backstitch.CodeMalformedEvent, "The %s event's object is not a %s.", ev.Type, kind)
	}
	var out pledge.Event
	switch ev.Type {
	case "setup_intent.succeeded", "setup_intent.setup_failed":
		var si stripe.SetupIntent
		if err := json.Unmarshal(ev.Data.Raw, &si); err != nil || si.ID == "" {
			return out, malformed("SetupIntent")
		}
		in := setupIntent(&si)
		in.ClientSecret = ""
		// An event reports the last error whatever the status, for the pledge to record.
		if e := si.LastSetupError; e != nil {
			in.Failure = &pledge.Failure{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
		}
		out.Intent, out.PledgeID = &in, si.Metadata["pledge_id"]
	case "checkout.session.completed":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil || cs.ID == "" {
			return out, malformed("Checkout Session")
		}
		out.CheckoutSessionID, out.PledgeID = cs.ID, cs.Metadata["pledge_id"]
	case "payment_intent.succeeded", "payment_intent.payment_failed":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil || pi.ID == "" {
			return out, malformed("PaymentIntent")
		}
		in := paymentIntent(&pi)
		in.ClientSecret = ""
		if e := pi.LastPaymentError; e != nil {
			in.Failure = &pledge.Failure{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
		}
		out.Intent, out.PledgeID = &in, pi.Metadata["pledge_id"]
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil || ch.ID == "" {
			return out, malformed("Charge")
		}
		out.RefundedTotal = &ch.AmountRefunded
		if ch.PaymentIntent != nil {
			out.PaymentIntentID = ch.PaymentIntent.ID
		}
	case "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed":
		var dp stripe.Dispute
		if err := json.Unmarshal(ev.Data.Raw, &dp); err != nil || dp.ID == "" {
			return out, malformed("Dispute")
		}
		out.Dispute = &pledge.Dispute{ID: dp.ID, Reason: string(dp.Reason), Status: string(dp.Status), Amount: dp.Amount}
		if dp.PaymentIntent != nil {
			out.PaymentIntentID = dp.PaymentIntent.ID
		}
	case "account.updated":
		var acct stripe.Account
		if err := json.Unmarshal(ev.Data.Raw, &acct); err != nil || acct.ID == "" {
			return out, malformed("Account")
		}
		p := payoutsOf(&acct)
		p.AsOf = time.Unix(ev.Created, 0).UTC()
		out.Payouts = &pledge.PayoutsChange{AccountID: acct.ID, Payouts: p}
	}
	return out, nil
}
