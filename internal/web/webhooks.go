package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// stripeWebhook receives Stripe's events: the payment adapter verifies and maps them, the pledge
// domain applies them, and this handler only routes. Each event is applied idempotently and then
// stored once under its id, so duplicates, late and out-of-order deliveries are harmless. Unknown
// event types are stored and acknowledged. A failure while applying answers 500 and stores
// nothing, so Stripe delivers again.
func (s *Server) stripeWebhook(c *fiber.Ctx) error {
	body := c.Body()
	event, err := s.payments.ParseWebhook(body, c.Get("Stripe-Signature"))
	if err != nil {
		zerolog.Ctx(c.UserContext()).Warn().Err(err).Msg("stripe webhook rejected")
		return err
	}
	ctx := c.UserContext()
	log := zerolog.Ctx(ctx).With().Str("event_id", event.ID).Str("event_type", event.Type).Logger()
	seen, err := s.store.StripeEventSeen(ctx, event.ID)
	if err != nil {
		return err
	}
	if seen {
		log.Info().Msg("stripe event already applied")
		return c.SendStatus(http.StatusOK)
	}
	if event.Payouts != nil {
		err = s.store.RecordPayouts(ctx, event.Payouts.AccountID, event.Payouts.Payouts)
	} else {
		err = s.pledges.ApplyEvent(ctx, event)
	}
	if err != nil {
		return err
	}
	if err := s.store.RecordStripeEvent(ctx, backstitch.StripeEvent{ID: event.ID, Type: event.Type, Payload: append([]byte(nil), body...), ReceivedAt: s.now()}); err != nil {
		return err
	}
	log.Info().Msg("stripe event applied")
	return c.SendStatus(http.StatusOK)
}
