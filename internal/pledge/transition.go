package pledge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// This file is the one home of a pledge's side effects. Every write of a pledge goes through
// transition, which derives from the old and the new state what the reward tier and the
// campaign's totals must do, so no caller claims, releases or counts by hand:
//
//   - a pledge that starts holding a reward unit claims it first, with one atomic conditional
//     update on the tier (never oversold), and gives it back if the pledge write then fails;
//   - the pledge is written with compare-and-set (fenced when a settler's lease applies), and the
//     same write records what is still owed to the counters (Pending);
//   - the owed release and totals change are applied, then the record is cleared;
//   - the messages the change owes the backer, recorded by the same write (Owed), go to the
//     outbox (notices.go).
//
// A process that dies between the pledge write and the clearing leaves Pending on the pledge.
// The sweeper (Sweep) finds it once it is older than a request can run, recomputes the
// campaign's counters from the pledges themselves and clears it: counters heal on the next
// tick, with nobody stopping the service. Owed messages left on the pledge are delivered by the
// same sweep.

// Pending is what a pledge's last transition still owed to the counters when it was written.
type Pending struct {
	// Seq identifies the transition that wrote it; only that transition clears it.
	Seq string `bson:"seq"`
	// Since is when the oldest unsettled transition of this pledge was written. A transition that
	// finds another's record keeps its time, so the older one is never hidden by a newer one.
	Since time.Time `bson:"since"`
	// At is when this transition wrote it: until SettleWithin after, it may still be under way.
	At           time.Time `bson:"at"`
	Release      string    `bson:"release,omitempty"`
	ReleaseSlots []string  `bson:"release_slots,omitempty"`
	// KeepsTier: a move within the tier, owing back only ReleaseSlots, not the tier's unit.
	KeepsTier bool  `bson:"keeps_tier,omitempty"`
	Amount    int64 `bson:"amount"`
	Backers   int64 `bson:"backers"`
}

// FaultPoint names a place in a transition where a test can stop it, as a crash would.
type FaultPoint string

// AfterPledgeWrite is after the pledge's new state is stored, before the counters follow it and
// before its messages reach the outbox.
const AfterPledgeWrite FaultPoint = "after_pledge_write"

// BeforePledgeInsert is in a pledge's creation after its unit is claimed and its Stripe objects
// made, before the pledge is inserted.
const BeforePledgeInsert FaultPoint = "before_pledge_insert"

// AfterPledgeInsert is right after a pledge's insert was applied: an error there is a store
// whose reply was lost.
const AfterPledgeInsert FaultPoint = "after_pledge_insert"

// ErrInjectedFault is what an armed fault hook returns in tests: the request answers 503, as a
// service whose instance died mid-request would look to a client behind a load balancer.
var ErrInjectedFault error = backstitch.Errorf(backstitch.CodeUnavailable, "Injected fault: the request stopped half-way.")

// SetFaultHook arms a hook called at each fault point; an error it returns stops the transition
// there, as a crash would. Only tests arm it.
func (s *Service) SetFaultHook(hook func(FaultPoint) error) { s.fault = hook }

// unit is a reward unit a pledge holds: of a tier, of a stocked combination of its options, and
// a place in a session.
type unit struct{ tier, stock, session string }

// slots are the counters of a tier a unit also draws on, besides the tier's own.
func (u unit) slots() []string {
	var out []string
	for _, s := range []string{u.stock, u.session} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// heldUnit is the unit a pledge in this state holds (zero for none).
func heldUnit(p Pledge) unit {
	if p.TierID != "" && p.Status.HoldsUnit() {
		return unit{p.TierID, p.StockID, p.SessionID}
	}
	return unit{}
}

// counts is what a pledge in this state adds to its campaign's totals.
func counts(p Pledge) (amount, backers int64) {
	if p.Status.Counted() {
		return p.Amount.Amount, 1
	}
	return 0, 0
}

// effects are the counter changes that moving from prev to next calls for.
type effects struct {
	claim, release unit
	// within: the pledge stays in its tier, moving only between its slots (another date or
	// size), so claim and release name only the slots that change and the tier's unit stays
	// held. Claiming the tier again would answer sold_out to a backer who already has her unit.
	within          bool
	amount, backers int64
}

func effectsOf(prev, next Pledge) effects {
	var e effects
	if was, is := heldUnit(prev), heldUnit(next); was != is {
		e.release, e.claim = was, is
		if was.tier != "" && was.tier == is.tier {
			e.within = true
			e.release, e.claim = unit{tier: was.tier}, unit{tier: is.tier}
			if was.stock != is.stock {
				e.release.stock, e.claim.stock = was.stock, is.stock
			}
			if was.session != is.session {
				e.release.session, e.claim.session = was.session, is.session
			}
		}
	}
	pa, pb := counts(prev)
	na, nb := counts(next)
	e.amount, e.backers = na-pa, nb-pb
	return e
}

// transitionOpts say how a transition is written.
type transitionOpts struct {
	// fence is the fencing token of the settler's lease; 0 when no lease applies.
	fence int64
	// evenIfSoldOut records the new state even when its reward unit cannot be claimed: Stripe
	// already took the money, and the store must say so (the caller tells an admin).
	evenIfSoldOut bool
}

// errUnitUnavailable marks a transition recorded with evenIfSoldOut whose unit was sold out.
var errUnitUnavailable = errors.New("reward unit unavailable")

// transition writes next over prev and brings the reward units and the campaign's totals in step
// (see the top of this file). A lost compare-and-set is CodeConflict, with nothing changed.
func (s *Service) transition(ctx context.Context, prev, next Pledge, o transitionOpts) (Pledge, error) {
	e := effectsOf(prev, next)
	if e != (effects{}) {
		// On every way out, counters moved or not: a claim given back moved them twice.
		defer s.countersMoved(prev.CampaignID)
	}
	var unitErr error
	claimed := false
	if e.claim.tier != "" {
		switch err := s.claim(ctx, e); {
		case err == nil:
			claimed = true
		case o.evenIfSoldOut && backstitch.ErrorCode(err) == backstitch.CodeSoldOut:
			unitErr = errUnitUnavailable
		default:
			return prev, err
		}
	}
	owes := e.release.tier != "" || e.amount != 0 || e.backers != 0
	next.Pending = prev.Pending
	if owes {
		now := s.now()
		pend := &Pending{Seq: newSeq(), Since: now, At: now, Release: e.release.tier, ReleaseSlots: e.release.slots(), KeepsTier: e.within, Amount: e.amount, Backers: e.backers}
		if prev.Pending != nil {
			pend.Since = prev.Pending.Since
		}
		next.Pending = pend
	}
	s.owe(prev, &next)
	var updated Pledge
	var err error
	if o.fence > 0 {
		updated, err = s.store.FencedReplacePledge(ctx, prev, next, o.fence)
	} else {
		updated, err = s.store.ReplacePledge(ctx, prev, next)
	}
	if err != nil {
		if claimed {
			// The claim was for a write that did not happen. Should this fail too, the unit
			// stays claimed with no pledge behind it: never oversold, found by `repair`.
			err = errors.Join(err, s.release(context.WithoutCancel(ctx), e.within, e.claim))
		}
		return prev, err
	}
	if err := s.injectFault(AfterPledgeWrite); err != nil {
		return updated, err
	}
	// Messages go last, once the counters follow: news that reads them (a campaign's goal
	// reached) counts this pledge.
	done := func(err error) (Pledge, error) {
		s.deliverOwed(ctx, &updated)
		return updated, err
	}
	if !owes {
		return done(unitErr)
	}
	if s.now().Sub(updated.Pending.At) > SettleWithin/2 {
		// This process stalled after the write (a long pause, say): the sweeper may already
		// count the new state, so the counters are left to it rather than moved twice.
		return done(unitErr)
	}
	if err := s.settleCounters(ctx, updated.CampaignID, e); err != nil {
		// The record stays on the pledge: the sweeper heals the counters.
		return done(err)
	}
	if prev.Pending == nil {
		// Cleared only by the transition that wrote it, and only when it inherited nothing:
		// an inherited record may stand for effects another writer never applied.
		if err := s.store.ClearPending(ctx, updated.ID, updated.Pending.Seq); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("pledge_id", updated.ID).Msg("clear settled counters record")
			return done(unitErr)
		}
		updated.Pending = nil
	}
	return done(unitErr)
}

// settleCounters applies what a transition owes: the unit given back, the totals moved.
func (s *Service) settleCounters(ctx context.Context, campaignID string, e effects) error {
	if e.release.tier != "" {
		if err := s.release(ctx, e.within, e.release); err != nil {
			return err
		}
	}
	if e.amount != 0 || e.backers != 0 {
		return s.store.AddToTotals(ctx, campaignID, e.amount, e.backers)
	}
	return nil
}

// claim takes what a transition's pledge newly holds: a unit of its tier with its slots, or,
// moving within the tier, only the slots it moves to.
func (s *Service) claim(ctx context.Context, e effects) error {
	if !e.within {
		return s.store.ClaimTierUnit(ctx, e.claim.tier, s.now(), e.claim.slots()...)
	}
	if slots := e.claim.slots(); len(slots) > 0 {
		return s.store.ClaimTierSlots(ctx, e.claim.tier, s.now(), slots...)
	}
	return nil
}

// release gives back u, or only its slots when the pledge keeps the tier's unit (within).
func (s *Service) release(ctx context.Context, within bool, u unit) error {
	if !within {
		return s.store.ReleaseTierUnit(ctx, u.tier, s.now(), u.slots()...)
	}
	if slots := u.slots(); len(slots) > 0 {
		return s.store.ReleaseTierSlots(ctx, u.tier, s.now(), slots...)
	}
	return nil
}

// countersMoved tells whoever keeps copies of the public view that a campaign's totals or tier
// units may have moved.
func (s *Service) countersMoved(campaignID string) {
	if s.changes != nil {
		s.changes.CampaignChanged(campaignID)
	}
}

func (s *Service) injectFault(at FaultPoint) error {
	if s.fault == nil {
		return nil
	}
	return s.fault(at)
}

func newSeq() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	return hex.EncodeToString(b)
}

// insert stores a new pledge, claiming its reward unit of tier first: prepare (its Stripe objects,
// filled in on p) runs while the unit is held, so a sold-out tier never reaches Stripe. The unit
// is given back if prepare or the insert fails. A process that dies between the claim and the insert leaves a unit claimed with no pledge: never oversold, and
// given back by the counter check of `backstitch repair` once the tier's count has not moved for
// SettleWithin (longer than a request may run, so a creation under way is never undone).
func (s *Service) insert(ctx context.Context, p *Pledge, tier *campaign.Tier, prepare func() error) error {
	u := heldUnit(*p)
	if u.tier != "" {
		// The pledge was validated against tier, perhaps a copy: the claim proves it current.
		if err := s.store.ClaimTierUnitAsRead(ctx, *tier, s.now(), u.slots()...); err != nil {
			return err
		}
		defer s.countersMoved(p.CampaignID)
	}
	err := prepare()
	if err == nil {
		if err = s.injectFault(BeforePledgeInsert); err != nil {
			return err // as a crash would: nothing is given back
		}
		if err = s.store.CreatePledge(ctx, *p); err == nil {
			err = s.injectFault(AfterPledgeInsert)
		}
		if err != nil && backstitch.ErrorCode(err) != backstitch.CodeConflict && s.mayExist(ctx, p.ID) {
			// The insert may have been applied with its reply lost: the pledge holds the unit.
			return err
		}
	}
	if err != nil && u.tier != "" {
		err = errors.Join(err, s.store.ReleaseTierUnit(context.WithoutCancel(ctx), u.tier, s.now(), u.slots()...))
	}
	return err
}

// mayExist reports whether a pledge whose insert failed may be stored after all (the store
// applied it and its reply was lost): only a pledge surely absent gives its unit back. When the
// store cannot tell, the unit stays claimed: never oversold, and given back by `repair` if no
// pledge holds it.
func (s *Service) mayExist(ctx context.Context, id string) bool {
	_, err := s.store.FindPledge(context.WithoutCancel(ctx), id)
	return backstitch.ErrorCode(err) != backstitch.CodeNotFound
}
