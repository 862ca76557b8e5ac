package pledge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
)

// Store is what pledging needs from persistence. Pledges are written whole with compare-and-set
// (ReplacePledge, or FencedReplacePledge for a settler holding a lease); the counters that follow
// them (tier units, campaign totals) are moved only by transition (transition.go).
type Store interface {
	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)
	FindCampaignBySlug(ctx context.Context, slug string) (campaign.Campaign, error)
	FindTier(ctx context.Context, campaignID, tierID string) (campaign.Tier, error)
	FindTiers(ctx context.Context, campaignID string) ([]campaign.Tier, error)
	// ClaimTierUnit takes a unit of a tier and a place in each slot (a stocked combination, a
	// session) in one conditional update; ReleaseTierUnit gives them back.
	ClaimTierUnit(ctx context.Context, tierID string, now time.Time, slots ...string) error
	// ClaimTierUnitAsRead is ClaimTierUnit for a new pledge validated against t, a copy of the
	// tier: the unit is taken only if the tier is still as t was read (ErrTierChanged if not).
	ClaimTierUnitAsRead(ctx context.Context, t campaign.Tier, now time.Time, slots ...string) error
	// CampaignGateClosed reports whether the settler closed the campaign to pledges (it does so
	// before it sweeps them): read after a new pledge is inserted.
	CampaignGateClosed(ctx context.Context, campaignID string) (bool, error)
	ReleaseTierUnit(ctx context.Context, tierID string, now time.Time, slots ...string) error
	// ClaimTierSlots and ReleaseTierSlots move only the slots, for a pledge that keeps its
	// tier's unit while it moves to another date or combination.
	ClaimTierSlots(ctx context.Context, tierID string, now time.Time, slots ...string) error
	ReleaseTierSlots(ctx context.Context, tierID string, now time.Time, slots ...string) error
	AddToTotals(ctx context.Context, campaignID string, amount, backers int64) error
	// SetTotals writes a campaign's totals if its counters are still at revision rev.
	SetTotals(ctx context.Context, campaignID string, rev, pledged, backers int64) (bool, error)
	// SetTierClaimed writes a tier's claimed units (and its stocked combinations') if its
	// counters are still as t was read.
	SetTierClaimed(ctx context.Context, t campaign.Tier, claimed int64, stockClaimed map[string]int64) (bool, error)
	CreatePledge(ctx context.Context, p Pledge) error
	FindPledge(ctx context.Context, id string) (Pledge, error)
	FindPledgeByIntent(ctx context.Context, intentID string) (Pledge, error)
	FindCampaignPledges(ctx context.Context, campaignID string, fn func(Pledge) error) error
	ReplacePledge(ctx context.Context, prev, next Pledge) (Pledge, error)
	FencedReplacePledge(ctx context.Context, prev, next Pledge, token int64) (Pledge, error)
	// FencedReplacePledges is FencedReplacePledge for a batch in one command: each pledge its own
	// compare-and-set; it answers the pledges it wrote.
	FencedReplacePledges(ctx context.Context, prevs, nexts []Pledge, token int64) ([]Pledge, error)
	// ClearPending removes a pledge's Pending record if it is still the one with this seq.
	ClearPending(ctx context.Context, pledgeID, seq string) error
	CountConfirmAttempt(ctx context.Context, id string) (Pledge, error)
	// ClearOwed removes a pledge's owed notices, and the seal of its manage token (delivered
	// with its confirmation), if it is still at version (a later change carries them on and
	// delivers them itself). It leaves the version alone.
	ClearOwed(ctx context.Context, pledgeID string, version int64) error
	// FindManageKey finds a manage key by its hash (recover.go).
	FindManageKey(ctx context.Context, hash string) (ManageKey, error)
	// FindPledgesToSweep lists pending pledges whose hold ran out at now, and pledges with a
	// Pending record or owed notices written at or before staleBefore, in one query.
	FindPledgesToSweep(ctx context.Context, now, staleBefore time.Time, limit int) ([]Pledge, error)
}

// Service runs pledges: creation with the reward unit claimed atomically, confirmation with
// Stripe, changes, cancellation, the webhook path, and expiry of holds.
type Service struct {
	store   Store
	gateway Gateway
	now     backstitch.Clock
	hold    time.Duration
	dunning Dunning
	fault   func(FaultPoint) error
	changes campaign.ChangeNotifier
	notices Notices
	links   *fixLinks
	seals   *secretKey
	copies  copies
}

// ErrTierChanged says a tier was written (by its designer) since the copy a pledge was
// validated against: the pledge is validated again against the tier as it is.
var ErrTierChanged = errors.New("the tier changed since it was read")

// errTierChangedWhilePledging answers a pledge whose tier was written again between its fresh
// read and its claim (ErrTierChanged twice): no unit was claimed, and a retry reads it anew.
var errTierChangedWhilePledging = backstitch.Errorf(backstitch.CodeConflict,
	"The reward changed while the pledge was made; send the pledge again.")

// errClosedWhilePledging answers a pledge that found its campaign's gate closed after its insert
// (the campaign was decided or cancelled meanwhile): the pledge was voided at once.
var errClosedWhilePledging = backstitch.Errorf(backstitch.CodeCampaignNotLive,
	"This campaign closed while the pledge was made: nothing will be charged.")

// reasonClosedWhilePledging is the reason in the history of a pledge voided at its creation.
const reasonClosedWhilePledging = "campaign closed while pledging"

// NewService builds a Service. hold is how long a pledge keeps its reward unit without a payment
// method; dunning is the recovery schedule of failed deadline charges.
func NewService(store Store, gateway Gateway, now backstitch.Clock, hold time.Duration, dunning Dunning) *Service {
	return &Service{store: store, gateway: gateway, now: now, hold: hold, dunning: dunning}
}

// NotifyChanges sets who hears that a campaign's public totals or tier units moved; set before
// serving.
func (s *Service) NotifyChanges(n campaign.ChangeNotifier) { s.changes = n }

// Dunning is the configured recovery schedule.
func (s *Service) Dunning() Dunning { return s.dunning }

// Origin is the request that creates a pledge, as its idempotency key scopes it.
type Origin struct {
	// Scope is the idempotency scope: caller, route, campaign and the client's key.
	Scope string
	// RequestHash is the hash of the request's body.
	RequestHash string
	// Checkout says the backer pays on Stripe Checkout (the pledge form), which makes its own
	// intent: the pledge gets only what Checkout needs first (an all-or-nothing pledge's customer).
	Checkout bool
	// Campaign is the campaign the request names when the request has just read it (resolving
	// its slug into the idempotency scope), so that creating a pledge does not read it again.
	Campaign *campaign.Campaign
	// Sealer seals the manage token into the pledge under the client's Idempotency-Key, and
	// opens it for a retry of the same request (nil: the pledge cannot be replayed).
	Sealer Sealer
	// ReplayFor is how long after its creation a retry of the request gets the pledge back:
	// the life of an idempotency key. After it, any request with the key is refused, so an old
	// key never hands out a token for a pledge.
	ReplayFor time.Duration
	// Admit, if set, is asked whether the caller may make a new pledge (the rate limit) once
	// the lookup found none: a retry answered from its pledge makes nothing and is not counted.
	Admit func() error
}

// Sealer seals and opens a secret under the client's Idempotency-Key.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// IDFor derives a pledge id from the request's idempotency scope (caller, route, campaign and
// the client's key): a retried request (after a timeout or a crash) lands on the same pledge and
// so repeats the same Stripe requests, whose idempotency keys are derived from the pledge id, and
// two runs of one key at once insert one pledge, the unique _id refusing the second. The pledge is
// the key's record: no other is written for it.
func IDFor(o Origin) string {
	sum := sha256.Sum256([]byte("pledge\x00" + o.Scope))
	return "plg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// Created is a new pledge with the one-time manage token.
type Created struct {
	Pledge      Pledge
	ManageToken string
	// Replayed says the pledge was made by an earlier run of the same request.
	Replayed bool
}

// Create makes a pledge on the campaign with this id or slug. The pledge is its request's
// idempotency record: it is looked up by the id its key derives first (one read by _id), so a
// retry gets the pledge its earlier run made (replay) and the same key with another body is
// refused, before a unit is claimed or Stripe is asked anything with that pledge's keys. Then
// the pledge is written once, last, with everything its answer and its confirmation need: its
// reward unit is claimed first, then its Stripe objects are made (with idempotency keys derived
// from the pledge id, so a retry after a crash or a Stripe failure gets the same objects back),
// and only then is the pledge inserted, its manage token sealed in it for the confirmation sent
// when it is confirmed (confirmation.go). Anything that fails before the insert gives the unit
// back, and the client's retry runs the request again. Two runs of one key at once both get past
// the read: the unique _id takes one insert, and the other, its own insert refused, gives its
// unit back and answers with the pledge that won, so no one is ever handed a second token for
// it, and the confirmation links the token every answer showed.
func (s *Service) Create(ctx context.Context, o Origin, campaignRef string, r Request) (Created, error) {
	id := IDFor(o)
	if created, found, err := s.replay(ctx, o); err != nil || found {
		return created, err
	}
	if o.Admit != nil {
		if err := o.Admit(); err != nil {
			return Created{}, err
		}
	}
	camp, err := s.requestCampaign(ctx, o, campaignRef)
	if err != nil {
		return Created{}, err
	}
	// The campaign and the tier may be copies up to CopyTTL old (copies.go): a refusal on the
	// campaign's copy is checked against the campaign as it is, and a tier written since its
	// copy fails the claim (ErrTierChanged) and the pledge is validated again on the tier as it
	// is. The campaign's status is proven by its gate, read after the insert.
	campaignRead, tierRead := false, false
	for {
		var tier *campaign.Tier
		if r.TierID != "" {
			t, err := s.tierCopy(ctx, camp.ID, r.TierID, tierRead)
			if err != nil {
				return Created{}, err
			}
			tier = &t
		}
		p, token, err := New(id, r, camp, tier, s.now(), s.hold)
		switch {
		case backstitch.ErrorCode(err) == backstitch.CodeCampaignNotLive && !campaignRead:
			if camp, err = s.findCampaign(ctx, camp.ID); err != nil {
				return Created{}, err
			}
			campaignRead = true
			continue
		case err != nil && tier != nil && !tierRead:
			// A refusal on a tier's copy (a size or a date added since) stands only once the
			// tier as it is refuses too.
			tierRead = true
			continue
		}
		if err != nil {
			return Created{}, err
		}
		p.RequestHash = o.RequestHash
		if o.Sealer != nil {
			if p.ReplayToken, err = o.Sealer.Seal([]byte(token)); err != nil {
				return Created{}, err
			}
		}
		if err := s.sealManageToken(ctx, &p, token); err != nil {
			return Created{}, err
		}
		err = s.insert(ctx, &p, tier, func() error {
			o, err := s.prepareStripe(ctx, p, o.Checkout)
			p.CustomerID, p.SetupIntentID, p.PaymentIntentID, p.ClientSecret = o.CustomerID, o.SetupIntentID, o.PaymentIntentID, o.ClientSecret
			return err
		})
		if errors.Is(err, ErrTierChanged) {
			if !tierRead {
				tierRead = true
				continue
			}
			// Edited again between the fresh read and the claim: the designer's write raced this
			// request, which the client may simply send again.
			return Created{}, errTierChangedWhilePledging
		}
		if backstitch.ErrorCode(err) == backstitch.CodeConflict {
			// The same request running twice at once (a double click, a client's early retry): the
			// other run's pledge won the _id, and its answer is this request's.
			created, found, rerr := s.replay(ctx, o)
			switch {
			case rerr != nil:
				return Created{}, rerr
			case !found:
				return Created{}, err
			}
			return created, nil
		}
		if err != nil {
			return Created{}, err
		}
		// The pledge as the gate left it: pending only while the gate is open, so a closed
		// campaign's client secret is never shown (the API shows it for pending pledges only).
		if p, err = s.passGate(ctx, p); err != nil {
			return Created{}, err
		}
		zerolog.Ctx(ctx).Info().Str("pledge_id", p.ID).Str("campaign_id", camp.ID).Str("backer", account.MaskEmail(p.Backer.Email)).Msg("pledge created")
		return Created{Pledge: p, ManageToken: token}, nil
	}
}

// passGate reads the gate of a pending pledge's campaign, after the pledge is stored. The settler
// closes the gate before each sweep of the campaign's pledges, so either its sweep finds this
// pledge, or this read finds the gate closed: then the pledge is voided here (its intent
// cancelled, its unit given back) and the request refused, since no sweep may come for it. A
// pledge whose intent turns out to have succeeded (a retry of a request that answered before
// the gate closed, whose backer paid), or that another writer moved on from pending while the
// void was written (a card saved or a payment recorded through the answer's client secret, the
// backer's cancel, its hold's expiry), is left as it is now: the settler's sweep sees it, and
// voiding it would end a pledge the settler is about to charge. It answers the pledge as it is.
func (s *Service) passGate(ctx context.Context, p Pledge) (Pledge, error) {
	closed, err := s.store.CampaignGateClosed(ctx, p.CampaignID)
	if err != nil || !closed {
		return p, err
	}
	for attempt := 0; ; attempt++ {
		updated, err := s.void(ctx, p, 0, "system", reasonClosedWhilePledging, true)
		switch {
		case backstitch.ErrorCode(err) == backstitch.CodeConflict && attempt < 4:
			if p, err = s.store.FindPledge(ctx, p.ID); err != nil {
				return p, err
			}
			if p.Status != StatusPending && p.Status != StatusVoid {
				return p, nil
			}
			continue
		case err != nil:
			return updated, err
		case updated.Status == StatusVoid || updated.Status == StatusPending:
			zerolog.Ctx(ctx).Warn().Str("pledge_id", p.ID).Str("campaign_id", p.CampaignID).Str("status", string(updated.Status)).Msg("campaign closed while pledging: pledge refused")
			return updated, errClosedWhilePledging
		}
		return updated, nil
	}
}

// replay is the answer of the request o to a retry of it: the pledge it made, with its manage
// token opened with the client's key. found is false when the request made no pledge (yet).
// The same key with another body is refused (idempotency_key_reused), and so is a pledge older
// than o.ReplayFor or one whose token cannot be opened: its key has expired, and the pledge
// answered once.
func (s *Service) replay(ctx context.Context, o Origin) (_ Created, found bool, _ error) {
	p, err := s.store.FindPledge(ctx, IDFor(o))
	switch {
	case backstitch.ErrorCode(err) == backstitch.CodeNotFound:
		return Created{}, false, nil
	case err != nil:
		return Created{}, false, err
	case p.RequestHash != o.RequestHash && s.now().Before(p.CreatedAt.Add(o.ReplayFor)):
		return Created{}, true, errKeyReused
	case o.Sealer == nil || len(p.ReplayToken) == 0 || p.RequestHash != o.RequestHash || !s.now().Before(p.CreatedAt.Add(o.ReplayFor)):
		return Created{}, true, errAnswered
	}
	token, err := o.Sealer.Open(p.ReplayToken)
	if err != nil {
		return Created{}, true, errAnswered
	}
	switch {
	case p.Status == StatusVoid && len(p.History) > 0 && p.History[len(p.History)-1].Reason == reasonClosedWhilePledging:
		return Created{}, true, errClosedWhilePledging
	case p.Status == StatusPending:
		// Its first run may have stopped before or while passing the gate (a crash, a failed
		// void): the client secret is never handed out for a closed campaign.
		if p, err = s.passGate(ctx, p); err != nil {
			return Created{}, true, err
		}
	}
	return Created{Pledge: p, ManageToken: string(token), Replayed: true}, true, nil
}

// errKeyReused refuses a request whose key made a pledge for another request.
var errKeyReused = backstitch.Errorf(backstitch.CodeIdempotencyReused,
	"This Idempotency-Key was used for a different request. Use a new key for a new request.")

// errAnswered refuses a request whose pledge exists and can no longer be replayed: it answered
// once, with its manage token.
var errAnswered = backstitch.Errorf(backstitch.CodeIdempotencyReused,
	"This Idempotency-Key already made a pledge. Use a new key for a new pledge.")

// prepareStripe creates what the backer's checkout needs: all-or-nothing saves a card
// (customer + SetupIntent, nothing charged); flexible gets a PaymentIntent charged when
// confirmed. For checkout, Stripe Checkout makes the intent (see StartCheckout), so only the
// customer is made here. Nothing is recorded yet: a retry repeats every request with the same
// idempotency keys and Stripe returns the same objects.
func (s *Service) prepareStripe(ctx context.Context, p Pledge, checkout bool) (StripeObjects, error) {
	switch {
	case checkout && p.FundingModel == campaign.AllOrNothing:
		cus, err := s.gateway.CreateCustomer(ctx, CustomerRequest{Email: p.Backer.Email, Name: p.Backer.Name,
			PledgeID: p.ID, CampaignID: p.CampaignID, IdempotencyKey: customerKey(p.ID)})
		return StripeObjects{CustomerID: cus}, err
	case checkout:
		// A flexible pledge's PaymentIntent is made by Checkout when the backer pays.
		return StripeObjects{}, nil
	case p.FundingModel == campaign.AllOrNothing:
		cus, err := s.gateway.CreateCustomer(ctx, CustomerRequest{Email: p.Backer.Email, Name: p.Backer.Name,
			PledgeID: p.ID, CampaignID: p.CampaignID, IdempotencyKey: customerKey(p.ID)})
		if err != nil {
			return StripeObjects{}, err
		}
		si, err := s.gateway.CreateSetupIntent(ctx, SetupRequest{CustomerID: cus, PledgeID: p.ID,
			CampaignID: p.CampaignID, IdempotencyKey: setupIntentKey(p.ID)})
		if err != nil {
			return StripeObjects{}, err
		}
		return StripeObjects{CustomerID: cus, SetupIntentID: si.ID, ClientSecret: si.ClientSecret}, nil
	default:
		pi, err := s.gateway.CreatePaymentIntent(ctx, PaymentRequest{Amount: p.Amount, TransferGroup: p.CampaignID,
			PledgeID: p.ID, CampaignID: p.CampaignID, IdempotencyKey: paymentIntentKey(p.ID)})
		if err != nil {
			return StripeObjects{}, err
		}
		return StripeObjects{PaymentIntentID: pi.ID, ClientSecret: pi.ClientSecret}, nil
	}
}

// StripeObjects are the Stripe ids a new pledge is inserted with.
type StripeObjects struct {
	CustomerID, SetupIntentID, PaymentIntentID, ClientSecret string
}

// requestCampaign is the campaign a pledge request names: the one the request already read, or
// read now.
func (s *Service) requestCampaign(ctx context.Context, o Origin, ref string) (campaign.Campaign, error) {
	c := o.Campaign
	if c == nil || (c.ID != ref && c.Slug != ref) {
		camp, err := s.CampaignCopy(ctx, ref)
		if err != nil {
			return camp, err
		}
		c = &camp
	}
	if !c.Public() {
		// Drafts are not there for backers at all.
		return *c, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
	}
	return *c, nil
}

// findCampaign reads the campaign a pledge request names (keeping a copy if it is live).
func (s *Service) findCampaign(ctx context.Context, ref string) (campaign.Campaign, error) {
	camp, err := s.readCampaign(ctx, ref)
	if err == nil && !camp.Public() {
		// Drafts are not there for backers at all.
		return camp, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
	}
	return camp, err
}

// Reload reads a pledge again after a lost compare-and-set.
func (s *Service) Reload(ctx context.Context, id string) (Pledge, error) {
	return s.store.FindPledge(ctx, id)
}

// Manage finds a pledge for the holder of its manage token, of a manage key sent to its address
// since (recover.go) or, once its deadline charge failed, of its fix-payment link (fixcard.go). A
// wrong token is "not found", so a pledge id alone reveals nothing.
func (s *Service) Manage(ctx context.Context, id, token string) (Pledge, error) {
	p, err := s.store.FindPledge(ctx, id)
	if err != nil {
		return p, err
	}
	denied := backstitch.Errorf(backstitch.CodeNotFound, "Pledge not found.")
	if token == "" || len(token) > 128 {
		return Pledge{}, denied
	}
	hash := account.TokenID(token)
	if subtle.ConstantTimeCompare([]byte(hash), []byte(p.ManageTokenHash)) == 1 {
		return p, nil
	}
	if ok, err := s.fixLinkOpens(ctx, p, token); ok || err != nil {
		return p, err
	}
	k, err := s.store.FindManageKey(ctx, hash)
	switch {
	case backstitch.ErrorCode(err) == backstitch.CodeNotFound:
		return Pledge{}, denied
	case err != nil:
		return Pledge{}, err
	case k.PledgeID != p.ID:
		// Another pledge's key: it opens that pledge only.
		return Pledge{}, denied
	}
	return p, nil
}

// Booking is the session a pledge booked, with its reward and campaign, for the backer's calendar.
type Booking struct {
	Pledge   Pledge
	Campaign campaign.Campaign
	Tier     campaign.Tier
	Session  campaign.Session
}

// Booking finds the session the holder of a pledge's manage token booked ("not found" when the
// pledge books none).
func (s *Service) Booking(ctx context.Context, id, token string) (Booking, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return Booking{}, err
	}
	if p.SessionID == "" {
		return Booking{}, backstitch.Errorf(backstitch.CodeNotFound, "This pledge books no session.")
	}
	camp, err := s.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return Booking{}, err
	}
	tier, err := s.store.FindTier(ctx, p.CampaignID, p.TierID)
	if err != nil {
		return Booking{}, err
	}
	session, ok := tier.SessionByID(p.SessionID)
	if !ok {
		return Booking{}, backstitch.Errorf(backstitch.CodeNotFound, "This pledge books no session.")
	}
	return Booking{Pledge: p, Campaign: camp, Tier: tier, Session: session}, nil
}

// Confirmed is the outcome of a confirmation: the pledge, and whether Stripe wants the backer to
// authenticate (3-D Secure) in the browser with the client secret.
type Confirmed struct {
	Pledge         Pledge
	ActionRequired bool
}

// Confirm finishes checkout server-side with a payment method (API clients and offline mode; in a
// browser Stripe.js confirms with the client secret and the webhook brings the result).
func (s *Service) Confirm(ctx context.Context, id, token, paymentMethod string) (Confirmed, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return Confirmed{}, err
	}
	if err := checkPaymentMethod(paymentMethod); err != nil {
		return Confirmed{}, err
	}
	if p.Status.Counted() {
		// Already done: confirming again changes nothing, but the answer waits for the change.
		return Confirmed{Pledge: s.awaitSettled(ctx, p)}, nil
	}
	if p.Status != StatusPending {
		return Confirmed{}, backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s and cannot be confirmed.", p.Status)
	}
	camp, err := s.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return Confirmed{}, err
	}
	if err := s.checkOpen(p, camp); err != nil {
		return Confirmed{}, err
	}
	// Count the attempt first (one atomic $inc, whatever webhooks do meanwhile), so its
	// idempotency key is never reused for another payment method.
	if p, err = s.store.CountConfirmAttempt(ctx, p.ID); err != nil {
		return Confirmed{}, err
	}
	key := confirmKey(p.ID, p.ConfirmAttempts)
	var in Intent
	if p.FundingModel == campaign.AllOrNothing {
		in, err = s.gateway.ConfirmSetupIntent(ctx, p.SetupIntentID, paymentMethod, key)
	} else {
		in, err = s.gateway.ConfirmPaymentIntent(ctx, p.PaymentIntentID, paymentMethod, key)
	}
	if err != nil {
		// Two confirmations racing (a double click): Stripe refuses the second because the first
		// already succeeded. The pledge says so by now, and that is the answer to both.
		if now, rerr := s.store.FindPledge(ctx, p.ID); rerr == nil && now.Status.Counted() {
			return Confirmed{Pledge: s.awaitSettled(ctx, now)}, nil
		}
		return Confirmed{}, err
	}
	if in.PaymentMethodID == "" {
		in.PaymentMethodID = paymentMethod
	}
	p, err = s.ApplyIntent(ctx, p.ID, in, "backer")
	if err != nil {
		return Confirmed{}, err
	}
	// The webhook may have recorded Stripe's answer first, its counters still on their way.
	p = s.awaitSettled(ctx, p)
	if in.Failure != nil {
		return Confirmed{Pledge: p}, declined(in.Failure)
	}
	return Confirmed{Pledge: p, ActionRequired: in.Status == IntentRequiresAction}, nil
}

// settleWait bounds how long a confirmation waits for another writer's change of its pledge to
// reach the totals: that writer's next steps take milliseconds, so a longer wait means it
// stalled or died, and the sweeper finishes its work.
const settleWait = 2 * time.Second

// awaitSettled is p once the change that moved it has reached its campaign's totals and tier
// units and its messages the outbox, so that a backer answered "active" or "collected" finds
// her pledge counted on the next page she reads. A change made by this request has done so
// before returning; one made by another writer (Stripe's webhook recording the payment first,
// or a second click) may still be under way. Its counters are that writer's to apply: applying
// its Pending record here as well would count the pledge twice (the sweeper only recounts once
// the record is older than any writer can be), so this waits until the writer cleared it. Its
// owed messages are handed over here too, as delivering twice is a no-op. The cached public
// view of the campaign is dropped here, on the instance that answers, whichever instance wrote.
func (s *Service) awaitSettled(ctx context.Context, p Pledge) Pledge {
	if p.Pending != nil {
		waitCtx, cancel := context.WithTimeout(ctx, settleWait)
		defer cancel()
		for pause := 2 * time.Millisecond; p.Pending != nil; pause = min(2*pause, 50*time.Millisecond) {
			if s.now().Sub(p.Pending.At) > SettleWithin/2 {
				// Its writer leaves counters this late to the sweeper (see transition).
				return p
			}
			t := time.NewTimer(pause)
			select {
			case <-waitCtx.Done():
				t.Stop()
				zerolog.Ctx(ctx).Warn().Str("pledge_id", p.ID).Msg("answering before another writer's change reached the totals; the sweeper finishes it")
				return p
			case <-t.C:
			}
			now, err := s.store.FindPledge(ctx, p.ID)
			if err != nil {
				return p
			}
			p = now
		}
	}
	s.deliverOwed(ctx, &p)
	s.countersMoved(p.CampaignID)
	return p
}

func checkPaymentMethod(pm string) error {
	if pm == "" || len(pm) > 255 {
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "payment_method", Code: "required", Message: "payment_method is required (a Stripe pm_… id)"}}}
	}
	return nil
}

// declined is the payment_failed error for a decline, naming Stripe's code and decline code.
func declined(f *Failure) error {
	return &backstitch.Error{Code: backstitch.CodePaymentFailed,
		Message: "The card was declined: " + f.Message + " Try another card.",
		Fields:  []backstitch.FieldError{{Field: "payment_method", Code: f.Code, Message: declineMessage(f)}}}
}

func declineMessage(f *Failure) string {
	if f.DeclineCode != "" {
		return f.Code + ": " + f.DeclineCode
	}
	return f.Code
}

// ApplyIntent brings a pledge in line with what Stripe says about its intent. Both the
// synchronous confirmation and the webhook call it, in any order and any number of times: it only
// ever moves a pending pledge forward, and the compare-and-set lets exactly one caller do so.
func (s *Service) ApplyIntent(ctx context.Context, pledgeID string, in Intent, actor string) (Pledge, error) {
	for attempt := 0; ; attempt++ {
		p, err := s.store.FindPledge(ctx, pledgeID)
		if err != nil {
			return p, err
		}
		if p.Status == StatusCharging || p.Status == StatusPaymentFailed {
			return s.applyCharge(ctx, pledgeID, in, 0, actor)
		}
		if p.Status != StatusPending {
			return p, nil // already moved on; an older event cannot move it back
		}
		now := s.now()
		next := p
		switch {
		case in.Status == IntentSucceeded:
			to := StatusActive
			if p.FundingModel == campaign.Flexible {
				to = StatusCollected
			}
			next = p.MoveTo(to, actor, "stripe: "+string(in.Status), now)
			next.PaymentMethodID = in.PaymentMethodID
			next.LastFailure = nil
			if to == StatusCollected {
				next.ChargeID, next.CollectedAt, next.StripeFee = in.ChargeID, &now, s.stripeFee(ctx, in)
				// Checkout makes the PaymentIntent itself: the one that paid is the pledge's, for
				// refunds and disputes to find.
				if in.ID != "" {
					next.PaymentIntentID = in.ID
				}
			}
		case in.Failure != nil:
			f := *in.Failure
			f.At = now
			next.LastFailure = &f
			next.UpdatedAt = now
		default:
			return p, nil
		}
		updated, err := s.transition(ctx, p, next, transitionOpts{})
		if backstitch.ErrorCode(err) == backstitch.CodeConflict && attempt < 5 {
			continue // the other path changed it first: look again
		}
		if err != nil {
			return updated, err
		}
		if updated.Status != p.Status {
			zerolog.Ctx(ctx).Info().Str("pledge_id", p.ID).Str("status", string(updated.Status)).Msg("pledge " + string(updated.Status))
		}
		return updated, nil
	}
}

// Change is what a backer may change: the reward tier (empty string for none) and the amount.
type Change struct {
	TierID  *string            `json:"tier_id"`
	Options *map[string]string `json:"options"`
	// SessionID moves to another date of the reward (until the cut-off before either: Tier.CutoffFor).
	SessionID *string      `json:"session_id"`
	Amount    *money.Money `json:"amount"`
	// ShippingAddress moves where the reward ships; shipping to another zone changes the amount
	// (by the difference, unless a new amount is given).
	ShippingAddress *Address `json:"shipping_address"`
}

// Update changes a pledge's tier or amount until the deadline. A new tier's unit is claimed before
// the old one is released, so a change never loses the backer their place, and a failed change
// gives the new unit back.
func (s *Service) Update(ctx context.Context, id, token string, ch Change) (Pledge, error) {
	return retryOnConflict(func() (Pledge, error) { return s.update(ctx, id, token, ch) })
}

// retryOnConflict runs op again when it lost a compare-and-set to a concurrent writer (usually a
// webhook recording Stripe's view); op re-reads the pledge and re-checks the rules each time.
func retryOnConflict(op func() (Pledge, error)) (Pledge, error) {
	for attempt := 0; ; attempt++ {
		p, err := op()
		if backstitch.ErrorCode(err) != backstitch.CodeConflict || attempt == 4 {
			return p, err
		}
	}
}

func (s *Service) update(ctx context.Context, id, token string, ch Change) (Pledge, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return p, err
	}
	camp, err := s.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return p, err
	}
	if err := s.checkOpen(p, camp); err != nil {
		return p, err
	}
	if p.FundingModel == campaign.Flexible {
		// Its PaymentIntent carries the amount, and is charged (or about to be) as it stands.
		return p, backstitch.Errorf(backstitch.CodeInvalidState, "A pledge to a flexible campaign cannot change; cancel it (a charge is refunded) and pledge again.")
	}
	next := p
	if ch.Amount != nil {
		next.Amount = *ch.Amount
	}
	newTierID := p.TierID
	if ch.TierID != nil {
		newTierID = *ch.TierID
	}
	var tier *campaign.Tier
	if newTierID != "" {
		t, err := s.store.FindTier(ctx, camp.ID, newTierID)
		if err != nil {
			return p, err
		}
		tier = &t
	}
	var errs backstitch.FieldErrors
	if ch.ShippingAddress != nil {
		if tier == nil || !tier.Ships {
			errs.Add("shipping_address", "invalid", "this reward does not ship")
		} else {
			a := *ch.ShippingAddress
			checkShipping(&errs, &a)
			next.ShippingAddress = &a
		}
	}
	if tier != nil && tier.Ships && next.ShippingAddress == nil {
		errs.Add("shipping_address", "required", "the new reward ships: give a shipping address")
	}
	if err := errs.Err(); err != nil {
		return p, err
	}
	if err := next.price(tier); err != nil {
		return p, err
	}
	if ch.Amount == nil {
		// What the backer added on top stays; shipping to another zone moves the total.
		next.Amount.Amount += next.Shipping - p.Shipping
	}
	if err := next.checkAmount(&errs, camp, tier); err != nil {
		return p, err
	}
	if err := errs.Err(); err != nil {
		return p, err
	}
	next.TierID, next.Options, next.StockID = newTierID, nil, ""
	if tier != nil {
		choice := p.Options
		if ch.Options != nil || newTierID != p.TierID {
			choice = nil
			if ch.Options != nil {
				choice = *ch.Options
			}
		}
		if next.StockID, err = tier.Choose(choice); err != nil {
			return p, err
		}
		next.Options = choice
		next.SessionID = ""
		if newTierID == p.TierID {
			next.SessionID = p.SessionID
		}
		if ch.SessionID != nil {
			next.SessionID = *ch.SessionID
		}
		if next.SessionID != p.SessionID || newTierID != p.TierID {
			if err := tier.Book(next.SessionID, s.now()); err != nil {
				return p, err
			}
			if old, ok := tier.SessionByID(p.SessionID); ok && newTierID == p.TierID && !old.Cancelled && tier.Closed(old, s.now()) {
				return p, backstitch.Errorf(backstitch.CodeInvalidState, "Your session starts in less than %s: it can no longer be left.", tier.CutoffFor(old))
			}
		}
	} else if ch.Options != nil && len(*ch.Options) > 0 {
		return p, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "options", Code: "invalid", Message: "a pledge without a reward has no options"}}}
	}
	next.UpdatedAt = s.now()
	// The new tier's unit is claimed before the old one goes back (see transition), so a change
	// never loses the backer their place.
	return s.transition(ctx, p, next, transitionOpts{})
}

func (s *Service) checkOpen(p Pledge, camp campaign.Campaign) error {
	if err := s.checkCampaignOpen(camp); err != nil {
		return err
	}
	if !p.Status.HoldsUnit() {
		return backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s.", p.Status)
	}
	return nil
}

// checkCampaignOpen says whether a campaign still takes changes to its pledges.
func (s *Service) checkCampaignOpen(camp campaign.Campaign) error {
	if camp.Status != campaign.StatusLive || !s.now().Before(camp.Deadline) {
		return backstitch.Errorf(backstitch.CodeCampaignNotLive, "The campaign has closed; pledges can no longer change.")
	}
	return nil
}

// Cancel withdraws a pledge before the deadline. A flexible pledge that was charged is refunded
// first (with a key derived from the pledge, so a retried cancel never refunds twice); then the
// state change, won by exactly one caller, gives back the reward unit and the totals.
func (s *Service) Cancel(ctx context.Context, id, token string) (Pledge, error) {
	return retryOnConflict(func() (Pledge, error) { return s.cancel(ctx, id, token) })
}

func (s *Service) cancel(ctx context.Context, id, token string) (Pledge, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return p, err
	}
	camp, err := s.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return p, err
	}
	if p.Status == StatusCancelled {
		return p, nil
	}
	if p.Status == StatusRefunded && p.FundingModel == campaign.Flexible {
		// Its money is back already (often the refund this very cancellation asked for, whose
		// webhook won the race to the pledge): all that is left is to record the cancellation.
		if err := s.checkCampaignOpen(camp); err != nil {
			return p, err
		}
		return s.end(ctx, p, StatusCancelled, "backer", "cancelled by the backer")
	}
	if err := s.checkOpen(p, camp); err != nil {
		return p, err
	}
	if p.Status == StatusPending {
		closed, err := s.closePending(ctx, p)
		if err != nil || !closed {
			return p, err
		}
	}
	if p.Status == StatusCollected || p.Status == StatusPartiallyRefunded {
		if err := s.gateway.Refund(ctx, p.PaymentIntentID, 0, cancelRefundKey(p.ID)); err != nil {
			return p, err
		}
	}
	return s.end(ctx, p, StatusCancelled, "backer", "cancelled by the backer")
}

// closePending closes a pending pledge's intent before the backer's cancellation ends it. When the
// intent turned out to have succeeded, the pledge moved on (active, or collected and to be
// refunded): the cancellation starts again from there (retryOnConflict re-reads it).
func (s *Service) closePending(ctx context.Context, p Pledge) (bool, error) {
	updated, closed, err := s.closeIntent(ctx, p, "stripe")
	switch {
	case err != nil || closed:
		return closed, err
	case updated.Status != StatusPending:
		return false, backstitch.Errorf(backstitch.CodeConflict, "The payment completed while cancelling; cancelling again.")
	}
	return false, backstitch.Errorf(backstitch.CodeConflict, "Stripe is still processing this pledge's payment; try again in a moment.")
}

// end moves a pledge to a final state; transition gives back its reward unit and its share of the
// totals. Only the caller whose compare-and-set wins does so, and tells Stripe, so it happens once.
func (s *Service) end(ctx context.Context, p Pledge, to Status, actor, reason string) (Pledge, error) {
	updated, err := s.transition(ctx, p, p.MoveTo(to, actor, reason, s.now()), transitionOpts{})
	if err != nil {
		return updated, err
	}
	if p.Status == StatusActive && p.PaymentMethodID != "" {
		// A saved card that will never be charged is not kept.
		if err := s.gateway.DetachPaymentMethod(ctx, p.PaymentMethodID, detachCardKey(p.ID)); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("pledge_id", p.ID).Msg("detach saved card")
		}
	}
	return updated, nil
}

// closeIntent makes sure the intent of a pending pledge can no longer succeed before the pledge
// ends without money. Stripe's cancel is final, so it cancels first; when that is too late because
// the backer completed the intent meanwhile (a 3-D Secure page finished in the browser, whose
// webhook has not come or was lost), it records that success through ApplyIntent instead, as the
// webhook would have. closed reports whether the pledge may now end; otherwise p is the pledge as
// it is now (active, collected, or still pending while Stripe processes the payment).
func (s *Service) closeIntent(ctx context.Context, p Pledge, actor string) (_ Pledge, closed bool, _ error) {
	var in Intent
	var err error
	if p.CheckoutSessionID != "" {
		// The checkout page must not take money for a pledge that is over, and Stripe's expiry is
		// final; a session already complete was paid, and its intent is the pledge's.
		sess, err := s.gateway.ExpireCheckoutSession(ctx, p.CheckoutSessionID, expireCheckoutKey(p.ID, p.CheckoutSessionID))
		if err != nil {
			return p, false, err
		}
		if sess.Status == CheckoutComplete {
			updated, err := s.syncCheckout(ctx, p.ID, p.CheckoutSessionID, actor)
			if err != nil {
				return p, false, err
			}
			if updated.Status != StatusPending {
				zerolog.Ctx(ctx).Warn().Str("pledge_id", p.ID).Str("checkout_session", p.CheckoutSessionID).Msg("checkout paid before its pledge could end: recorded")
			}
			return updated, false, nil
		}
	}
	switch {
	case p.SetupIntentID != "":
		in, err = s.gateway.CancelSetupIntent(ctx, p.SetupIntentID, cancelSetupKey(p.ID))
	case p.PaymentIntentID != "":
		in, err = s.gateway.CancelPaymentIntent(ctx, p.PaymentIntentID, cancelPaymentKey(p.ID))
	default:
		return p, true, nil // nothing at Stripe yet
	}
	switch {
	case err != nil:
		return p, false, err
	case in.Status == IntentCanceled:
		return p, true, nil
	case in.Status == IntentSucceeded:
		zerolog.Ctx(ctx).Warn().Str("pledge_id", p.ID).Str("intent", in.ID).Msg("intent succeeded before its pledge could end: recorded")
		updated, err := s.ApplyIntent(ctx, p.ID, in, actor)
		return updated, false, err
	}
	return p, false, nil // processing: Stripe has not decided yet; look again on the next sweep
}

// Swept is what one sweep did.
type Swept struct {
	Expired int
	Healed  []Drift
	// Delivered counts owed notices of dead transitions handed to the outbox (or tried).
	Delivered int
}

// Sweep is the scheduler's clean-up, one query a tick: counters left behind by transitions that
// died between the pledge write and the counter update are healed (see healCounters), messages
// they owed are handed to the outbox (see deliverOwed), then
// pending pledges whose hold ran out without a payment method end, giving their units back.
// Healing comes first: an expiry of a pledge that still carries a dead transition's record
// would carry it on, and make the campaign look busy until the next tick.
func (s *Service) Sweep(ctx context.Context) (Swept, error) {
	now := s.now()
	found, err := s.store.FindPledgesToSweep(ctx, now, now.Add(-SettleWithin), 500)
	if err != nil {
		return Swept{}, err
	}
	var out Swept
	var stale []Pledge
	for _, p := range found {
		if staleAt(p, now) {
			stale = append(stale, p)
		}
	}
	if out.Healed, err = s.healCounters(ctx, stale); err != nil {
		return out, err
	}
	for _, p := range found {
		if owedStale(p, now) {
			out.Delivered += len(p.Owed)
			s.deliverOwed(ctx, &p)
		}
	}
	for _, p := range found {
		if p.Status != StatusPending || p.HoldExpiresAt.After(now) {
			continue
		}
		if p, err = s.store.FindPledge(ctx, p.ID); err != nil {
			return out, err
		}
		if p.Status != StatusPending {
			continue
		}
		_, closed, err := s.closeIntent(ctx, p, "stripe")
		if err != nil {
			// Stripe did not answer: the hold is kept until a sweep can be sure no money came.
			zerolog.Ctx(ctx).Warn().Err(err).Str("pledge_id", p.ID).Msg("close intent of an expired hold")
			continue
		}
		if !closed {
			continue // the backer paid at the last moment: recorded, not expired
		}
		if _, err := s.end(ctx, p, StatusExpired, "system", "no payment method within the hold"); err != nil {
			if backstitch.ErrorCode(err) == backstitch.CodeConflict {
				continue // confirmed or cancelled meanwhile
			}
			return out, err
		}
		out.Expired++
	}
	return out, nil
}
