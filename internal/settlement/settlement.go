// Package settlement closes campaigns at their deadline: it decides success or failure, charges
// every active all-or-nothing pledge exactly once, voids pledges of failed campaigns, and runs the
// dunning schedule of failed charges. Each campaign is settled under a lease in the store, so with
// any number of instances one settler works on it at a time, and a settler that dies is resumed
// by the next tick from the pledges' recorded state.
package settlement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/lease"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Store is what settling needs from persistence.
type Store interface {
	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)
	ReplaceCampaign(ctx context.Context, prev, next campaign.Campaign) (campaign.Campaign, error)
	ClearCampaignOwed(ctx context.Context, id string, version int64) error
	FindCampaignsToSettle(ctx context.Context, now time.Time) ([]string, error)
	PledgeTotals(ctx context.Context, campaignID string) (amount, backers int64, err error)
	FindPledgesByStatus(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error)
	// FindPledgesForDunning finds failed pledges whose retry is due or whose window closed before
	// failedBefore, and pledges left "charging" since before chargingBefore.
	FindPledgesForDunning(ctx context.Context, now, failedBefore, chargingBefore time.Time, limit int) ([]pledge.Pledge, error)
	FindCampaignPledges(ctx context.Context, campaignID string, fn func(pledge.Pledge) error) error
	// CloseCampaignGate records that a campaign takes no more pledges (idempotent); a new
	// pledge reads it after its insert (pledge.Service.Create).
	CloseCampaignGate(ctx context.Context, campaignID string, at time.Time) error
	lease.Store
}

// Settler settles campaigns.
type Settler struct {
	store   Store
	payouts PayoutStore
	pledges *pledge.Service
	leases  *lease.Keeper
	now     backstitch.Clock
	opts    Options
	changes campaign.ChangeNotifier
	notices Notices
}

// NotifyChanges sets who hears of each settlement step written on a campaign (its outcome, a
// cancellation wound down), so copies of the public view are dropped at once; set before serving.
func (s *Settler) NotifyChanges(n campaign.ChangeNotifier) { s.changes = n }

// Options tune a Settler.
type Options struct {
	// Owner names this instance in leases (host and process, say).
	Owner string
	// LeaseTTL is how long a lease lasts unless renewed; the holder renews it as it works.
	LeaseTTL time.Duration
	// Concurrency bounds the deadline charges in flight for one campaign.
	Concurrency int
	// Backoff is how long to wait before retry n (1, 2, …) of a charge that got a provider
	// error (Stripe 429 or 5xx); MaxProviderRetries bounds those retries within one run.
	Backoff            func(n int) time.Duration
	MaxProviderRetries int
	// Sleep waits (tests pass one that does not).
	Sleep func(ctx context.Context, d time.Duration) error
	// CancelFeesBorneBy is "designer" when Stripe's fees on the charges of a cancelled campaign
	// are owed by its designer (recorded on the cancellation), anything else for the platform.
	CancelFeesBorneBy string
	// PlatformFeeBPS is the platform's fee in basis points of what each charge keeps.
	PlatformFeeBPS int64
}

// New builds a Settler.
func New(store interface {
	Store
	PayoutStore
}, pledges *pledge.Service, now backstitch.Clock, o Options) *Settler {
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Minute
	}
	if o.Backoff == nil {
		o.Backoff = func(n int) time.Duration {
			return min(time.Duration(1<<min(n, 6))*250*time.Millisecond, 15*time.Second)
		}
	}
	if o.MaxProviderRetries == 0 {
		o.MaxProviderRetries = 5
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	return &Settler{store: store, payouts: store, pledges: pledges, leases: lease.NewKeeper(store, o.Owner, o.LeaseTTL, now), now: now, opts: o}
}

// Notices says what a settlement step owes the designer and the backers, and writes it to the
// outbox (the notify package). As for every campaign step, the notices are recorded on the
// campaign by the step's own write and handed over after it; what a dead settler left is handed
// over by the sweeper (campaign.Service.DeliverOwed).
type Notices interface {
	SettlementNews(prev, next campaign.Campaign) []backstitch.Notice
	DeliverCampaign(ctx context.Context, c campaign.Campaign, n backstitch.Notice) error
}

// NotifyPeople sets who tells designers and backers about settlement; set before serving.
func (s *Settler) NotifyPeople(n Notices) { s.notices = n }

// replaceCampaign writes a settlement step on the campaign document, with the messages it owes,
// tells who listens, and hands the messages to the outbox.
func (s *Settler) replaceCampaign(ctx context.Context, prev, next campaign.Campaign) (campaign.Campaign, error) {
	if s.notices != nil {
		next.Owe(prev, s.notices.SettlementNews(prev, next), s.now())
	}
	c, err := s.store.ReplaceCampaign(ctx, prev, next)
	if err != nil {
		return c, err
	}
	if s.changes != nil {
		s.changes.CampaignChanged(prev.ID)
	}
	if s.notices != nil && len(c.Owed) > 0 {
		s.deliverOwed(ctx, &c)
	}
	return c, nil
}

// deliverOwed hands c's owed notices to the outbox and clears them; a failure is logged (the step
// is stored) and the sweeper delivers them later.
func (s *Settler) deliverOwed(ctx context.Context, c *campaign.Campaign) {
	for _, n := range c.Owed {
		if err := s.notices.DeliverCampaign(ctx, *c, n); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("campaign_id", c.ID).Str("notice", n.ID).Msg("message owed for a settlement step not written to the outbox; the sweeper retries")
			return
		}
	}
	if err := s.store.ClearCampaignOwed(ctx, c.ID, c.Version); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("campaign_id", c.ID).Msg("clear delivered notices")
		return
	}
	// Cleared on c too, so a next step from c does not carry them on and hand them over again.
	c.Owed, c.OwedSince = nil, nil
}

// ErrBusy means another settler holds the campaign's lease; the next tick will look again.
var ErrBusy = errors.New("settlement: another instance is settling this campaign")

// Tick settles every campaign that is due and runs the dunning schedule. The scheduler calls it
// every BACKSTITCH_SETTLE_INTERVAL; it is safe to call from every instance at once.
func (s *Settler) Tick(ctx context.Context) error {
	ids, err := s.store.FindCampaignsToSettle(ctx, s.now())
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := s.Settle(ctx, id); err != nil && !errors.Is(err, ErrBusy) {
			errs = append(errs, err)
		}
	}
	if err := s.Dunning(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.PayOut(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Settle settles one campaign, or resumes its settlement. It is idempotent: settling a settled
// campaign does nothing, and a half-done one is finished. A campaign before its deadline is
// not_due, so that nothing looks settled that was not.
func (s *Settler) Settle(ctx context.Context, campaignID string) error {
	return s.withLease(ctx, campaignID, func(w *work) error { return s.settle(ctx, w, campaignID) })
}

// withLease runs fn holding the campaign's settlement lease, or answers ErrBusy.
func (s *Settler) withLease(ctx context.Context, campaignID string, fn func(w *work) error) error {
	held := false
	err := s.leases.Hold(ctx, "settle:"+campaignID, func(h *lease.Held) error {
		held = true
		return fn(&work{Settler: s, Held: h})
	})
	if !held && backstitch.ErrorCode(err) == backstitch.CodeConflict {
		return ErrBusy
	}
	return err
}

func (s *Settler) settle(ctx context.Context, w *work, campaignID string) error {
	log := zerolog.Ctx(ctx).With().Str("campaign_id", campaignID).Int64("fence", w.Token()).Logger()
	ctx = log.WithContext(ctx)
	camp, err := s.store.FindCampaign(ctx, campaignID)
	if err != nil {
		return err
	}
	switch camp.Status {
	case campaign.StatusDraft, campaign.StatusInReview, campaign.StatusApproved:
		return backstitch.Errorf(backstitch.CodeNotDue, "The campaign is %s: it settles after it has run until its deadline.", camp.Status)
	}
	if camp.Status == campaign.StatusLive && s.now().Before(camp.Deadline) {
		return backstitch.Errorf(backstitch.CodeNotDue, "The campaign runs until %s; it settles after its deadline.",
			camp.Deadline.UTC().Format(time.RFC3339))
	}
	// Every sweep of the campaign's pledges below comes after its gate is closed, and a new
	// pledge reads the gate after its insert: the sweep sees the pledge, or the pledge sees the
	// gate and voids itself. Closed on every run, before the decision too, so a run that died
	// after deciding leaves nothing open while the next tick sweeps what it left.
	if err := s.store.CloseCampaignGate(ctx, camp.ID, s.now()); err != nil {
		return err
	}
	if camp.Status == campaign.StatusLive {
		amount, backers, err := s.store.PledgeTotals(ctx, camp.ID)
		if err != nil {
			return err
		}
		next, err := camp.Decide(amount, backers, s.now())
		if err != nil {
			return err
		}
		if camp, err = s.replaceCampaign(ctx, camp, next); err != nil {
			return err
		}
		log.Info().Str("outcome", string(camp.Status)).Int64("pledged", amount).Int64("goal", camp.Goal.Amount).Msg("campaign decided")
	}
	switch {
	case camp.Status == campaign.StatusCancelled:
		return s.windDown(ctx, w, camp)
	case camp.Status == campaign.StatusFailed:
		// Nobody is charged: every pledge that could have been becomes void.
		return s.sweep(ctx, w, camp, []pledge.Status{pledge.StatusActive, pledge.StatusPending}, "campaign missed its goal")
	case camp.Status == campaign.StatusSucceeded && camp.FundingModel == campaign.Flexible:
		// Flexible pledges were charged when made; the unfinished ones end here.
		return s.sweep(ctx, w, camp, []pledge.Status{pledge.StatusPending}, "no payment before the deadline")
	case camp.Status == campaign.StatusSucceeded:
		return s.charge(ctx, w, camp)
	}
	return nil
}

// sweep voids the decided campaign's pledges in the given states (their saved cards detached),
// then marks the campaign swept. Until it is, FindCampaignsToSettle lists it again: a settler
// that died or met a store or Stripe failure after the decision is resumed by the next tick,
// which voids what is left, and a swept campaign is never swept again.
func (s *Settler) sweep(ctx context.Context, w *work, camp campaign.Campaign, statuses []pledge.Status, reason string) error {
	if camp.Settlement != nil && camp.Settlement.SweptAt != nil {
		return nil
	}
	if err := w.each(ctx, camp.ID, statuses, func(ctx context.Context, p pledge.Pledge) error {
		_, err := s.pledges.Void(ctx, p, w.Token(), reason)
		return err
	}); err != nil {
		return err
	}
	done, err := s.finish(ctx, camp.ID, statuses, func(next *campaign.Campaign) {
		var swept campaign.Settlement
		if next.Settlement != nil {
			swept = *next.Settlement
		}
		now := s.now()
		swept.SweptAt = &now
		next.Settlement = &swept
	})
	if done {
		zerolog.Ctx(ctx).Info().Msg("pledges of the decided campaign swept")
	}
	return err
}

// finish records that the work over a campaign's pledges in statuses is done, once none is left
// in them; with one left (its intent still processing at Stripe, provider trouble, a racing
// write) it records nothing and the next tick resumes. mark sets the record on the campaign as
// read now, which the campaign's compare-and-set then writes; done says it was written.
func (s *Settler) finish(ctx context.Context, campaignID string, statuses []pledge.Status, mark func(next *campaign.Campaign)) (done bool, err error) {
	left, err := s.store.FindPledgesByStatus(ctx, campaignID, statuses, "", 1)
	if err != nil || len(left) > 0 {
		return false, err
	}
	camp, err := s.store.FindCampaign(ctx, campaignID)
	if err != nil {
		return false, err
	}
	next := camp
	mark(&next)
	if _, err = s.replaceCampaign(ctx, camp, next); err != nil {
		return false, err
	}
	return true, nil
}

// windDown carries out the cancellation of a live campaign: pledges with a saved card (or none
// yet) become void, their cards detached; charged pledges are refunded in full; nothing is ever
// transferred (payouts only consider succeeded campaigns). Each step is idempotent and the work
// is done pledge by pledge under the campaign's lease, so a settler that dies mid-way is resumed
// by the next tick. A disputed charge is left to its dispute.
func (s *Settler) windDown(ctx context.Context, w *work, camp campaign.Campaign) error {
	if camp.Cancellation == nil || !camp.Cancellation.WindingDown {
		return nil
	}
	err := w.each(ctx, camp.ID, []pledge.Status{pledge.StatusPending, pledge.StatusActive}, func(ctx context.Context, p pledge.Pledge) error {
		_, err := s.pledges.Void(ctx, p, w.Token(), "campaign cancelled")
		return err
	})
	if err != nil {
		return err
	}
	paid := []pledge.Status{pledge.StatusCollected, pledge.StatusPartiallyRefunded}
	if err := w.each(ctx, camp.ID, paid, func(ctx context.Context, p pledge.Pledge) error {
		_, err := s.pledges.RefundForCancellation(ctx, p)
		return err
	}); err != nil {
		return err
	}
	var refunded, fees int64
	if err := s.store.FindCampaignPledges(ctx, camp.ID, func(p pledge.Pledge) error {
		if p.Status.Charged() {
			refunded += p.AmountRefunded
			fees += p.StripeFee
		}
		return nil
	}); err != nil {
		return err
	}
	done, err := s.finish(ctx, camp.ID, append(paid, pledge.StatusPending, pledge.StatusActive), func(next *campaign.Campaign) {
		wound := *next.Cancellation
		now := s.now()
		wound.WindingDown, wound.DoneAt, wound.Refunded = false, &now, refunded
		if s.opts.CancelFeesBorneBy == "designer" {
			wound.StripeFeesOwed = fees
		}
		next.Cancellation = &wound
	})
	if done {
		zerolog.Ctx(ctx).Info().Int64("refunded", refunded).Msg("cancelled campaign wound down")
	}
	return err
}

// charge charges every active pledge (and resumes any left "charging"), then marks the campaign's
// deadline charges done.
func (s *Settler) charge(ctx context.Context, w *work, camp campaign.Campaign) error {
	if camp.Settlement != nil && camp.Settlement.ChargedAt != nil {
		return nil
	}
	err := w.each(ctx, camp.ID, []pledge.Status{pledge.StatusPending}, func(ctx context.Context, p pledge.Pledge) error {
		_, err := s.pledges.VoidUncarded(ctx, p, w.Token())
		return err
	})
	if err != nil {
		return err
	}
	claim := func(ctx context.Context, ps []pledge.Pledge) ([]pledge.Pledge, error) {
		return s.pledges.ClaimCharges(ctx, ps, w.Token())
	}
	if err := w.eachClaimed(ctx, camp.ID, []pledge.Status{pledge.StatusActive, pledge.StatusCharging}, claim, func(ctx context.Context, p pledge.Pledge) error {
		return s.chargeOne(ctx, w, p)
	}); err != nil {
		return err
	}
	done, err := s.finish(ctx, camp.ID, []pledge.Status{pledge.StatusActive, pledge.StatusCharging}, func(next *campaign.Campaign) {
		settled := *next.Settlement
		now := s.now()
		settled.ChargedAt = &now
		next.Settlement = &settled
	})
	if done {
		zerolog.Ctx(ctx).Info().Msg("deadline charges done")
	}
	return err
}

// chargeOne charges one pledge, backing off on provider errors (Stripe 429/5xx, timeouts). After
// MaxProviderRetries the pledge stays "charging" and the next tick resumes it with the same key.
func (s *Settler) chargeOne(ctx context.Context, w *work, p pledge.Pledge) error {
	for n := 1; ; n++ {
		next, err := s.pledges.ChargeOffSession(ctx, p, w.Token())
		if err == nil {
			return nil
		}
		switch backstitch.ErrorCode(err) {
		case backstitch.CodePaymentProvider:
			if n > s.opts.MaxProviderRetries {
				zerolog.Ctx(ctx).Warn().Err(err).Str("pledge_id", p.ID).Msg("charge postponed to the next tick")
				return nil
			}
			if err := s.opts.Sleep(ctx, s.opts.Backoff(n)); err != nil {
				return err
			}
			p = next
		case backstitch.CodeConflict:
			// Another writer got there first: a webhook recording Stripe's view (then look again),
			// or a newer settler (then its fence refuses us for good).
			if n > 3 {
				return nil
			}
			if p, err = s.pledges.Reload(ctx, p.ID); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// Dunning retries failed deadline charges on schedule and drops those whose window closed. It
// also finishes charges left "charging" (a retry or a fix-payment charge that met a Stripe outage
// past MaxProviderRetries, or whose process died): once a campaign's deadline charges are done
// nothing else would look at them again. Those resume with their own attempt's key, so Stripe
// answers with a charge it already made rather than making another.
func (s *Settler) Dunning(ctx context.Context) error {
	now := s.now()
	d := s.pledges.Dunning()
	due, err := s.store.FindPledgesForDunning(ctx, now, now.Add(-d.Window), now.Add(-resumeChargingAfter), 200)
	if err != nil {
		return err
	}
	for _, p := range due {
		if p.Status == pledge.StatusPaymentFailed && p.FirstFailedAt != nil && !now.Before(p.FirstFailedAt.Add(d.Window)) {
			if _, err := s.pledges.Drop(ctx, p); err != nil && backstitch.ErrorCode(err) != backstitch.CodeConflict {
				return err
			}
			continue
		}
		err := s.withLease(ctx, p.CampaignID, func(w *work) error { return s.chargeOne(ctx, w, p) })
		if err != nil && !errors.Is(err, ErrBusy) {
			return err
		}
	}
	return nil
}

// resumeChargingAfter is how long a pledge stays "charging" before dunning takes it up: longer
// than a charge in flight takes (the settler's backoff included), so a running charge is left
// alone; its lease would keep a second settler out in any case.
const resumeChargingAfter = 5 * time.Minute

// work is one settler's hold on a campaign: its lease, renewed as pages of pledges go by, and the
// fencing token every pledge write carries.
type work struct {
	*Settler
	*lease.Held
}

// pageSize is how many pledges each page read brings. On the embedded store every page read
// scans and parses the whole pledges collection while charges wait for the one connection, so
// settling n pledges costs n/pageSize scans: 200 made it 50 scans of 10,000 pledges. A page
// is a few MB at most, and is read while the one before it is still being worked on.
const pageSize = 1000

// each runs fn on every pledge of the campaign in the given states, with at most
// opts.Concurrency calls in flight. Pages are read ahead and fed to the workers without waiting
// for a page to drain, so Stripe calls and store writes overlap across page boundaries (a drain
// plus a page read at each boundary idled Stripe's paced slots).
//
// The lease is renewed at each page read and every LeaseTTL/3 meanwhile (a page of slow Stripe
// calls can outlast the lease). A renewal that fails means another settler may hold the
// campaign: the context handed to fn is cancelled at once, so workers still in flight write
// nothing more, not even the outcome of a Stripe call that was under way (the pledge stays
// "charging" and its next holder repeats the call with the same idempotency key). Pledge writes
// are fenced as well, but a fence only refuses a writer once the new holder has written that
// very pledge.
func (w *work) each(ctx context.Context, campaignID string, statuses []pledge.Status, fn func(context.Context, pledge.Pledge) error) error {
	return w.eachClaimed(ctx, campaignID, statuses, nil, fn)
}

// claimBatch is how many pledges eachClaimed hands its claim at once: the deadline charges are
// moved to "charging" by one store command per batch instead of one write per pledge. A claimed
// pledge waits for a worker at most two batches behind, far within the key lifetime
// ChargeOffSession checks.
const claimBatch = 25

// eachClaimed is each with the pledges of every page passed through claim, claimBatch at a time,
// before the workers get them: fn receives what claim answers for each.
func (w *work) eachClaimed(ctx context.Context, campaignID string, statuses []pledge.Status, claim func(context.Context, []pledge.Pledge) ([]pledge.Pledge, error), fn func(context.Context, pledge.Pledge) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lost := func(err error) { cancel(fmt.Errorf("settlement lease not renewed: %w", err)) }

	renewals := time.NewTicker(max(w.opts.LeaseTTL/3, time.Millisecond))
	renewing := make(chan struct{})
	defer func() {
		cancel(nil)
		renewals.Stop()
		<-renewing // no renewal outlives the work (the lease is released right after)
	}()
	go func() {
		defer close(renewing)
		for {
			select {
			case <-ctx.Done():
				return
			case <-renewals.C:
				if err := w.Renew(ctx); err != nil && ctx.Err() == nil {
					lost(err)
					return
				}
			}
		}
	}()

	// Pages are read a page ahead, in batches; each batch is claimed only when the workers are
	// about to need it, so claims stay short commands among the charges' own writes on the one
	// connection of the embedded store (claiming a whole page at once held it for seconds,
	// and the paced charges waited behind).
	batches := make(chan []pledge.Pledge, pageSize/claimBatch)
	pledges := make(chan pledge.Pledge, claimBatch)
	var failed atomic.Bool
	var readErr, claimErr error
	go func() {
		defer close(batches)
		after := ""
		for {
			page, err := w.store.FindPledgesByStatus(ctx, campaignID, statuses, after, pageSize)
			if err != nil {
				readErr = err
				return
			}
			if len(page) == 0 {
				return
			}
			if after != "" {
				// Losing the lease stops the work: another settler took over.
				if err := w.Renew(ctx); err != nil {
					readErr = err
					lost(err)
					return
				}
			}
			for batch := range slices.Chunk(page, claimBatch) {
				if failed.Load() {
					return
				}
				select {
				case batches <- batch:
				case <-ctx.Done():
					return
				}
			}
			if len(page) < pageSize {
				return
			}
			after = page[len(page)-1].ID
		}
	}()
	go func() {
		defer close(pledges)
		for batch := range batches {
			if failed.Load() || ctx.Err() != nil {
				continue // drain, so the reader ends
			}
			if claim != nil {
				var err error
				if batch, err = claim(ctx, batch); err != nil {
					// What was claimed stays "charging": the next holder resumes it.
					claimErr = err
					failed.Store(true)
					continue
				}
			}
			for _, p := range batch {
				select {
				case pledges <- p:
				case <-ctx.Done():
				}
			}
		}
	}()

	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range w.opts.Concurrency {
		wg.Go(func() {
			for p := range pledges {
				if ctx.Err() != nil || failed.Load() {
					// Drain: the lease is lost, the caller gave up, or a pledge failed (a store
					// outage, say: the rest would fail alike; the next tick resumes).
					continue
				}
				if err := fn(ctx, p); err != nil && backstitch.ErrorCode(err) != backstitch.CodeConflict {
					failed.Store(true)
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Whatever the workers met after the lease was lost (cancelled writes) says less than
		// why they stopped.
		return context.Cause(ctx)
	}
	return errors.Join(append(errs, readErr, claimErr)...)
}

// ResumeCharge finishes the deadline charge of one pledge left "charging" (its settler died, or
// Stripe never answered), under the campaign's lease: the same attempt and idempotency key, so
// Stripe answers with the charge it already made, if any, rather than making another.
func (s *Settler) ResumeCharge(ctx context.Context, pledgeID string) (pledge.Pledge, error) {
	p, err := s.pledges.Reload(ctx, pledgeID)
	if err != nil {
		return p, err
	}
	if p.Status != pledge.StatusCharging {
		return p, backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s, not charging.", p.Status)
	}
	err = s.withLease(ctx, p.CampaignID, func(w *work) error { return s.chargeOne(ctx, w, p) })
	if errors.Is(err, ErrBusy) {
		return p, backstitch.Errorf(backstitch.CodeConflict, "The campaign is being settled right now; try again in a minute.")
	}
	if err != nil {
		return p, err
	}
	return s.pledges.Reload(ctx, pledgeID)
}
