package pledge

import (
	"context"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// Event is a verified Stripe event as far as Backstitch acts on it, mapped from Stripe's objects
// by the Stripe adapter. At most one of Intent, CheckoutSessionID, RefundedTotal, Dispute and
// Payouts is set; an
// event with none (a type Backstitch does not use) is acknowledged and kept.
type Event struct {
	ID   string
	Type string
	// Intent is a SetupIntent or PaymentIntent that changed. PledgeID is the one in its metadata:
	// a deadline charge whose response was lost is not yet recorded on its pledge.
	Intent   *Intent
	PledgeID string
	// CheckoutSessionID is a Checkout Session the backer completed (PledgeID is in its metadata).
	CheckoutSessionID string
	// PaymentIntentID names the pledge a refund or a dispute is about, through its charge.
	PaymentIntentID string
	// RefundedTotal is how much of the charge has been refunded in all.
	RefundedTotal *int64
	Dispute       *Dispute
	// Payouts is a designer's connected account that can (or no longer can) be paid out.
	Payouts *PayoutsChange
}

// PayoutsChange is where a connected account's onboarding stands, as of the event's creation.
type PayoutsChange struct {
	AccountID string
	account.Payouts
}

// ApplyEvent brings a pledge in line with a Stripe event about it. Events may come twice, late and
// in any order: each part is applied by a function that only moves a pledge forward. An event
// about no pledge of ours (another integration on the account, a dashboard test) is acknowledged
// and left to reconciliation. Payouts are not the pledge's: the caller routes them.
func (s *Service) ApplyEvent(ctx context.Context, e Event) error {
	actor := "stripe:" + e.ID
	switch {
	case e.Intent != nil:
		p, err := s.intentPledge(ctx, e.Intent.ID, e.PledgeID)
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = s.ApplyIntent(ctx, p.ID, *e.Intent, actor)
		return err
	case e.CheckoutSessionID != "":
		if e.PledgeID == "" {
			return nil
		}
		p, err := s.store.FindPledge(ctx, e.PledgeID)
		if err == nil && p.FixCheckoutID == e.CheckoutSessionID {
			_, err = s.FixedWithCheckout(ctx, p.ID, e.CheckoutSessionID, actor)
		} else if err == nil {
			_, err = s.syncCheckout(ctx, e.PledgeID, e.CheckoutSessionID, actor)
		}
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return nil
		}
		return err
	case e.RefundedTotal != nil || e.Dispute != nil:
		if e.PaymentIntentID == "" {
			return nil
		}
		p, err := s.store.FindPledgeByIntent(ctx, e.PaymentIntentID)
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if e.RefundedTotal != nil {
			_, err = s.ApplyRefundTotal(ctx, p.ID, *e.RefundedTotal, actor)
		} else {
			_, err = s.ApplyDispute(ctx, p.ID, *e.Dispute, actor)
		}
		return err
	}
	return nil
}

// intentPledge finds the pledge an intent belongs to: the pledge whose id the intent carries in
// its metadata when that pledge records the intent (one read by _id; looking up by intent id
// reads every pledge on the embedded store, once per webhook), else the pledge that records it,
// else the metadata's pledge (a deadline charge whose response was lost is not recorded yet).
func (s *Service) intentPledge(ctx context.Context, intentID, pledgeID string) (Pledge, error) {
	var named Pledge
	var namedErr error = backstitch.Errorf(backstitch.CodeNotFound, "Pledge not found.")
	if pledgeID != "" {
		named, namedErr = s.store.FindPledge(ctx, pledgeID)
		if namedErr == nil && (named.SetupIntentID == intentID || named.PaymentIntentID == intentID) {
			return named, nil
		}
		if namedErr != nil && backstitch.ErrorCode(namedErr) != backstitch.CodeNotFound {
			return named, namedErr
		}
	}
	p, err := s.store.FindPledgeByIntent(ctx, intentID)
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return named, namedErr
	}
	return p, err
}
