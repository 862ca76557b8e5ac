package pledge

import (
	"context"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

// A backer's data: everything stored about her pledge, for her to download, and its erasure once
// the money is settled. Erasure pseudonymises the personal fields (name, email, address, tracking
// of her parcel) on the pledge and on her Stripe customer, and keeps what reconciliation and the
// books need: ids, amounts, statuses, history, the country shipping was priced for.

// ErasedName is what an erased backer is called from then on.
const ErasedName = "Erased backer"

// ErasedEmail is an erased backer's pseudonymous address: unique per pledge, never deliverable
// (.invalid is reserved), so nothing personal stays and nothing reaches anyone.
func ErasedEmail(pledgeID string) string { return "erased-" + pledgeID + "@erased.invalid" }

// Export is everything stored about a pledge that concerns its backer. Secrets (the manage token's
// hash, the Stripe client secret) and bookkeeping of the service's own (fencing, pending counters)
// are not hers and not in it.
type Export struct {
	PledgeID         string            `json:"pledge_id"`
	CampaignID       string            `json:"campaign_id"`
	TierID           string            `json:"tier_id,omitempty"`
	Options          map[string]string `json:"options,omitempty"`
	SessionID        string            `json:"session_id,omitempty"`
	Backer           Backer            `json:"backer"`
	ShippingAddress  *Address          `json:"shipping_address,omitempty"`
	Amount           money.Money       `json:"amount"`
	RewardPrice      money.Money       `json:"reward_price"`
	Shipping         money.Money       `json:"shipping"`
	AmountRefunded   money.Money       `json:"amount_refunded"`
	Status           Status            `json:"status"`
	History          []HistoryEntry    `json:"history"`
	Fulfilment       *Fulfilment       `json:"fulfilment,omitempty"`
	SurveyAnsweredAt *time.Time        `json:"survey_answered_at,omitempty"`
	LastFailure      *Failure          `json:"last_failure,omitempty"`
	Dispute          *Dispute          `json:"dispute,omitempty"`
	Stripe           map[string]string `json:"stripe"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	ErasedAt         *time.Time        `json:"erased_at,omitempty"`
}

// Export gives the holder of a pledge's manage token everything stored about it.
func (s *Service) Export(ctx context.Context, id, token string) (Export, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return Export{}, err
	}
	cur := p.Amount.Currency
	stripeIDs := map[string]string{}
	for k, v := range map[string]string{"customer": p.CustomerID, "setup_intent": p.SetupIntentID, "payment_intent": p.PaymentIntentID,
		"payment_method": p.PaymentMethodID, "charge": p.ChargeID} {
		if v != "" {
			stripeIDs[k] = v
		}
	}
	return Export{PledgeID: p.ID, CampaignID: p.CampaignID, TierID: p.TierID, Options: p.Options, SessionID: p.SessionID,
		Backer: p.Backer, ShippingAddress: p.ShippingAddress, Amount: p.Amount,
		RewardPrice: money.Money{Amount: p.RewardPrice, Currency: cur}, Shipping: money.Money{Amount: p.Shipping, Currency: cur},
		AmountRefunded: money.Money{Amount: p.AmountRefunded, Currency: cur}, Status: p.Status, History: p.History,
		Fulfilment: p.Fulfilment, SurveyAnsweredAt: p.SurveyAnsweredAt, LastFailure: p.LastFailure, Dispute: p.Dispute,
		Stripe: stripeIDs, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, ErasedAt: p.ErasedAt}, nil
}

// erasable says why a pledge's data cannot be erased yet ("" when it can): while money may still
// move (a card saved or being charged, a dispute, the designer not yet paid) the records that
// reconciliation ties to a person must stay, and while a paid reward waits to ship, so must the
// address it ships to.
func erasable(p Pledge) string {
	switch p.Status {
	case StatusCancelled, StatusExpired, StatusVoid, StatusDropped, StatusRefunded, StatusDisputeLost:
		return ""
	case StatusPending, StatusActive:
		return "This pledge is still open: cancel it first (before the deadline), then ask for erasure."
	case StatusCharging, StatusPaymentFailed:
		return "This pledge's charge is still under way: erasure is possible once it is settled."
	case StatusDisputed:
		return "A dispute on this pledge's charge is open: erasure is possible once it is decided."
	case StatusCollected, StatusPartiallyRefunded:
		if p.TransferID == "" {
			return "The designer has not been paid for this pledge yet (payouts follow the dunning window): erasure is possible once the money is settled."
		}
		// A reward that ships needs the name and address on the parcel: erasing them first would
		// leave a paid reward that nobody can send.
		if p.ShippingAddress != nil && (p.Fulfilment == nil || p.Fulfilment.Status == FulfilToShip) {
			return "Your reward has not shipped yet, and the designer needs your name and address to send it: erasure is possible once it is marked shipped."
		}
		return ""
	}
	return "This pledge cannot be erased in its current state."
}

// Erase pseudonymises the backer's data on a pledge whose money is settled (see erasable), for
// the holder of its manage token. It runs under the pledge's refund lease, so no refund is in
// flight meanwhile (one that is makes this answer a conflict that says so). The Stripe customer is renamed
// first, with a key derived from the pledge: a failure leaves everything as it was, and a retry
// repeats the same request. Erasing twice changes nothing. Messages about the pledge that the
// outbox keeps carry the same name and address: their erasure belongs with this write.
func (s *Service) Erase(ctx context.Context, rs RefundStore, id, token string) (Pledge, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return p, err
	}
	if p.ErasedAt != nil {
		return p, nil
	}
	if why := erasable(p); why != "" {
		return p, backstitch.Errorf(backstitch.CodeInvalidState, "%s", why)
	}
	err = s.oneRefundAtATime(ctx, rs, id, "backer", func() error {
		p, err = retryOnConflict(func() (Pledge, error) {
			p, err := s.store.FindPledge(ctx, id)
			if err != nil || p.ErasedAt != nil {
				return p, err
			}
			if why := erasable(p); why != "" {
				return p, backstitch.Errorf(backstitch.CodeInvalidState, "%s", why)
			}
			if p.CustomerID != "" {
				if err := s.gateway.PseudonymiseCustomer(ctx, p.CustomerID, ErasedName, ErasedEmail(p.ID), eraseCustomerKey(p.ID)); err != nil {
					return p, err
				}
			}
			return s.transition(ctx, p, pseudonymised(p, s.now()), transitionOpts{})
		})
		return err
	})
	return p, err
}

// pseudonymised is p without the backer's personal data.
func pseudonymised(p Pledge, now time.Time) Pledge {
	next := p
	next.Backer = Backer{Name: ErasedName, Email: ErasedEmail(p.ID)}
	if p.ShippingAddress != nil {
		// The country stays: shipping was priced for it, and the books show it.
		next.ShippingAddress = &Address{Country: p.ShippingAddress.Country}
	}
	if p.Fulfilment != nil {
		f := *p.Fulfilment
		f.TrackingNumber, f.TrackingURL = "", ""
		next.Fulfilment = &f
	}
	next.ErasedAt = &now
	next.UpdatedAt = now
	return next
}
