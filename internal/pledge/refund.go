package pledge

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// RefundStore numbers refund requests atomically, so each gets its own idempotency key.
type RefundStore interface {
	CountRefundRequest(ctx context.Context, id string) (Pledge, error)
}

// Refund returns money of a charged pledge through Stripe (amount 0: all that is left). The
// outcome is recorded from the refund itself and again, idempotently, from charge.refunded.
func (s *Service) Refund(ctx context.Context, rs RefundStore, id string, amount int64, actor string) (Pledge, error) {
	p, err := s.store.FindPledge(ctx, id)
	if err != nil {
		return p, err
	}
	if p.Status != StatusCollected && p.Status != StatusPartiallyRefunded {
		return p, backstitch.Errorf(backstitch.CodeInvalidState, "Only collected pledges can be refunded; this one is %s.", p.Status)
	}
	left := p.Amount.Amount - p.AmountRefunded
	if amount == 0 {
		amount = left
	}
	if amount < 1 || amount > left {
		return p, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "amount", Code: "out_of_range", Message: fmt.Sprintf("amount must be between 1 and %d (what is left to refund)", left)}}}
	}
	if p, err = rs.CountRefundRequest(ctx, id); err != nil {
		return p, err
	}
	if err := s.gateway.Refund(ctx, p.PaymentIntentID, amount, fmt.Sprintf("%s/refund/%d", p.ID, p.RefundRequests)); err != nil {
		return p, err
	}
	return s.ApplyRefundTotal(ctx, p.ID, p.AmountRefunded+amount, actor)
}

// ApplyRefundTotal records that totalRefunded of a pledge's charge has been refunded, as Stripe
// reports it (charge.amount_refunded). Totals only grow, so a late or repeated event is harmless.
func (s *Service) ApplyRefundTotal(ctx context.Context, pledgeID string, totalRefunded int64, actor string) (Pledge, error) {
	return retryOnConflict(func() (Pledge, error) {
		p, err := s.store.FindPledge(ctx, pledgeID)
		if err != nil || totalRefunded <= p.AmountRefunded || !p.Status.Charged() {
			return p, err
		}
		to := StatusPartiallyRefunded
		if totalRefunded >= p.Amount.Amount {
			to = StatusRefunded
		}
		next := p
		if p.Status == StatusCollected || p.Status == StatusPartiallyRefunded {
			next = p.MoveTo(to, actor, fmt.Sprintf("refunded %d of %d", totalRefunded, p.Amount.Amount), s.now())
		}
		next.AmountRefunded = totalRefunded
		return s.replaceCounting(ctx, p, next)
	})
}

// ApplyDispute records a chargeback and its outcome: a dispute opens (disputed), then is won (the
// money stays: back to collected or partially refunded) or lost (dispute_lost).
func (s *Service) ApplyDispute(ctx context.Context, pledgeID string, d Dispute, actor string) (Pledge, error) {
	return retryOnConflict(func() (Pledge, error) {
		p, err := s.store.FindPledge(ctx, pledgeID)
		if err != nil || !p.Status.Charged() {
			return p, err
		}
		if p.Dispute != nil && p.Dispute.ID == d.ID && p.Dispute.Status == d.Status {
			return p, nil
		}
		if p.Dispute != nil && p.Dispute.ID == d.ID && (p.Dispute.Status == "won" || p.Dispute.Status == "lost") {
			return p, nil // closed disputes stay closed, whatever arrives late
		}
		to := StatusDisputed
		switch d.Status {
		case "won":
			to = StatusCollected
			if p.AmountRefunded > 0 {
				to = StatusPartiallyRefunded
			}
		case "lost":
			to = StatusDisputeLost
		}
		d.At = s.now()
		next := p.MoveTo(to, actor, "dispute "+d.Status+": "+d.Reason, d.At)
		next.Dispute = &d
		return s.replaceCounting(ctx, p, next)
	})
}

// replaceCounting writes a change after collection (refund, dispute) through transition, which
// keeps the campaign's totals in step when the pledge stops counting or its amount changes.
func (s *Service) replaceCounting(ctx context.Context, p, next Pledge) (Pledge, error) {
	updated, err := s.transition(ctx, p, next, transitionOpts{})
	if err != nil {
		return updated, err
	}
	zerolog.Ctx(ctx).Info().Str("pledge_id", p.ID).Str("from", string(p.Status)).Str("to", string(updated.Status)).Msg("pledge after collection")
	return updated, nil
}

// RecordTransfer records on a pledge the transfer of the designer's share of its charge, as the
// settler holding the campaign's lease (fence).
func (s *Service) RecordTransfer(ctx context.Context, p Pledge, transferID string, amount, fence int64) (Pledge, error) {
	next := p
	next.TransferID, next.TransferAmount = transferID, amount
	return s.transition(ctx, p, next, transitionOpts{fence: fence})
}

// Transfer pays a designer their share of one charge (see settlement.PayOut).
func (s *Service) Transfer(ctx context.Context, r TransferRequest) (string, error) {
	return s.gateway.CreateTransfer(ctx, r)
}
