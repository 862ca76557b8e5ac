package settlement

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// PayoutStore is what paying designers needs beyond Store.
type PayoutStore interface {
	FindCampaignsToPayOut(ctx context.Context, decidedBefore time.Time) ([]campaign.Campaign, error)
	FindUserByID(ctx context.Context, id string) (account.User, error)
}

// payable is what the designer gets from one pledge's charge.
func payable(p pledge.Pledge, basisPoints int64) int64 {
	kept := p.Amount.Amount - p.AmountRefunded
	return kept - money.PlatformFee(kept, basisPoints)
}

// PayOut transfers the designers of succeeded campaigns their share, once the dunning window has
// closed (all-or-nothing) so failures and refunds settle before money leaves, or once the pledges
// unpaid at the deadline are swept (flexible): one transfer per charge, with source_transaction,
// each with an idempotency key derived from the pledge.
func (s *Settler) PayOut(ctx context.Context) error {
	now := s.now()
	camps, err := s.payouts.FindCampaignsToPayOut(ctx, now)
	if err != nil {
		return err
	}
	for _, camp := range camps {
		if camp.FundingModel == campaign.AllOrNothing && now.Before(camp.Settlement.DecidedAt.Add(s.pledges.Dunning().Window)) {
			continue
		}
		if camp.FundingModel == campaign.AllOrNothing && camp.Settlement.ChargedAt == nil {
			continue
		}
		// A flexible campaign's pending pledges are swept first: one whose payment went through
		// after all is recorded collected by the sweep, and so paid out with the rest, not left
		// behind a campaign already marked paid out.
		if camp.FundingModel == campaign.Flexible && camp.Settlement.SweptAt == nil {
			continue
		}
		if err := s.payOutCampaign(ctx, camp); err != nil && err != ErrBusy {
			return err
		}
	}
	return nil
}

func (s *Settler) payOutCampaign(ctx context.Context, camp campaign.Campaign) error {
	designer, err := s.payouts.FindUserByID(ctx, camp.DesignerID)
	if err != nil {
		return err
	}
	log := zerolog.Ctx(ctx).With().Str("campaign_id", camp.ID).Logger()
	if designer.StripeAccountID == "" || !designer.PayoutsEnabled {
		log.Info().Msg("payout waits for the designer's Stripe onboarding")
		return nil
	}
	return s.withLease(ctx, camp.ID, func(w *work) error { return s.transferAll(ctx, w, camp, designer) })
}

// transferAll makes the transfers still owed for a campaign and marks it paid out once none is left.
func (s *Settler) transferAll(ctx context.Context, w *work, camp campaign.Campaign, designer account.User) error {
	log := zerolog.Ctx(ctx).With().Str("campaign_id", camp.ID).Logger()
	owed := []pledge.Status{pledge.StatusCollected, pledge.StatusPartiallyRefunded}
	err := w.each(ctx, camp.ID, owed, func(ctx context.Context, p pledge.Pledge) error {
		if p.TransferID != "" {
			return nil
		}
		amount := payable(p, s.opts.PlatformFeeBPS)
		transferID := "none" // nothing left to pay (fully refunded share)
		if amount > 0 {
			id, err := s.pledges.Transfer(ctx, pledge.TransferRequest{Amount: money.Money{Amount: amount, Currency: p.Amount.Currency},
				Destination: designer.StripeAccountID, SourceTransaction: p.ChargeID, TransferGroup: camp.ID,
				PledgeID: p.ID, IdempotencyKey: pledge.TransferKey(p.ID)})
			if err != nil {
				return err
			}
			transferID = id
		}
		_, err := s.pledges.RecordTransfer(ctx, p, transferID, amount, w.Token())
		return err
	})
	if err != nil {
		return err
	}
	var left atomic.Int64
	if err := w.each(ctx, camp.ID, owed, func(ctx context.Context, p pledge.Pledge) error {
		if p.TransferID == "" {
			left.Add(1)
		}
		return nil
	}); err != nil || left.Load() > 0 {
		return err
	}
	camp, err = s.store.FindCampaign(ctx, camp.ID)
	if err != nil {
		return err
	}
	next := camp
	settled := *camp.Settlement
	now := s.now()
	settled.PaidOutAt = &now
	next.Settlement = &settled
	if _, err := s.replaceCampaign(ctx, camp, next); err != nil {
		return err
	}
	log.Info().Msg("designer paid out")
	return nil
}
