package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
)

// stripeWebhook receives Stripe's events. The signature is checked on the raw body; each event is
// applied idempotently and then stored once under its id, so duplicates, late and out-of-order
// deliveries are harmless. Unknown event types are stored and acknowledged. A failure while
// applying answers 500 and stores nothing, so Stripe delivers again.
func (s *Server) stripeWebhook(c *fiber.Ctx) error {
	body := c.Body()
	event, err := webhook.ConstructEvent(body, c.Get("Stripe-Signature"), s.cfg.StripeWebhookSecret)
	if err != nil {
		zerolog.Ctx(c.UserContext()).Warn().Err(err).Msg("stripe webhook rejected")
		return backstitch.Errorf(backstitch.CodeInvalidSignature, "The Stripe-Signature header does not verify against this body.")
	}
	ctx := c.UserContext()
	log := zerolog.Ctx(ctx).With().Str("event_id", event.ID).Str("event_type", string(event.Type)).Logger()
	seen, err := s.store.StripeEventSeen(ctx, event.ID)
	if err != nil {
		return err
	}
	if seen {
		log.Info().Msg("stripe event already applied")
		return c.SendStatus(http.StatusOK)
	}
	if err := s.applyStripeEvent(c, event); err != nil {
		return err
	}
	if err := s.store.RecordStripeEvent(ctx, backstitch.StripeEvent{ID: event.ID, Type: string(event.Type), Payload: append([]byte(nil), body...), ReceivedAt: s.now()}); err != nil {
		return err
	}
	log.Info().Msg("stripe event applied")
	return c.SendStatus(http.StatusOK)
}

func (s *Server) applyStripeEvent(c *fiber.Ctx, event stripe.Event) error {
	ctx := c.UserContext()
	var in pledge.Intent
	var pledgeID string // from metadata: a deadline charge whose response was lost is not yet on the pledge
	switch event.Type {
	case "setup_intent.succeeded", "setup_intent.setup_failed":
		var si stripe.SetupIntent
		if err := json.Unmarshal(event.Data.Raw, &si); err != nil {
			return backstitch.Errorf(backstitch.CodeMalformed, "The event's object is not a SetupIntent.")
		}
		in = pledge.Intent{ID: si.ID, Status: pledge.IntentStatus(si.Status)}
		if si.PaymentMethod != nil {
			in.PaymentMethodID = si.PaymentMethod.ID
		}
		if e := si.LastSetupError; e != nil {
			in.Failure = &pledge.Failure{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
		}
	case "payment_intent.succeeded", "payment_intent.payment_failed":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(event.Data.Raw, &pi); err != nil {
			return backstitch.Errorf(backstitch.CodeMalformed, "The event's object is not a PaymentIntent.")
		}
		in = pledge.Intent{ID: pi.ID, Status: pledge.IntentStatus(pi.Status)}
		pledgeID = pi.Metadata["pledge_id"]
		in.Attempt, _ = strconv.Atoi(pi.Metadata["charge_attempt"])
		if pi.PaymentMethod != nil {
			in.PaymentMethodID = pi.PaymentMethod.ID
		}
		if pi.LatestCharge != nil {
			in.ChargeID = pi.LatestCharge.ID
		}
		if e := pi.LastPaymentError; e != nil {
			in.Failure = &pledge.Failure{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
		}
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(event.Data.Raw, &ch); err != nil {
			return backstitch.Errorf(backstitch.CodeMalformed, "The event's object is not a Charge.")
		}
		p, found, err := s.pledgeOfCharge(c, ch.PaymentIntent)
		if err != nil || !found {
			return err
		}
		_, err = s.pledges.ApplyRefundTotal(ctx, p.ID, ch.AmountRefunded, "stripe:"+event.ID)
		return err
	case "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed":
		var dp stripe.Dispute
		if err := json.Unmarshal(event.Data.Raw, &dp); err != nil {
			return backstitch.Errorf(backstitch.CodeMalformed, "The event's object is not a Dispute.")
		}
		p, found, err := s.pledgeOfCharge(c, dp.PaymentIntent)
		if err != nil || !found {
			return err
		}
		_, err = s.pledges.ApplyDispute(ctx, p.ID, pledge.Dispute{ID: dp.ID, Reason: string(dp.Reason), Status: string(dp.Status), Amount: dp.Amount}, "stripe:"+event.ID)
		return err
	case "account.updated":
		var acct stripe.Account
		if err := json.Unmarshal(event.Data.Raw, &acct); err != nil {
			return backstitch.Errorf(backstitch.CodeMalformed, "The event's object is not an Account.")
		}
		ready := acct.PayoutsEnabled && acct.Capabilities != nil && acct.Capabilities.Transfers == stripe.AccountCapabilityStatusActive
		return s.store.SetPayoutsEnabled(ctx, acct.ID, ready)
	default:
		return nil
	}
	p, err := s.store.FindPledgeByIntent(ctx, in.ID)
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound && pledgeID != "" {
		p, err = s.store.FindPledge(ctx, pledgeID)
	}
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		// Not ours (another integration on the account, or a dashboard test): acknowledged, kept.
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.pledges.ApplyIntent(ctx, p.ID, in, "stripe:"+event.ID)
	return err
}

// pledgeOfCharge finds the pledge a charge belongs to through its PaymentIntent; a charge of no
// pledge (made outside Backstitch) is acknowledged and left to reconciliation.
func (s *Server) pledgeOfCharge(c *fiber.Ctx, pi *stripe.PaymentIntent) (pledge.Pledge, bool, error) {
	if pi == nil || pi.ID == "" {
		return pledge.Pledge{}, false, nil
	}
	p, err := s.store.FindPledgeByIntent(c.UserContext(), pi.ID)
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return p, false, nil
	}
	return p, err == nil, err
}
