package pledge

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Dunning is the recovery schedule for failed deadline charges: automatic retries at the given
// offsets after the first failure, and the window after which the pledge is dropped.
type Dunning struct {
	Retries []time.Duration
	Window  time.Duration
}

// nextRetry is the first scheduled retry after now, or nil when none is left in the window.
func (d Dunning) nextRetry(firstFailed, now time.Time) *time.Time {
	for _, off := range d.Retries {
		if at := firstFailed.Add(off); at.After(now) && off < d.Window {
			return &at
		}
	}
	return nil
}

// ChargeOffSession charges an active pledge's saved card at the deadline, or retries a failed
// one, as the holder of fencing token fence. A pledge found in "charging" (its settler died
// mid-way) is resumed with the same attempt number. Provider errors leave it in "charging" for the
// caller to retry; declines move it to payment_failed with the next retry scheduled.
func (s *Service) ChargeOffSession(ctx context.Context, p Pledge, fence int64) (Pledge, error) {
	switch p.Status {
	case StatusActive, StatusPaymentFailed:
		next := p.MoveTo(StatusCharging, "system:settler", fmt.Sprintf("charge attempt %d", p.ChargeAttempts+1), s.now())
		next.ChargeAttempts++
		var err error
		if p, err = s.transition(ctx, p, next, transitionOpts{fence: fence}); err != nil {
			return p, err
		}
	case StatusCharging:
		if s.now().Sub(chargingSince(p)) >= KeyLifetime-time.Hour {
			// Stripe may have forgotten this attempt's key (with an hour to spare for clocks
			// and the request itself): repeating it could charge a second time. Ask first.
			return s.resumeCharge(ctx, p, fence)
		}
	default:
		return p, nil
	}
	return s.chargeAttempt(ctx, p, fence)
}

// AfterChargeClaim is right after a batch of deadline charges was claimed (moved to
// "charging"), before any of them reaches Stripe.
const AfterChargeClaim FaultPoint = "after_charge_claim"

// ClaimCharges moves a batch of active pledges to "charging", with their next attempt number, in
// one store command, as the holder of fencing token fence: what ChargeOffSession's first write
// does for one pledge, so "this attempt started" is stored before any Stripe call and a settler
// that dies afterwards is resumed with the same attempt and key. It answers ps with each pledge
// it claimed replaced by its claimed state; the others are left as given (not active, or changed
// since they were read: ChargeOffSession sees to them one by one, and finds a cancelled pledge
// cancelled). A pledge whose claim would move counters or owe a message is left to
// ChargeOffSession too, where transition does both.
func (s *Service) ClaimCharges(ctx context.Context, ps []Pledge, fence int64) ([]Pledge, error) {
	var prevs, nexts []Pledge
	now := s.now()
	for _, p := range ps {
		if p.Status != StatusActive {
			continue
		}
		next := p.MoveTo(StatusCharging, "system:settler", fmt.Sprintf("charge attempt %d", p.ChargeAttempts+1), now)
		next.ChargeAttempts++
		next.Pending = p.Pending
		s.owe(p, &next)
		if effectsOf(p, next) != (effects{}) || len(next.Owed) != len(p.Owed) {
			continue
		}
		prevs, nexts = append(prevs, p), append(nexts, next)
	}
	written, err := s.store.FencedReplacePledges(ctx, prevs, nexts, fence)
	if err != nil {
		return ps, err
	}
	if err := s.injectFault(AfterChargeClaim); err != nil {
		return ps, err
	}
	claimed := make(map[string]Pledge, len(written))
	for _, p := range written {
		claimed[p.ID] = p
	}
	out := make([]Pledge, len(ps))
	for i, p := range ps {
		if c, ok := claimed[p.ID]; ok {
			p = c
		}
		out[i] = p
	}
	return out, nil
}

// chargeAttempt sends charge attempt p.ChargeAttempts to Stripe, with that attempt's key.
func (s *Service) chargeAttempt(ctx context.Context, p Pledge, fence int64) (Pledge, error) {
	in, err := s.gateway.CreatePaymentIntent(ctx, PaymentRequest{
		Amount: p.Amount, CustomerID: p.CustomerID, PaymentMethodID: p.PaymentMethodID,
		OffSession: true, Confirm: true, TransferGroup: p.CampaignID,
		PledgeID: p.ID, CampaignID: p.CampaignID, Attempt: p.ChargeAttempts, IdempotencyKey: ChargeKey(p.ID, p.ChargeAttempts),
	})
	if err != nil {
		return p, err
	}
	return s.applyChargeOn(ctx, p, in, fence, "system:settler")
}

// resumeCharge finishes a pledge left "charging" longer than Stripe keeps idempotency keys, by
// reading what Stripe did: a succeeded PaymentIntent of any attempt is recorded as collected; the
// current attempt's outcome, when Stripe has one, is recorded as it stands (a decline goes to
// dunning; 3-D Secure or processing waits for its webhook). Only when Stripe has nothing for the
// current attempt is a new attempt made, with a key of its own, which cannot charge twice.
func (s *Service) resumeCharge(ctx context.Context, p Pledge, fence int64) (Pledge, error) {
	if p.CustomerID == "" {
		return p, backstitch.Errorf(backstitch.CodeInvalidState, "Pledge %s is charging without a Stripe customer; resolve it from reconciliation.", p.ID)
	}
	intents, err := s.gateway.FindPaymentIntents(ctx, p.CustomerID, p.ID)
	if err != nil {
		return p, err
	}
	for _, in := range intents {
		if in.Status == IntentSucceeded {
			return s.applyCharge(ctx, p.ID, in, fence, "system:settler")
		}
	}
	for _, in := range intents {
		if in.Attempt != p.ChargeAttempts || in.Status == IntentCanceled {
			continue
		}
		if in.Failure != nil {
			return s.applyCharge(ctx, p.ID, in, fence, "system:settler")
		}
		return p, nil // processing or waiting for the backer: its webhook brings the outcome
	}
	next := p
	next.ChargeAttempts++
	next.History = append(append([]HistoryEntry(nil), p.History...), HistoryEntry{From: p.Status, To: p.Status, Actor: "system:settler",
		Reason: fmt.Sprintf("Stripe has no charge for attempt %d after %s: charge attempt %d", p.ChargeAttempts, KeyLifetime, next.ChargeAttempts), At: s.now()})
	if p, err = s.transition(ctx, p, next, transitionOpts{fence: fence}); err != nil {
		return p, err
	}
	return s.chargeAttempt(ctx, p, fence)
}

// chargingSince is when the current charge attempt of a "charging" pledge started.
func chargingSince(p Pledge) time.Time {
	for i := len(p.History) - 1; i >= 0; i-- {
		if p.History[i].To == StatusCharging {
			return p.History[i].At
		}
	}
	return p.UpdatedAt
}

// FixPayment lets a backer whose deadline charge failed pay with another card, on-session (so
// 3-D Secure can run in the browser with the returned client secret), during the dunning window.
func (s *Service) FixPayment(ctx context.Context, id, token, paymentMethod string) (Confirmed, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return Confirmed{}, err
	}
	if err := checkPaymentMethod(paymentMethod); err != nil {
		return Confirmed{}, err
	}
	if p.Status == StatusCollected {
		return Confirmed{Pledge: p}, nil
	}
	if p.Status != StatusPaymentFailed {
		return Confirmed{}, backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s: there is no failed payment to fix.", p.Status)
	}
	next := p
	next.ChargeAttempts++
	if p, err = s.transition(ctx, p, next, transitionOpts{}); err != nil {
		return Confirmed{}, err
	}
	in, err := s.gateway.CreatePaymentIntent(ctx, PaymentRequest{
		Amount: p.Amount, CustomerID: p.CustomerID, PaymentMethodID: paymentMethod, Confirm: true,
		TransferGroup: p.CampaignID, PledgeID: p.ID, CampaignID: p.CampaignID, Attempt: p.ChargeAttempts, IdempotencyKey: ChargeKey(p.ID, p.ChargeAttempts),
	})
	if err != nil {
		return Confirmed{}, err
	}
	p, err = s.applyCharge(ctx, p.ID, in, 0, "backer")
	if err != nil {
		return Confirmed{}, err
	}
	if in.Failure != nil {
		return Confirmed{Pledge: p}, declined(in.Failure)
	}
	return Confirmed{Pledge: p, ActionRequired: in.Status == IntentRequiresAction}, nil
}

// applyCharge records a charge outcome on a pledge that is charging or in dunning. The settler,
// the fix-payment path and the webhook all call it; it only moves forward (a collected pledge is
// never un-collected by a late decline) and the compare-and-set lets one caller win.
func (s *Service) applyCharge(ctx context.Context, pledgeID string, in Intent, fence int64, actor string) (Pledge, error) {
	p, err := s.store.FindPledge(ctx, pledgeID)
	if err != nil || in.Setup {
		// A saved card is not a payment: a setup event arriving during dunning (the pledge's
		// first card, late, or a new card from Checkout) must not mark the pledge collected.
		// A card saved to fix the payment is taken up by FixedWithCheckout.
		return p, err
	}
	return s.applyChargeOn(ctx, p, in, fence, actor)
}

// applyChargeOn is applyCharge from p as its caller last wrote or read it: the settler has the
// pledge it just moved to "charging", and reading it again would cost every charge one more
// store round trip. A stale p only loses the compare-and-set, and the pledge is read again.
func (s *Service) applyChargeOn(ctx context.Context, p Pledge, in Intent, fence int64, actor string) (Pledge, error) {
	fee := s.stripeFee(ctx, in)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var err error
			if p, err = s.store.FindPledge(ctx, p.ID); err != nil {
				return p, err
			}
		}
		if p.Status != StatusCharging && p.Status != StatusPaymentFailed {
			return p, nil
		}
		if p.Status == StatusPaymentFailed && in.Failure != nil && p.PaymentIntentID == in.ID {
			return p, nil // this failure is already recorded (the response and the webhook both bring it)
		}
		if in.Status != IntentSucceeded && in.Attempt != 0 && in.Attempt != p.ChargeAttempts {
			// A late failure of an older attempt says nothing about the one under way. (A late
			// success of any attempt is recorded: that money was taken.)
			return p, nil
		}
		now := s.now()
		var next Pledge
		switch {
		case in.Status == IntentSucceeded:
			next = p.MoveTo(StatusCollected, actor, "stripe: succeeded", now)
			next.PaymentIntentID, next.ChargeID, next.CollectedAt, next.NextRetryAt, next.StripeFee = in.ID, in.ChargeID, &now, nil, fee
		case in.Failure != nil:
			next = p
			if p.Status == StatusCharging {
				next = p.MoveTo(StatusPaymentFailed, actor, "stripe: "+declineMessage(in.Failure), now)
			}
			f := *in.Failure
			f.At = now
			next.LastFailure = &f
			if next.FirstFailedAt == nil {
				next.FirstFailedAt = &now
			}
			next.NextRetryAt = s.dunning.nextRetry(*next.FirstFailedAt, now)
			next.PaymentIntentID = in.ID
		case in.Status == IntentRequiresAction && p.Status == StatusPaymentFailed:
			// On-session fix waiting for 3-D Secure: the webhook will bring the outcome.
			next = p
			next.PaymentIntentID, next.ClientSecret = in.ID, in.ClientSecret
		default:
			return p, nil
		}
		updated, err := s.transition(ctx, p, next, transitionOpts{fence: fence})
		if backstitch.ErrorCode(err) == backstitch.CodeConflict && attempt < 5 {
			continue
		}
		if err != nil {
			return updated, err
		}
		zerolog.Ctx(ctx).Info().Str("pledge_id", p.ID).Str("status", string(updated.Status)).Int("attempt", p.ChargeAttempts).Msg("deadline charge " + string(updated.Status))
		return updated, nil
	}
}

// Drop ends a pledge whose dunning window closed without a successful charge: its reward unit
// goes back and it leaves the campaign's totals.
func (s *Service) Drop(ctx context.Context, p Pledge) (Pledge, error) {
	if p.Status != StatusPaymentFailed {
		return p, nil
	}
	return s.end(ctx, p, StatusDropped, "system:dunning", "dunning window closed without payment")
}

// Void ends a pledge that will never be charged: its campaign missed its goal or was cancelled,
// or (flexible) it was never paid before the deadline. A saved card is detached from the customer
// (the backer's card is not kept for nothing) before the pledge is written void: nothing looks
// at a void pledge again, so a settler that died between the write and the detach would leave
// the card saved for good, where one that dies before the write finds the pledge open on its
// next run and detaches again with the same key. Stripe not answering stops the void (the next
// run retries); Stripe refusing (the card gone already) does not hold it up. A pending pledge's
// intent is closed first (see closeIntent): a card saved at the last
// moment is voided like any other, money taken at the last moment leaves the pledge collected
// (a cancelled campaign's wind-down refunds it).
func (s *Service) Void(ctx context.Context, p Pledge, fence int64, reason string) (Pledge, error) {
	return s.void(ctx, p, fence, "system:settler", reason, false)
}

// VoidUncarded ends an all-or-nothing pledge that reached the deadline of a successful campaign
// without a saved card. If closing its intent shows the card was saved after all, the pledge is
// active again and left for the deadline charge.
func (s *Service) VoidUncarded(ctx context.Context, p Pledge, fence int64) (Pledge, error) {
	return s.void(ctx, p, fence, "system:settler", "no card saved before the deadline", true)
}

func (s *Service) void(ctx context.Context, p Pledge, fence int64, actor, reason string, keepCarded bool) (Pledge, error) {
	if p.Status == StatusPending {
		updated, closed, err := s.closeIntent(ctx, p, "stripe")
		if err != nil {
			return p, err
		}
		if !closed {
			if updated.Status != StatusActive || keepCarded {
				return updated, nil // collected, or still processing (the next tick looks again)
			}
			p = updated
		}
	}
	if p.Status != StatusActive && p.Status != StatusPending {
		return p, nil
	}
	if p.PaymentMethodID != "" && p.CustomerID != "" {
		if err := s.gateway.DetachPaymentMethod(ctx, p.PaymentMethodID, detachCardKey(p.ID)); err != nil {
			if backstitch.ErrorCode(err) == backstitch.CodePaymentProvider {
				return p, err
			}
			zerolog.Ctx(ctx).Warn().Err(err).Str("pledge_id", p.ID).Msg("detach saved card")
		}
	}
	return s.transition(ctx, p, p.MoveTo(StatusVoid, actor, reason, s.now()), transitionOpts{fence: fence})
}

// stripeFee is Stripe's fee for a succeeded intent's charge: from the answer that confirmed it
// when that carried it, else read from Stripe (a webhook's intent, say). A failure to read it
// does not hold up recording the payment: it is logged, and reconciliation compares fees with
// Stripe's balance transactions anyway.
func (s *Service) stripeFee(ctx context.Context, in Intent) int64 {
	if in.Status != IntentSucceeded || in.ChargeID == "" {
		return 0
	}
	if in.Fee != nil {
		return *in.Fee
	}
	fee, err := s.gateway.ChargeFee(ctx, in.ChargeID)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("charge_id", in.ChargeID).Msg("read Stripe fee")
	}
	return fee
}
