package pledge

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

// StripeTruth is what Stripe holds for a pledge's payment, as reconciliation read it: the
// charge that stands for the pledge (when Charged) with its refunds, dispute and fee.
type StripeTruth struct {
	Charged         bool
	PaymentIntentID string
	ChargeID        string
	Amount          money.Money
	Refunded        int64
	Dispute         *Dispute
	Fee             int64
}

// Resync makes a pledge say what Stripe says, for an admin resolving a reconciliation finding:
// a charge that succeeded makes it collected (or refunded, disputed, as Stripe has it), with
// Stripe's amount; no succeeded charge puts a pledge that claimed money back into dunning, due
// at once, so the backer is asked to pay. Totals and reward units follow the change. It answers
// the pledge and a note for the admin (e.g. that a released unit could not be claimed again).
func (s *Service) Resync(ctx context.Context, id string, t StripeTruth, actor, reason string) (Pledge, string, error) {
	var note string
	p, err := retryOnConflict(func() (Pledge, error) {
		p, err := s.store.FindPledge(ctx, id)
		if err != nil {
			return p, err
		}
		now := s.now()
		next := p
		switch {
		case t.Charged && t.Amount.Currency != p.Amount.Currency:
			return p, backstitch.Errorf(backstitch.CodeInvalidState, "Stripe charged %s, the campaign takes %s: refund the charge instead.", t.Amount.Currency, p.Amount.Currency)
		case t.Charged:
			to := StatusCollected
			switch {
			case t.Dispute != nil && t.Dispute.Status == "lost":
				to = StatusDisputeLost
			case t.Dispute != nil && t.Dispute.Status != "won":
				to = StatusDisputed
			case t.Refunded >= t.Amount.Amount:
				to = StatusRefunded
			case t.Refunded > 0:
				to = StatusPartiallyRefunded
			}
			if to != p.Status {
				next = p.MoveTo(to, actor, reason, now)
			}
			next.Amount, next.PaymentIntentID, next.ChargeID, next.AmountRefunded = t.Amount, t.PaymentIntentID, t.ChargeID, t.Refunded
			next.StripeFee, next.NextRetryAt = t.Fee, nil
			if next.CollectedAt == nil {
				next.CollectedAt = &now
			}
			if t.Dispute != nil && (p.Dispute == nil || p.Dispute.ID != t.Dispute.ID || p.Dispute.Status != t.Dispute.Status) {
				d := *t.Dispute
				d.At = now
				next.Dispute = &d
			}
		case p.Status.Charged() || p.Status == StatusCharging:
			next = p.MoveTo(StatusPaymentFailed, actor, reason, now)
			next.LastFailure = &Failure{Code: "no_charge_at_stripe", Message: "Stripe has no successful charge for this pledge.", At: now}
			next.FirstFailedAt, next.NextRetryAt = &now, &now
			next.ChargeID, next.CollectedAt, next.AmountRefunded, next.Dispute, next.StripeFee = "", nil, 0, nil, 0
		default:
			return p, nil // no money on either side: nothing to bring over
		}
		updated, err := s.transition(ctx, p, next, transitionOpts{evenIfSoldOut: true})
		if errors.Is(err, errUnitUnavailable) {
			note = "The reward was released before and is now sold out: decide with the backer whether to refund."
			err = nil
		}
		return updated, err
	})
	if err == nil {
		zerolog.Ctx(ctx).Info().Str("pledge_id", id).Str("status", string(p.Status)).Msg("pledge resynced from Stripe")
	}
	return p, note, err
}

// RefundCharge refunds all that is left of a charge that belongs to no pledge's payment (a
// duplicate), by its PaymentIntent, with the caller's idempotency key.
func (s *Service) RefundCharge(ctx context.Context, paymentIntentID, key string) error {
	if err := s.gateway.Refund(ctx, paymentIntentID, 0, key); err != nil {
		return fmt.Errorf("refund duplicate %s: %w", paymentIntentID, err)
	}
	return nil
}
