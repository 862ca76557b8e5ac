package reconcile

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/lease"
)

// Scope is what a run covers: one campaign, or every charge made in [From, To).
type Scope struct {
	CampaignID string     `json:"campaign_id,omitempty" bson:"campaign_id,omitempty"`
	From       *time.Time `json:"from,omitempty" bson:"from,omitempty"`
	To         *time.Time `json:"to,omitempty" bson:"to,omitempty"`
}

// RunStatus is where a run is.
type RunStatus string

const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
)

// MaxAttempts bounds how often a run is started again after an error before it is failed.
const MaxAttempts = 3

// Run is one reconciliation: queued by an admin, carried out in the background by whichever
// instance holds its lease, started again from the beginning if its holder dies.
type Run struct {
	ID         string     `json:"id" bson:"_id"`
	Scope      Scope      `json:"scope" bson:"scope"`
	Status     RunStatus  `json:"status" bson:"status"`
	CreatedBy  string     `json:"created_by" bson:"created_by"`
	CreatedAt  time.Time  `json:"created_at" bson:"created_at"`
	StartedAt  *time.Time `json:"started_at" bson:"started_at"`
	FinishedAt *time.Time `json:"finished_at" bson:"finished_at"`
	// Attempt numbers the starts; only the findings and report of the last attempt count.
	Attempt int      `json:"attempt" bson:"attempt"`
	Error   string   `json:"error,omitempty" bson:"error,omitempty"`
	Summary *Summary `json:"summary" bson:"summary,omitempty"`
	Version int64    `json:"-" bson:"version"`
}

// FindingStatus is where a finding is: open until an admin resolves or explains it.
type FindingStatus string

const (
	FindingOpen      FindingStatus = "open"
	FindingResolved  FindingStatus = "resolved"
	FindingExplained FindingStatus = "explained"
)

// Resolution is what an admin did about a finding.
type Resolution struct {
	Action string    `json:"action" bson:"action"`
	Note   string    `json:"note,omitempty" bson:"note,omitempty"`
	Actor  string    `json:"actor" bson:"actor"`
	At     time.Time `json:"at" bson:"at"`
	Result string    `json:"result,omitempty" bson:"result,omitempty"`
}

// FindingRecord is a finding as a run stores it.
type FindingRecord struct {
	ID          string `json:"id" bson:"_id"`
	RunID       string `json:"run_id" bson:"run_id"`
	Attempt     int    `json:"-" bson:"attempt"`
	Seq         int    `json:"-" bson:"seq"`
	Fingerprint string `json:"-" bson:"fingerprint"`
	Finding     `bson:",inline"`
	Status      FindingStatus `json:"status" bson:"status"`
	Resolution  *Resolution   `json:"resolution,omitempty" bson:"resolution,omitempty"`
	Version     int64         `json:"-" bson:"version"`
}

// FindingFilter selects a page of a run attempt's findings, in the order they were found.
type FindingFilter struct {
	RunID    string
	Attempt  int
	Status   FindingStatus
	Kind     Kind
	AfterSeq int
	Limit    int
}

// RunFilter selects a page of runs, newest first: those created before (Before, BeforeID) when
// BeforeID is set, in one status or of one campaign when those are set.
type RunFilter struct {
	Status     RunStatus
	CampaignID string
	Before     time.Time
	BeforeID   string
	Limit      int
}

// Valid says whether st is a status a run can be in.
func (st RunStatus) Valid() bool {
	switch st {
	case RunQueued, RunRunning, RunCompleted, RunFailed:
		return true
	}
	return false
}

// Exception is a discrepancy an admin explained; later runs that find it again mark it explained.
type Exception struct {
	ID        string    `bson:"_id"` // hash of the fingerprint
	FindingID string    `bson:"finding_id"`
	Note      string    `bson:"note"`
	Actor     string    `bson:"actor"`
	At        time.Time `bson:"at"`
}

// ExceptionID is the key an explanation is stored under.
func ExceptionID(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return "exc_" + hex.EncodeToString(sum[:12])
}

// ReportChunk is a piece of a run's gzipped CSV, stored in order.
type ReportChunk struct {
	ID      string `bson:"_id"`
	RunID   string `bson:"run_id"`
	Attempt int    `bson:"attempt"`
	N       int    `bson:"n"`
	Data    []byte `bson:"data"`
}

// Filter selects Stripe objects: of a transfer group (a campaign), or created in [From, To).
type Filter struct {
	TransferGroup string
	From, To      time.Time
	// Since is when the transfer group's objects start (the campaign's creation): not a bound,
	// older objects are listed too, but where a listing split into time ranges starts splitting.
	Since time.Time
}

// StripeSource lists what Stripe holds, page by page.
type StripeSource interface {
	// ListCharges streams charges with their refunds, dispute and fees, in no particular order;
	// fn is called one charge at a time.
	ListCharges(ctx context.Context, f Filter, fn func(Charge) error) error
	ListTransfers(ctx context.Context, f Filter, fn func(Transfer) error) error
	// PaymentIntentCharges reads the charges of one PaymentIntent.
	PaymentIntentCharges(ctx context.Context, paymentIntentID string) ([]Charge, error)
}

// Store is what running reconciliations needs from persistence.
type Store interface {
	StreamLedger(ctx context.Context, s Scope, fn func(Ledger) error) error
	FindLedger(ctx context.Context, pledgeID string) (Ledger, error)
	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)

	FindRunsToDo(ctx context.Context, limit int) ([]Run, error)
	FindRun(ctx context.Context, id string) (Run, error)
	ReplaceRun(ctx context.Context, prev, next Run) (Run, error)
	ClearRunOutput(ctx context.Context, runID string) error
	InsertFindings(ctx context.Context, fs []FindingRecord) error
	InsertReportChunk(ctx context.Context, c ReportChunk) error
	FindExceptions(ctx context.Context, ids []string) (map[string]Exception, error)

	lease.Store
}

// Options tune a Runner.
type RunnerOptions struct {
	Owner          string
	LeaseTTL       time.Duration
	StuckAfter     time.Duration
	PlatformFeeBPS int64
}

// Runner carries out queued runs. Every instance runs one; the run's lease makes one of them do it.
type Runner struct {
	store  Store
	stripe StripeSource
	leases *lease.Keeper
	now    backstitch.Clock
	o      RunnerOptions
	kick   chan struct{}
}

// NewRunner builds a Runner.
func NewRunner(store Store, stripe StripeSource, now backstitch.Clock, o RunnerOptions) *Runner {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Minute
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = time.Hour
	}
	return &Runner{store: store, stripe: stripe, leases: lease.NewKeeper(store, o.Owner, o.LeaseTTL, now), now: now, o: o,
		kick: make(chan struct{}, 1)}
}

// Kick asks the background loop to look for work now rather than at its next tick.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Kicked delivers Kick's requests to the background loop.
func (r *Runner) Kicked() <-chan struct{} { return r.kick }

// NewRun validates a request for a run and returns the queued run.
func NewRun(s Scope, actor string, now time.Time) (Run, error) {
	var errs backstitch.FieldErrors
	switch {
	case s.CampaignID != "" && (s.From != nil || s.To != nil):
		errs.Add("campaign_id", "exclusive", "give either campaign_id or from and to, not both")
	case s.CampaignID == "" && (s.From == nil || s.To == nil):
		errs.Add("from", "required", "give campaign_id, or from and to (RFC 3339 instants)")
	case s.CampaignID == "" && !s.From.Before(*s.To):
		errs.Add("to", "out_of_range", "to must be after from")
	case s.CampaignID == "" && s.To.Sub(*s.From) > 366*24*time.Hour:
		errs.Add("to", "out_of_range", "a period covers at most 366 days")
	}
	if err := errs.Err(); err != nil {
		return Run{}, err
	}
	if s.From != nil {
		f, t := s.From.UTC(), s.To.UTC()
		s.From, s.To = &f, &t
	}
	return Run{ID: backstitch.NewID("rec"), Scope: s, Status: RunQueued, CreatedBy: actor, CreatedAt: now}, nil
}

// Tick carries out every queued run, and resumes every running one whose holder went away.
func (r *Runner) Tick(ctx context.Context) error {
	runs, err := r.store.FindRunsToDo(ctx, 20)
	if err != nil {
		return err
	}
	var errs []error
	for _, run := range runs {
		if err := r.Execute(ctx, run.ID); err != nil && backstitch.ErrorCode(err) != backstitch.CodeConflict {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Execute carries out one run under its lease (a conflict error when another instance holds it).
// An attempt that fails is started again by a later tick, up to MaxAttempts.
func (r *Runner) Execute(ctx context.Context, id string) error {
	return r.leases.Hold(ctx, "reconcile:"+id, func(h *lease.Held) error { return r.execute(ctx, h, id) })
}

func (r *Runner) execute(ctx context.Context, h *lease.Held, id string) error {
	run, err := r.store.FindRun(ctx, id)
	if err != nil || run.Status == RunCompleted || run.Status == RunFailed {
		return err
	}
	now := r.now()
	next := run
	next.Status, next.Attempt, next.StartedAt, next.Error = RunRunning, run.Attempt+1, &now, ""
	if run, err = r.store.ReplaceRun(ctx, run, next); err != nil {
		return err
	}
	log := zerolog.Ctx(ctx).With().Str("reconciliation_id", run.ID).Int("attempt", run.Attempt).Logger()
	sum, err := r.reconcile(log.WithContext(ctx), h, run)
	if err == nil {
		if err = h.Renew(ctx); err == nil {
			done := r.now()
			next := run
			next.Status, next.FinishedAt, next.Summary = RunCompleted, &done, &sum
			_, err = r.store.ReplaceRun(ctx, run, next)
		}
	}
	if err != nil {
		log.Error().Err(err).Msg("reconciliation attempt failed")
		if run.Attempt >= MaxAttempts || backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			next := run
			next.Status, next.Error = RunFailed, safeMessage(err)
			if _, rerr := r.store.ReplaceRun(context.WithoutCancel(ctx), run, next); rerr != nil {
				log.Error().Err(rerr).Msg("mark reconciliation failed")
			}
		}
		return err
	}
	log.Info().Interface("findings", sum.Findings).Msg("reconciliation completed")
	return nil
}

// safeMessage is what an admin sees of a failure: domain errors say what is wrong, anything else
// is in the logs.
func safeMessage(err error) string {
	if e, ok := errors.AsType[*backstitch.Error](err); ok {
		return e.Message
	}
	return "The run failed; the service logs say why (search for the run id)."
}

// reconcile gathers both sides, compares them and stores the findings and the CSV report. The
// lease is renewed between phases: a runner that lost it stops, and the findings it wrote belong
// to an attempt nobody reads.
func (r *Runner) reconcile(ctx context.Context, h *lease.Held, run Run) (Summary, error) {
	if err := r.store.ClearRunOutput(ctx, run.ID); err != nil {
		return Summary{}, err
	}
	filter := Filter{TransferGroup: run.Scope.CampaignID}
	paidOut := map[string]bool{}
	if id := run.Scope.CampaignID; id != "" {
		camp, err := r.store.FindCampaign(ctx, id)
		if err != nil {
			return Summary{}, err
		}
		paidOut[id] = camp.Settlement != nil && camp.Settlement.PaidOutAt != nil
		filter.Since = camp.CreatedAt
	} else {
		filter.From, filter.To = *run.Scope.From, *run.Scope.To
	}
	both, err := r.gather(ctx, h, run.Scope, filter)
	if err != nil {
		return Summary{}, err
	}
	if err := h.Renew(ctx); err != nil {
		return Summary{}, err
	}
	out := &output{r: r, ctx: ctx, run: run}
	out.startReport()
	sum, err := Compare(slices.Values(both.ledgers), slices.Values(both.stripe),
		Options{Now: r.now(), StuckAfter: r.o.StuckAfter, PlatformFeeBPS: r.o.PlatformFeeBPS, PaidOut: paidOut}, out.match)
	if err != nil {
		return sum, err
	}
	return sum, out.finish()
}

// sides are the two sorted sequences of one run.
type sides struct {
	ledgers []Ledger
	stripe  []Stripe
}

// gather reads both sides. Each side is selected by the run's scope; then whatever one side names
// and the other's selection missed is fetched by id (a charge of a pledge outside the period, a
// pledge charged without a transfer group), so records at a boundary are compared, not reported
// missing. Both sides are held as compact records, sorted in memory: the embedded store cannot
// sort a large collection in time, and these records are small.
func (r *Runner) gather(ctx context.Context, h *lease.Held, s Scope, f Filter) (sides, error) {
	// Stripe's listing and the store's read wait on different servers: they run side by side.
	// Either may outlast the lease (100,000 charges are 1,000 pages from Stripe), so both keep
	// it as they go.
	var charges []Charge
	var transfers []Transfer
	stripeDone := make(chan error, 1)
	go func() {
		err := r.stripe.ListCharges(ctx, f, func(c Charge) error { charges = append(charges, c); return h.RenewIfDue(ctx) })
		if err == nil {
			err = r.stripe.ListTransfers(ctx, f, func(t Transfer) error { transfers = append(transfers, t); return h.RenewIfDue(ctx) })
		}
		stripeDone <- err
	}()
	var ledgers []Ledger
	dbErr := r.store.StreamLedger(ctx, s, func(l Ledger) error { ledgers = append(ledgers, l); return h.RenewIfDue(ctx) })
	if err := errors.Join(<-stripeDone, dbErr); err != nil {
		return sides{}, err
	}
	if err := h.Renew(ctx); err != nil {
		return sides{}, err
	}
	known := make(map[string]bool, len(ledgers))
	for _, l := range ledgers {
		known[l.PledgeID] = true
	}
	fetch := func(id string) error {
		if id == "" || strings.HasPrefix(id, "?") || known[id] {
			return nil
		}
		known[id] = true
		if err := h.RenewIfDue(ctx); err != nil {
			return err
		}
		l, err := r.store.FindLedger(ctx, id)
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		ledgers = append(ledgers, l)
		return nil
	}
	for i := range charges {
		if err := fetch(charges[i].PledgeID); err != nil {
			return sides{}, err
		}
	}
	for _, t := range transfers {
		if err := fetch(t.PledgeID); err != nil {
			return sides{}, err
		}
	}
	// A charged pledge whose charge the listing did not bring (made before the period, or
	// without its transfer group) is looked up through its PaymentIntent.
	seen := make(map[string]bool, len(charges))
	listed := make(map[string]bool, len(charges))
	for _, c := range charges {
		seen[c.ID], listed[c.PaymentIntentID] = true, true
	}
	for _, l := range ledgers {
		if !l.Status.Charged() || l.PaymentIntentID == "" || listed[l.PaymentIntentID] {
			continue
		}
		if err := h.RenewIfDue(ctx); err != nil {
			return sides{}, err
		}
		more, err := r.stripe.PaymentIntentCharges(ctx, l.PaymentIntentID)
		if err != nil {
			return sides{}, err
		}
		for _, c := range more {
			if !seen[c.ID] {
				seen[c.ID] = true
				charges = append(charges, c)
			}
		}
	}
	return sides{ledgers: ledgers, stripe: Group(ledgers, charges, transfers)}, nil
}

// Group turns what Stripe listed into one Stripe record per pledge, sorted by key, ready for
// Compare; it sorts ledgers in place by pledge id too. A charge without the pledge id in its
// metadata is put with the pledge whose PaymentIntent made it; a charge or transfer that names no
// known pledge gets a key of its own (UnknownKey), so it is reported rather than lost.
func Group(ledgers []Ledger, charges []Charge, transfers []Transfer) []Stripe {
	byIntent := make(map[string]string, len(ledgers))
	for _, l := range ledgers {
		if l.PaymentIntentID != "" {
			byIntent[l.PaymentIntentID] = l.PledgeID
		}
	}
	groups := map[string]*Stripe{}
	group := func(key string) *Stripe {
		g := groups[key]
		if g == nil {
			g = &Stripe{Key: key}
			groups[key] = g
		}
		return g
	}
	for _, c := range charges {
		key := c.PledgeID
		if key == "" {
			key = byIntent[c.PaymentIntentID]
		}
		if key == "" {
			key = UnknownKey(c.ID)
		}
		c.PledgeID = key
		g := group(key)
		g.Charges = append(g.Charges, c)
	}
	for _, t := range transfers {
		key := t.PledgeID
		if key == "" {
			key = UnknownKey(t.ID)
		}
		g := group(key)
		g.Transfers = append(g.Transfers, t)
	}
	out := make([]Stripe, 0, len(groups))
	for _, g := range groups {
		// A pledge's charges in one order whatever order they were listed in (a listing split
		// into time ranges hands them on as its ranges go), so a run's findings and report do
		// not depend on it: Stripe's own order, newest first, ties by id.
		slices.SortFunc(g.Charges, func(a, b Charge) int { return cmp.Or(b.Created.Compare(a.Created), strings.Compare(b.ID, a.ID)) })
		out = append(out, *g)
	}
	slices.SortFunc(ledgers, func(a, b Ledger) int { return strings.Compare(a.PledgeID, b.PledgeID) })
	slices.SortFunc(out, func(a, b Stripe) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// output stores what a comparison emits: findings in batches, rows into the gzipped CSV report,
// cut into chunks that each fit a document.
type output struct {
	r        *Runner
	ctx      context.Context
	run      Run
	pending  []FindingRecord
	seq      int
	buf      bytes.Buffer
	gz       *gzip.Writer
	csv      *csv.Writer
	chunk    int
	findings int
}

const (
	findingBatch = 500
	chunkBytes   = 1 << 20
)

func (o *output) startReport() {
	o.gz = gzip.NewWriter(&o.buf)
	o.csv = csv.NewWriter(o.gz)
	_ = o.csv.Write(CSVHeader) // writes to memory; errors surface at Flush
}

func (o *output) match(m Match) error {
	if err := WriteRows(o.csv, m); err != nil {
		return err
	}
	for _, f := range m.Findings {
		o.seq++
		fp := f.Fingerprint()
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", o.run.ID, o.run.Attempt, fp)))
		o.pending = append(o.pending, FindingRecord{ID: "fnd_" + hex.EncodeToString(sum[:10]), RunID: o.run.ID, Attempt: o.run.Attempt,
			Seq: o.seq, Fingerprint: fp, Finding: f, Status: FindingOpen})
	}
	if len(o.pending) >= findingBatch {
		if err := o.flushFindings(); err != nil {
			return err
		}
	}
	if o.buf.Len() >= chunkBytes {
		return o.flushChunk()
	}
	return nil
}

// flushFindings stores the pending findings, marking those explained in an earlier run.
func (o *output) flushFindings() error {
	if len(o.pending) == 0 {
		return nil
	}
	ids := make([]string, len(o.pending))
	for i, f := range o.pending {
		ids[i] = ExceptionID(f.Fingerprint)
	}
	known, err := o.r.store.FindExceptions(o.ctx, ids)
	if err != nil {
		return err
	}
	for i := range o.pending {
		if e, ok := known[ids[i]]; ok {
			o.pending[i].Status = FindingExplained
			o.pending[i].Resolution = &Resolution{Action: "explained", Note: e.Note, Actor: e.Actor, At: e.At,
				Result: "explained earlier (finding " + e.FindingID + ")"}
		}
	}
	if err := o.r.store.InsertFindings(o.ctx, o.pending); err != nil {
		return err
	}
	o.findings += len(o.pending)
	o.pending = o.pending[:0]
	return nil
}

func (o *output) flushChunk() error {
	o.csv.Flush()
	if err := o.csv.Error(); err != nil {
		return err
	}
	if o.buf.Len() == 0 {
		return nil
	}
	o.chunk++
	data := bytes.Clone(o.buf.Bytes())
	o.buf.Reset()
	return o.r.store.InsertReportChunk(o.ctx, ReportChunk{ID: fmt.Sprintf("%s/%d/%d", o.run.ID, o.run.Attempt, o.chunk),
		RunID: o.run.ID, Attempt: o.run.Attempt, N: o.chunk, Data: data})
}

func (o *output) finish() error {
	if err := o.flushFindings(); err != nil {
		return err
	}
	o.csv.Flush()
	if err := o.gz.Close(); err != nil {
		return err
	}
	return o.flushChunk()
}
