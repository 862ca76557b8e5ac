package pledge

import (
	"context"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// Stripe lets a Checkout Session live between 30 minutes and 24 hours; a margin keeps the
// shortest one inside that range however long the request takes to reach Stripe.
const (
	checkoutMinTTL = 31 * time.Minute
	checkoutMaxTTL = 24 * time.Hour
)

// CheckoutStart is where Stripe Checkout sends the backer back to, and in which language it speaks.
type CheckoutStart struct {
	// SuccessURL may carry {CHECKOUT_SESSION_ID}.
	SuccessURL, CancelURL string
	Locale                string
	// Item names what the backer pays for on the checkout page.
	Item string
}

// StartCheckout opens a Stripe Checkout Session for a pending pledge and answers its address:
// setup mode for all-or-nothing (the card is saved, nothing charged before the deadline), payment
// mode for flexible (charged now). A pledge has one payable session at a time: the one before is
// expired first, and if it was completed meanwhile no other is made, so a backer who comes back
// from Checkout and submits again is never charged twice.
func (s *Service) StartCheckout(ctx context.Context, id, token string, r CheckoutStart) (string, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return "", err
	}
	if p.Status != StatusPending {
		return "", backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s: there is nothing left to pay.", p.Status)
	}
	camp, err := s.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return "", err
	}
	if err := s.checkOpen(p, camp); err != nil {
		return "", err
	}
	if p.CheckoutSessionID != "" {
		prev, err := s.gateway.ExpireCheckoutSession(ctx, p.CheckoutSessionID, expireCheckoutKey(p.ID, p.CheckoutSessionID))
		if err != nil {
			return "", err
		}
		if prev.Status == CheckoutComplete {
			return "", backstitch.Errorf(backstitch.CodeInvalidState, "This pledge has been paid and is being confirmed.")
		}
	}
	// Count the attempt first (one atomic $inc), so each session has its own idempotency key.
	if p, err = s.store.CountConfirmAttempt(ctx, p.ID); err != nil {
		return "", err
	}
	now := s.now()
	expires := p.HoldExpiresAt
	if expires.Before(now.Add(checkoutMinTTL)) {
		expires = now.Add(checkoutMinTTL)
	}
	if expires.After(now.Add(checkoutMaxTTL)) {
		expires = now.Add(checkoutMaxTTL)
	}
	req := CheckoutRequest{Mode: CheckoutSetup, CustomerID: p.CustomerID, SuccessURL: r.SuccessURL, CancelURL: r.CancelURL,
		ExpiresAt: expires, Locale: r.Locale, PledgeID: p.ID, CampaignID: p.CampaignID, IdempotencyKey: checkoutKey(p.ID, p.ConfirmAttempts)}
	if p.FundingModel == campaign.Flexible {
		req.Mode, req.Amount, req.Item, req.TransferGroup = CheckoutPayment, p.Amount, r.Item, p.CampaignID
		req.CustomerID, req.Email = "", p.Backer.Email
	}
	cs, err := s.gateway.CreateCheckoutSession(ctx, req)
	if err != nil {
		return "", err
	}
	next := p
	next.CheckoutSessionID, next.UpdatedAt = cs.ID, now
	if cs.SetupIntentID != "" {
		next.SetupIntentID = cs.SetupIntentID
	}
	if _, err := s.transition(ctx, p, next, transitionOpts{}); err != nil {
		// Another request (a second click, a webhook) changed the pledge first: this session
		// must not stay payable beside the one the pledge records.
		_, _ = s.gateway.ExpireCheckoutSession(ctx, cs.ID, expireCheckoutKey(p.ID, cs.ID))
		return "", err
	}
	return cs.URL, nil
}

// CheckoutReturned brings a pledge up to date when its backer comes back from Checkout, without
// waiting for the webhook: both paths apply the same intent, whichever comes first. Only the
// session the pledge records is asked about.
func (s *Service) CheckoutReturned(ctx context.Context, id, token, sessionID string) (Pledge, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil || p.Status != StatusPending || sessionID == "" || sessionID != p.CheckoutSessionID {
		return p, err
	}
	return s.syncCheckout(ctx, p.ID, sessionID, "backer")
}

// syncCheckout applies what a Checkout Session's intent says now, as the API's confirm does.
func (s *Service) syncCheckout(ctx context.Context, pledgeID, sessionID, actor string) (Pledge, error) {
	in, err := s.gateway.CheckoutIntent(ctx, sessionID)
	if err != nil {
		return Pledge{}, err
	}
	if in.ID == "" {
		return s.store.FindPledge(ctx, pledgeID)
	}
	return s.ApplyIntent(ctx, pledgeID, in, actor)
}
