package pledge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/lease"
	"github.com/backstitch/backstitch/internal/money"
)

// RefundStore numbers refund requests atomically, so each gets its own idempotency key, and holds
// the lease that lets one refund of a pledge run at a time.
type RefundStore interface {
	CountRefundRequest(ctx context.Context, id string) (Pledge, error)
	lease.Store
}

const (
	// refundLeaseTTL bounds how long a refund that died half-way keeps the pledge's next refund
	// waiting: longer than one Stripe call with stripe-go's retries.
	refundLeaseTTL = 2 * time.Minute
	// refundWait bounds how long a refund waits for the one before it on the same pledge.
	refundWait = 20 * time.Second
)

// Refund returns money of a charged pledge through Stripe (amount nil: all that is left). Refunds
// of one pledge run one at a time under a lease, so each is checked against what the ones before
// it left (an amount above that is refund_exceeds_remaining, before Stripe is asked) and answers
// the total refunded after it. The outcome is recorded from the refund itself and again,
// idempotently, from charge.refunded.
func (s *Service) Refund(ctx context.Context, rs RefundStore, id string, amount *money.Money, actor string) (Pledge, error) {
	p, err := s.store.FindPledge(ctx, id)
	if err != nil {
		return p, err
	}
	// Refunded amounts only grow, so what is refused now is refused after the wait too.
	if _, err := Refundable(p, amount); err != nil {
		return p, err
	}
	err = s.oneRefundAtATime(ctx, rs, id, actor, func() error {
		if p, err = rs.CountRefundRequest(ctx, id); err != nil {
			return err
		}
		n, err := Refundable(p, amount)
		if err != nil {
			return err
		}
		if err := s.gateway.Refund(ctx, p.PaymentIntentID, n, refundKey(p.ID, p.RefundRequests)); err != nil {
			return err
		}
		p, err = s.ApplyRefundTotal(ctx, p.ID, p.AmountRefunded+n, actor)
		return err
	})
	return p, err
}

// Refundable is how much a refund of amount (nil: all that is left) takes from p, or why it
// cannot: Refund checks it, and the admins' console asks it before showing a refund to confirm.
func Refundable(p Pledge, amount *money.Money) (int64, error) {
	if p.Status != StatusCollected && p.Status != StatusPartiallyRefunded {
		return 0, backstitch.Errorf(backstitch.CodeInvalidState, "Only collected pledges can be refunded; this one is %s.", p.Status)
	}
	left := money.Money{Amount: p.Amount.Amount - p.AmountRefunded, Currency: p.Amount.Currency}
	if amount == nil {
		return left.Amount, nil
	}
	if amount.Currency != p.Amount.Currency {
		return 0, &backstitch.Error{Code: backstitch.CodeCurrencyMismatch, Message: "The refund's currency is not the pledge's.",
			Fields: []backstitch.FieldError{{Field: "amount.currency", Code: "currency_mismatch", Message: "amount.currency must be " + p.Amount.Currency}}}
	}
	if amount.Amount < 1 {
		return 0, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "amount.amount", Code: "out_of_range", Message: "amount.amount must be at least 1 (minor units)"}}}
	}
	if amount.Amount > left.Amount {
		return 0, &backstitch.Error{Code: backstitch.CodeRefundExceedsRemaining,
			Message: fmt.Sprintf("%s is more than is left to refund of this pledge (%s).", *amount, left),
			Fields:  []backstitch.FieldError{{Field: "amount.amount", Code: "out_of_range", Message: fmt.Sprintf("at most %d is left to refund", left.Amount)}}}
	}
	return amount.Amount, nil
}

// oneRefundAtATime runs fn holding the pledge's refund lease, waiting (briefly, with backoff) for
// a refund of the same pledge that holds it.
func (s *Service) oneRefundAtATime(ctx context.Context, rs RefundStore, id, actor string, fn func() error) error {
	keeper := lease.NewKeeper(rs, actor, refundLeaseTTL, s.now)
	waitCtx, cancel := context.WithTimeout(ctx, refundWait)
	defer cancel()
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		held := false
		err := keeper.Hold(ctx, "refund:"+id, func(*lease.Held) error { held = true; return fn() })
		if held || backstitch.ErrorCode(err) != backstitch.CodeConflict {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-waitCtx.Done():
			t.Stop()
			return backstitch.Errorf(backstitch.CodeConflict, "Another refund of this pledge is still in progress; try again in a minute.")
		case <-t.C:
		}
	}
}

// RefundForCancellation refunds all that is left of a charged pledge whose campaign was cancelled,
// with a key of its own (a resumed wind-down refunds once), and records it. A charge Stripe says
// is refunded already (from its dashboard, say) is recorded as such.
func (s *Service) RefundForCancellation(ctx context.Context, p Pledge) (Pledge, error) {
	if p.Status != StatusCollected && p.Status != StatusPartiallyRefunded {
		return p, nil
	}
	err := s.gateway.Refund(ctx, p.PaymentIntentID, 0, campaignCancelledRefundKey(p.ID))
	var be *backstitch.Error
	if err != nil && !(errors.As(err, &be) && be.ProviderCode == "charge_already_refunded") {
		return p, err
	}
	return s.ApplyRefundTotal(ctx, p.ID, p.Amount.Amount, "system:cancellation")
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
