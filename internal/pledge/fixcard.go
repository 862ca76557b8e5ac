package pledge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Paying with another card after a failed deadline charge, through Stripe Checkout: the backer
// saves a new card in a setup-mode session for the pledge's customer, and the charge is retried
// at once with it by ChargeOffSession, the settler's own charge (same attempt numbering, same
// idempotency keys, same recording of the outcome). It is open while the pledge is in dunning.

// FixLinkSecret names the server secret that signs the fix-payment links of charge-failed mail.
const FixLinkSecret = "fix_payment_link"

// fixLinks makes and checks the token of a pledge's fix-payment link. The manage token itself is
// only ever stored hashed (sealed, while its confirmation waits: confirmation.go), so the message
// about a failed charge, written long after the pledge was made, cannot carry it; it carries this
// one instead, derived from the pledge id with a key every instance shares. It opens only a pledge
// whose deadline charge has failed.
type fixLinks struct{ secret *secretKey }

// SignFixLinks sets where the key of fix-payment links comes from (the store's shared server
// secrets); set before serving. Without it there are no fix-payment links.
func (s *Service) SignFixLinks(load func(ctx context.Context, name string) ([]byte, error)) {
	s.links = &fixLinks{secret: &secretKey{name: FixLinkSecret, load: load}}
}

func (l *fixLinks) token(ctx context.Context, pledgeID string) (string, error) {
	key, err := l.secret.get(ctx)
	if err != nil {
		return "", fmt.Errorf("fix-payment link key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("fix-payment link\x00" + pledgeID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// FixLinkToken is the token of the fix-payment link of a pledge whose deadline charge failed: it
// opens the pledge's manage page as the manage token does.
func (s *Service) FixLinkToken(ctx context.Context, pledgeID string) (string, error) {
	if s.links == nil {
		return "", backstitch.Errorf(backstitch.CodeUnavailable, "Fix-payment links are not set up.")
	}
	return s.links.token(ctx, pledgeID)
}

// fixLinkOpens reports whether token is p's fix-payment link token, for a pledge that has one.
func (s *Service) fixLinkOpens(ctx context.Context, p Pledge, token string) (bool, error) {
	if s.links == nil || p.FirstFailedAt == nil || token == "" {
		return false, nil
	}
	want, err := s.links.token(ctx, p.ID)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1, nil
}

// FixableUntil is when the backer's chance to pay with another card ends (the end of the dunning
// window), and whether the pledge is in dunning at all.
func (s *Service) FixableUntil(p Pledge) (time.Time, bool) {
	if p.Status != StatusPaymentFailed || p.FirstFailedAt == nil {
		return time.Time{}, false
	}
	return p.FirstFailedAt.Add(s.dunning.Window), true
}

// checkFixable refuses to open a new card's Checkout for a pledge that is not in dunning, or
// whose window has closed (the next tick drops it).
func (s *Service) checkFixable(p Pledge) error {
	until, ok := s.FixableUntil(p)
	switch {
	case p.Status.Charged():
		return backstitch.Errorf(backstitch.CodeInvalidState, "This pledge has been paid: there is no failed payment to fix.")
	case !ok:
		return backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s: there is no failed payment to fix.", p.Status)
	case !s.now().Before(until):
		return backstitch.Errorf(backstitch.CodeInvalidState, "The time to pay with another card ended on %s UTC.", until.UTC().Format("2 January 2006 15:04"))
	case p.CustomerID == "":
		return backstitch.Errorf(backstitch.CodeInvalidState, "This pledge has no Stripe customer to save a card for.")
	}
	return nil
}

// StartFixCheckout opens a setup-mode Checkout Session for the customer of a pledge in dunning
// and answers its address. Like StartCheckout, a pledge has one such session at a time: the one
// before is expired first, and if the backer completed it meanwhile its card is taken up instead.
func (s *Service) StartFixCheckout(ctx context.Context, id, token string, r CheckoutStart) (string, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return "", err
	}
	if err := s.checkFixable(p); err != nil {
		return "", err
	}
	if p.FixCheckoutID != "" {
		prev, err := s.gateway.ExpireCheckoutSession(ctx, p.FixCheckoutID, expireCheckoutKey(p.ID, p.FixCheckoutID))
		if err != nil {
			return "", err
		}
		if prev.Status == CheckoutComplete {
			// Its card was saved but not taken up yet (the webhook is late, the backer did not
			// come back): charge it now, and open another session only if that was declined.
			if p, err = s.FixedWithCheckout(ctx, p.ID, prev.ID, "backer"); err != nil {
				return "", err
			}
			if err := s.checkFixable(p); err != nil {
				return "", err
			}
		}
	}
	// Count the attempt first (one atomic $inc), so each session has its own idempotency key.
	if p, err = s.store.CountConfirmAttempt(ctx, p.ID); err != nil {
		return "", err
	}
	now := s.now()
	cs, err := s.gateway.CreateCheckoutSession(ctx, CheckoutRequest{Mode: CheckoutSetup, CustomerID: p.CustomerID,
		SuccessURL: r.SuccessURL, CancelURL: r.CancelURL, ExpiresAt: now.Add(checkoutMinTTL), Locale: r.Locale,
		PledgeID: p.ID, CampaignID: p.CampaignID, IdempotencyKey: fixCheckoutKey(p.ID, p.ConfirmAttempts)})
	if err != nil {
		return "", err
	}
	next := p
	next.FixCheckoutID, next.UpdatedAt = cs.ID, now
	if _, err := s.transition(ctx, p, next, transitionOpts{}); err != nil {
		// The pledge changed first (a retry collected it, a second click): this session must
		// not stay payable beside the one the pledge records.
		_, _ = s.gateway.ExpireCheckoutSession(ctx, cs.ID, expireCheckoutKey(p.ID, cs.ID))
		return "", err
	}
	return cs.URL, nil
}

// FixReturned brings a pledge up to date when its backer comes back from the new card's Checkout,
// without waiting for the webhook. Only the holder of the pledge's token gets here, and only the
// session the pledge records is taken up.
func (s *Service) FixReturned(ctx context.Context, id, token, sessionID string) (Pledge, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return p, err
	}
	return s.FixedWithCheckout(ctx, p.ID, sessionID, "backer")
}

// FixedWithCheckout takes up the card a backer saved through the pledge's fix-payment Checkout
// Session and retries the charge with it at once. The webhook and the return page both call it,
// any number of times: only the session the pledge records counts (so a session of another
// pledge, or an older one, attaches nothing), the compare-and-set that records the card clears
// it (so only one caller goes on to charge), and the charge is ChargeOffSession's, which charges
// only a pledge still in dunning, under its own attempt's idempotency key.
func (s *Service) FixedWithCheckout(ctx context.Context, pledgeID, sessionID, actor string) (Pledge, error) {
	p, err := s.store.FindPledge(ctx, pledgeID)
	if err != nil || sessionID == "" || sessionID != p.FixCheckoutID || p.Status != StatusPaymentFailed {
		return p, err
	}
	if until, _ := s.FixableUntil(p); !s.now().Before(until) {
		return p, nil // the window closed: the next tick drops the pledge
	}
	in, err := s.gateway.CheckoutIntent(ctx, sessionID)
	if err != nil {
		return p, err
	}
	if in.Status != IntentSucceeded || in.PaymentMethodID == "" {
		return p, nil // not completed yet: its completion comes back here
	}
	now := s.now()
	next := p.MoveTo(StatusPaymentFailed, actor, "new card saved through Checkout", now)
	next.PaymentMethodID, next.FixCheckoutID = in.PaymentMethodID, ""
	// Due at once: should the process die before the charge below starts, the next dunning tick
	// makes it with the new card.
	next.NextRetryAt = &now
	saved, err := s.transition(ctx, p, next, transitionOpts{})
	if backstitch.ErrorCode(err) == backstitch.CodeConflict {
		return s.store.FindPledge(ctx, pledgeID) // another caller took the card up first
	}
	if err != nil {
		return saved, err
	}
	charged, err := s.ChargeOffSession(ctx, saved, 0)
	if backstitch.ErrorCode(err) == backstitch.CodeConflict {
		return s.store.FindPledge(ctx, pledgeID) // the settler's retry got there first
	}
	return charged, err
}
