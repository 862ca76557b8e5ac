package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Actions an admin can take on a finding.
const (
	// ActionResync pulls Stripe's truth into the pledge (or finishes a stuck charge).
	ActionResync = "resync"
	// ActionRefundDuplicate refunds the extra charges of a duplicate_charge finding.
	ActionRefundDuplicate = "refund_duplicate"
	// ActionExplained records why the discrepancy is fine; later runs carry the explanation.
	ActionExplained = "explained"
)

// MaxNote bounds an admin's note.
const MaxNote = 2000

// resyncable are the kinds a resync can settle: the pledge is wrong and Stripe is right.
var resyncable = []Kind{MissingInStripe, MissingInDB, AmountMismatch, RefundMismatch, DisputeUnrecorded, StuckPledge}

// Resyncable says whether a resync can settle a finding of kind k (it needs the finding's pledge too).
func Resyncable(k Kind) bool { return slices.Contains(resyncable, k) }

// ResolveRequest is what an admin sends to resolve a finding.
type ResolveRequest struct {
	Action string `json:"action"`
	Note   string `json:"note"`
}

// ResolveStore is what resolving needs from persistence.
type ResolveStore interface {
	FindRun(ctx context.Context, id string) (Run, error)
	FindFinding(ctx context.Context, id string) (FindingRecord, error)
	FindLedger(ctx context.Context, pledgeID string) (Ledger, error)
	ReplaceFinding(ctx context.Context, prev, next FindingRecord) (FindingRecord, error)
	SaveException(ctx context.Context, e Exception) error
}

// PledgeFixer changes pledges and money the way resolutions need.
type PledgeFixer interface {
	Resync(ctx context.Context, id string, t pledge.StripeTruth, actor, reason string) (pledge.Pledge, string, error)
	RefundCharge(ctx context.Context, paymentIntentID, key string) error
}

// ChargeResumer finishes a deadline charge left "charging".
type ChargeResumer interface {
	ResumeCharge(ctx context.Context, pledgeID string) (pledge.Pledge, error)
}

// ChargeReader reads charges fresh from Stripe.
type ChargeReader interface {
	PaymentIntentCharges(ctx context.Context, paymentIntentID string) ([]Charge, error)
	RetrieveCharge(ctx context.Context, id string) (Charge, error)
}

// Resolver carries out admins' resolutions of findings.
type Resolver struct {
	store   ResolveStore
	stripe  ChargeReader
	pledges PledgeFixer
	charges ChargeResumer
	now     backstitch.Clock
}

// NewResolver builds a Resolver.
func NewResolver(store ResolveStore, stripe ChargeReader, pledges PledgeFixer, charges ChargeResumer, now backstitch.Clock) *Resolver {
	return &Resolver{store: store, stripe: stripe, pledges: pledges, charges: charges, now: now}
}

// Resolved is a finding after its resolution, with the pledge's status before and after (when
// the action touched a pledge) for the audit log.
type Resolved struct {
	Finding      FindingRecord
	PledgeBefore string
	PledgeAfter  string
}

// Resolve applies an admin's action to an open finding of a run's current attempt. The action's
// effects are idempotent (a refund carries a key derived from the finding and the charge), so a
// retry after a failure, or two admins racing, never refunds twice; the finding itself is closed
// by one compare-and-set.
func (r *Resolver) Resolve(ctx context.Context, runID, findingID string, req ResolveRequest, actor string) (Resolved, error) {
	var errs backstitch.FieldErrors
	req.Action = strings.TrimSpace(req.Action)
	req.Note = backstitch.CheckBlock(&errs, "note", strings.TrimSpace(req.Note), 0, MaxNote)
	switch req.Action {
	case ActionResync, ActionRefundDuplicate, ActionExplained:
	case "":
		errs.Add("action", "required", "action is required: resync, refund_duplicate or explained")
	default:
		errs.Add("action", "invalid", "action must be resync, refund_duplicate or explained")
	}
	if req.Action == ActionExplained && req.Note == "" {
		errs.Add("note", "required", "explain the discrepancy in note")
	}
	if err := errs.Err(); err != nil {
		return Resolved{}, err
	}
	f, err := r.store.FindFinding(ctx, findingID)
	if err != nil {
		return Resolved{}, err
	}
	run, err := r.store.FindRun(ctx, f.RunID)
	if err != nil || f.RunID != runID || run.Attempt != f.Attempt || run.Status != RunCompleted {
		return Resolved{}, backstitch.Errorf(backstitch.CodeNotFound, "Finding not found.")
	}
	if f.Status != FindingOpen {
		return Resolved{}, backstitch.Errorf(backstitch.CodeInvalidState, "This finding is already %s.", f.Status)
	}
	notApplicable := func(why string) error {
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "action", Code: "not_applicable", Message: why}}}
	}
	out := Resolved{}
	result := ""
	switch req.Action {
	case ActionResync:
		if !slices.Contains(resyncable, f.Kind) || f.PledgeID == "" {
			return Resolved{}, notApplicable(fmt.Sprintf("a %s finding cannot be resynced: refund it or explain it", f.Kind))
		}
		result, out.PledgeBefore, out.PledgeAfter, err = r.resync(ctx, f, actor)
	case ActionRefundDuplicate:
		if f.Kind != DuplicateCharge {
			return Resolved{}, notApplicable("refund_duplicate applies to duplicate_charge findings only")
		}
		result, err = r.refundDuplicates(ctx, f)
	case ActionExplained:
		err = r.store.SaveException(ctx, Exception{ID: ExceptionID(f.Fingerprint), FindingID: f.ID, Note: req.Note, Actor: actor, At: r.now()})
		result = "later runs mark this discrepancy explained"
	}
	if err != nil {
		return Resolved{}, err
	}
	next := f
	next.Status = FindingResolved
	if req.Action == ActionExplained {
		next.Status = FindingExplained
	}
	next.Resolution = &Resolution{Action: req.Action, Note: req.Note, Actor: actor, At: r.now(), Result: result}
	if out.Finding, err = r.store.ReplaceFinding(ctx, f, next); err != nil {
		return Resolved{}, err
	}
	return out, nil
}

// resync reads the pledge's charges fresh from Stripe and brings the truth into the pledge.
func (r *Resolver) resync(ctx context.Context, f FindingRecord, actor string) (result, before, after string, err error) {
	l, err := r.store.FindLedger(ctx, f.PledgeID)
	if err != nil {
		return "", "", "", err
	}
	before = string(l.Status)
	if f.Kind == StuckPledge && l.Status == pledge.StatusCharging {
		p, err := r.charges.ResumeCharge(ctx, l.PledgeID)
		if err != nil {
			return "", before, "", err
		}
		return "the deadline charge was resumed with its own idempotency key", before, string(p.Status), nil
	}
	var charges []Charge
	seen := map[string]bool{}
	for _, o := range f.Objects {
		if o.Type != "charge" || seen[o.ID] {
			continue
		}
		ch, err := r.stripe.RetrieveCharge(ctx, o.ID)
		if err != nil {
			return "", before, "", err
		}
		seen[ch.ID] = true
		charges = append(charges, ch)
	}
	if l.PaymentIntentID != "" {
		more, err := r.stripe.PaymentIntentCharges(ctx, l.PaymentIntentID)
		if err != nil {
			return "", before, "", err
		}
		for _, ch := range more {
			if !seen[ch.ID] {
				seen[ch.ID] = true
				charges = append(charges, ch)
			}
		}
	}
	var succeeded []Charge
	for _, ch := range charges {
		if ch.succeeded() {
			succeeded = append(succeeded, ch)
		}
	}
	t := pledge.StripeTruth{}
	if ch, ok := Primary(&l, succeeded); ok {
		t = pledge.StripeTruth{Charged: true, PaymentIntentID: ch.PaymentIntentID, ChargeID: ch.ID, Amount: ch.Amount, Refunded: ch.Refunded, Fee: ch.Fee}
		if d := ch.Dispute; d != nil {
			t.Dispute = &pledge.Dispute{ID: d.ID, Status: d.Status, Amount: d.Amount}
		}
	}
	p, note, err := r.pledges.Resync(ctx, l.PledgeID, t, actor, fmt.Sprintf("reconciliation %s: resync of %s", f.RunID, f.Kind))
	if err != nil {
		return "", before, "", err
	}
	result = fmt.Sprintf("pledge %s → %s", before, p.Status)
	if note != "" {
		result += "; " + note
	}
	return result, before, string(p.Status), nil
}

// refundDuplicates refunds what is left of every extra charge of a duplicate_charge finding (the
// first charge listed is the pledge's own and is kept).
func (r *Resolver) refundDuplicates(ctx context.Context, f FindingRecord) (string, error) {
	var refunded []string
	first := true
	for _, o := range f.Objects {
		if o.Type != "charge" {
			continue
		}
		if first {
			first = false
			continue
		}
		ch, err := r.stripe.RetrieveCharge(ctx, o.ID)
		if err != nil {
			return "", err
		}
		if ch.Refunded >= ch.Amount.Amount {
			continue
		}
		if err := r.pledges.RefundCharge(ctx, ch.PaymentIntentID, pledge.DuplicateRefundKey(f.ID, ch.ID)); err != nil {
			return "", err
		}
		refunded = append(refunded, ch.ID)
	}
	if len(refunded) == 0 {
		return "the extra charges were already refunded", nil
	}
	return "refunded " + strings.Join(refunded, ", "), nil
}
