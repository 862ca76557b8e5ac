// Command reconcile measures one reconciliation run of a campaign with n collected pledges against
// n Stripe charges, end to end through the real reconcile.Runner, against DESIGN's target:
// "Reconciling 100,000 pledges against 100,000 Stripe objects ≤ 10 s, ≤ 256 MB peak memory".
//
//	go run ./bench/reconcile [-n 100000] [-mongodb-uri mongodb://...]
//
// Without -mongodb-uri (or MONGODB_URI) the store is the embedded FerretDB, in this process, as
// the service runs when no MongoDB is configured. Stripe is the offline double behind loopback
// HTTP, in a child process (see double.go), so this process's memory is the service's: the
// embedded store, the driver and the Runner, plus the bench's few records. On the embedded store
// the ledger read is also repeated through FerretDB's own query, the read the service's scan of
// the SQLite files replaced, and both are timed in CPU as well as wall time: on a shared machine
// their ratio is the figure to quote.
//
// The first run is on clean data and must find nothing. Then ten discrepancies of five kinds are
// injected and a second run must find exactly those; the command exits non-zero otherwise.
package main

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/bench/internal/double"
	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/stripepay"
)

// DESIGN's targets for 100,000 pledges against 100,000 Stripe objects.
const (
	targetTime   = 10 * time.Second
	targetMemory = 256 << 20
	targetN      = 100_000
)

const (
	pledgeAmount = 5000 // minor units of pledgeCurr
	pledgeCurr   = "CHF"
	// seedBatch is the InsertMany size: FerretDB takes 1000-document batches several times
	// faster than one store.CreatePledge per pledge (~1 ms each).
	seedBatch = 1000
	// sampleEvery is how often the heap is sampled during a run. ReadMemStats stops the world
	// for microseconds; at 50 ms that is noise, and peaks shorter than that can be missed.
	sampleEvery = 50 * time.Millisecond
)

func main() {
	n := flag.Int("n", targetN, "collected pledges (and Stripe charges) to reconcile")
	uri := flag.String("mongodb-uri", os.Getenv("MONGODB_URI"), "run against this MongoDB instead of the embedded FerretDB")
	flag.IntVar(&listWorkers, "list-workers", 0, "ranges of Stripe's charges listed side by side (0: stripepay's default)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of run 1 (Runner.Execute only) to this file")
	child := flag.Bool(double.Flag, false, "internal: serve the Stripe double for a parent bench process")
	flag.Parse()
	if *child {
		if err := serveDouble(); err != nil {
			fmt.Fprintln(os.Stderr, "bench double:", err)
			os.Exit(1)
		}
		return
	}
	if *n < 100 {
		fmt.Fprintln(os.Stderr, "bench: -n must be at least 100 (discrepancies are injected into the first pledges)")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Stdout, *n, *uri); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// cpuProfile names the file run 1's CPU profile goes to ("": none).
var cpuProfile string

// listWorkers is stripepay.Options.ListWorkers for the run (-list-workers).
var listWorkers int

// env is what one benchmark works on: the store the service uses, a second plain driver client
// on the same database for bulk seeding (the store has no bulk insert, and the bench must not
// add one to it), and the Stripe double (a child process) with the service's own Stripe client.
type env struct {
	store *mongostore.Store
	// served is the same database opened without the embedded store's Scanner, so StreamLedger
	// asks FerretDB as it asks MongoDB: the read the Scanner replaced, measured for comparison
	// (nil on MongoDB).
	served  *mongostore.Store
	pledges *mongo.Collection // the same collection the store reads, through the bench's client
	double  doubleProc
	pay     *stripepay.Client
	backend string
}

func run(ctx context.Context, out io.Writer, n int, uri string) error {
	backend := "embedded FerretDB (SQLite)"
	database := "bench"
	var (
		store, served *mongostore.Store
		err           error
	)
	if uri == "" {
		dir, err := os.MkdirTemp("", "backstitch-bench-reconcile-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		es, err := embedded.Start(dir)
		if err != nil {
			return err
		}
		defer es.Close()
		uri = es.URI()
		// One connection, the embedded locks and bulk reads, as the service opens the embedded store.
		if store, err = mongostore.Open(ctx, mongostore.Options{URI: uri, Database: database, SingleConnection: true, Locks: es.Locks(), Scanner: es, Writer: es, ConstraintIndexesOnly: true}); err != nil {
			return err
		}
		// Without it every lookup by _id (leases, runs, FindLedger) scans its whole collection.
		defer store.Close(context.WithoutCancel(ctx))
		if err := es.IndexIDs(ctx, database); err != nil {
			return err
		}
		if served, err = mongostore.Open(ctx, mongostore.Options{URI: uri, Database: database, SingleConnection: true, ConstraintIndexesOnly: true}); err != nil {
			return err
		}
		defer served.Close(context.WithoutCancel(ctx))
	} else {
		// A database of its own, dropped afterwards, so a real server is left as it was.
		backend = "MongoDB at -mongodb-uri"
		database = "backstitch_bench_" + strings.ToLower(backstitch.NewID("rec"))
		if store, err = mongostore.Open(ctx, mongostore.Options{URI: uri, Database: database}); err != nil {
			return err
		}
		defer func() {
			bg := context.WithoutCancel(ctx)
			if err := store.Drop(bg); err != nil {
				fmt.Fprintf(os.Stderr, "bench: drop database %s: %v\n", database, err)
			}
			_ = store.Close(bg)
		}()
	}

	// A pool of one: FerretDB v1 mishandles concurrent writers, and batches are sequential anyway.
	bulk, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetMaxPoolSize(1))
	if err != nil {
		return err
	}
	defer bulk.Disconnect(context.WithoutCancel(ctx))

	dp, err := double.Start()
	if err != nil {
		return err
	}
	defer dp.Close()
	e := &env{store: store, served: served, pledges: bulk.Database(database).Collection("pledges"), double: doubleProc{dp}, backend: backend,
		pay: stripepay.New(stripepay.Options{SecretKey: "sk_test_bench", BackendURL: dp.URL, Timeout: time.Minute, ListWorkers: listWorkers})}

	fmt.Fprintf(out, "reconcile bench: %d collected pledges vs %d Stripe charges, one campaign\n", n, n)
	fmt.Fprintf(out, "store: %s; Stripe: offline double in a child process, over loopback HTTP; %s, %d CPUs, GOMAXPROCS %d\n",
		backend, runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0))

	seedStart := time.Now()
	camp, firsts, st, err := seed(ctx, e, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nseeding (not measured): %v wall; %d charges made in the double in %v, %d pledges inserted in batches of %d in %v (%.0f/s)\n",
		time.Since(seedStart).Round(time.Millisecond), n, st.charges.Round(time.Millisecond), n, seedBatch,
		st.inserts.Round(time.Millisecond), float64(n)/st.inserts.Seconds())
	ds, err := dp.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "after seeding: this process %s RSS, %s Go heap; the double's process %s RSS, %s Go heap\n",
		mib(profile.ReadMem().RSS), mib(settledHeap()), mib(ds.RSS), mib(ds.HeapInuse))

	// Run 1: clean data, nothing to find.
	r1, err := measureRun(ctx, e, camp.ID, cpuProfile)
	if err != nil {
		return err
	}
	sum := r1.run.Summary
	if total := findingsTotal(sum); total != 0 {
		return fmt.Errorf("run 1 on clean data found %d discrepancies: %v", total, sum.Findings)
	}
	if err := checkTotals(sum, int64(n), int64(n)); err != nil {
		return fmt.Errorf("run 1: %w", err)
	}
	fmt.Fprintf(out, "\nrun 1, clean data: %s, 0 findings, %d pledges and %d charges matched\n", r1.run.Status, n, n)
	r1.print(out, n)

	// The steps again, each alone: a cross-check of the spans, and the only way to split the
	// Runner's in-process work (it happens between calls the wrappers can see).
	ph, err := measurePhases(ctx, e, camp)
	if err != nil {
		return err
	}
	ph.print(out, r1.took)

	// Run 2: ten discrepancies of five kinds, which must be found, and nothing else.
	want, err := inject(ctx, e, camp.ID, firsts)
	if err != nil {
		return err
	}
	r2, err := measureRun(ctx, e, camp.ID, "")
	if err != nil {
		return err
	}
	got, err := findingsOf(ctx, store, r2.run)
	if err != nil {
		return err
	}
	if !maps.Equal(got, want) {
		return fmt.Errorf("run 2 findings differ from the injected discrepancies:\n  want %v\n  got  %v", sortedKeys(want), sortedKeys(got))
	}
	kinds := make([]string, 0, len(r2.run.Summary.Findings))
	for _, k := range reconcile.Kinds {
		if c := r2.run.Summary.Findings[k]; c > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, c))
		}
	}
	fmt.Fprintf(out, "\nrun 2, %d discrepancies injected: %s, found exactly those (%s)\n", len(want), r2.run.Status, strings.Join(kinds, ", "))
	r2.print(out, n)

	fmt.Fprintf(out, "\nagainst DESIGN (%d pledges vs %d Stripe objects, ≤ %v, ≤ %s peak):\n", targetN, targetN, targetTime, mib(targetMemory))
	if n != targetN {
		fmt.Fprintf(out, "  (measured at n=%d, not %d: neither figure scales linearly from here)\n", n, targetN)
	}
	fmt.Fprintf(out, "  time:   run 1 %v = %.2f× the target, run 2 %v = %.2f×: %s\n",
		r1.took.Round(time.Millisecond), r1.took.Seconds()/targetTime.Seconds(),
		r2.took.Round(time.Millisecond), r2.took.Seconds()/targetTime.Seconds(), verdict(max(r1.took, r2.took) <= targetTime))
	peak := max(r1.hwmAfter, r2.hwmAfter)
	fmt.Fprintf(out, "  memory: peak RSS of the service's process (embedded FerretDB + Runner + the bench's few records) %s: %s\n",
		mib(peak), verdict(peak <= targetMemory))
	fmt.Fprintf(out, "          of it Go heap: live peak %s (+%s during run 1), HeapInuse peak %s; the compact records the Runner holds to the end: %s\n",
		mib(r1.livePeak), mib(r1.liveGrowth()), mib(r1.heapPeak), mib(ph.held))
	return nil
}

// spans adds up the time a run spends in each call it makes to Stripe and to the store. They are
// timed at the Runner's own interfaces (it is handed wrappers, and is otherwise unchanged), so
// they split the run itself, not a repetition of it. The calls never nest: the store writes made
// from inside Compare's emit are spans of their own, and what is left of the wall time is the
// Runner's in-process work (indexing, grouping, sorting, Compare, CSV and gzip).
type spans struct {
	mu sync.Mutex
	d  map[string]time.Duration
	n  map[string]int
}

func (s *spans) add(name string, start time.Time) {
	took := time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d == nil {
		s.d, s.n = map[string]time.Duration{}, map[string]int{}
	}
	s.d[name] += took
	s.n[name]++
}

// Span names, in the order the report lists them.
const (
	spanListCharges  = "Stripe ListCharges"
	spanTransfers    = "Stripe ListTransfers"
	spanIntents      = "Stripe PaymentIntentCharges"
	spanStream       = "store StreamLedger"
	spanFindLedger   = "store FindLedger"
	spanFindings     = "store FindExceptions + InsertFindings"
	spanReport       = "store InsertReportChunk"
	spanBookkeeping  = "store leases, run documents, ClearRunOutput, FindCampaign"
	spanInProcessTag = "in process: index, group, sort, Compare, CSV + gzip (the rest)"
)

var spanOrder = []string{spanListCharges, spanTransfers, spanIntents, spanStream, spanFindLedger, spanFindings, spanReport, spanBookkeeping}

type timedStripe struct {
	reconcile.StripeSource
	s *spans
}

func (t timedStripe) ListCharges(ctx context.Context, f reconcile.Filter, fn func(reconcile.Charge) error) error {
	defer t.s.add(spanListCharges, time.Now())
	return t.StripeSource.ListCharges(ctx, f, fn)
}

func (t timedStripe) ListTransfers(ctx context.Context, f reconcile.Filter, fn func(reconcile.Transfer) error) error {
	defer t.s.add(spanTransfers, time.Now())
	return t.StripeSource.ListTransfers(ctx, f, fn)
}

func (t timedStripe) PaymentIntentCharges(ctx context.Context, id string) ([]reconcile.Charge, error) {
	defer t.s.add(spanIntents, time.Now())
	return t.StripeSource.PaymentIntentCharges(ctx, id)
}

type timedStore struct {
	reconcile.Store
	s *spans
}

func (t timedStore) StreamLedger(ctx context.Context, sc reconcile.Scope, fn func(reconcile.Ledger) error) error {
	defer t.s.add(spanStream, time.Now())
	return t.Store.StreamLedger(ctx, sc, fn)
}

func (t timedStore) FindLedger(ctx context.Context, id string) (reconcile.Ledger, error) {
	defer t.s.add(spanFindLedger, time.Now())
	return t.Store.FindLedger(ctx, id)
}

func (t timedStore) FindExceptions(ctx context.Context, ids []string) (map[string]reconcile.Exception, error) {
	defer t.s.add(spanFindings, time.Now())
	return t.Store.FindExceptions(ctx, ids)
}

func (t timedStore) InsertFindings(ctx context.Context, fs []reconcile.FindingRecord) error {
	defer t.s.add(spanFindings, time.Now())
	return t.Store.InsertFindings(ctx, fs)
}

func (t timedStore) InsertReportChunk(ctx context.Context, c reconcile.ReportChunk) error {
	defer t.s.add(spanReport, time.Now())
	return t.Store.InsertReportChunk(ctx, c)
}

func (t timedStore) FindCampaign(ctx context.Context, id string) (campaign.Campaign, error) {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.FindCampaign(ctx, id)
}

func (t timedStore) FindRun(ctx context.Context, id string) (reconcile.Run, error) {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.FindRun(ctx, id)
}

func (t timedStore) ReplaceRun(ctx context.Context, prev, next reconcile.Run) (reconcile.Run, error) {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.ReplaceRun(ctx, prev, next)
}

func (t timedStore) ClearRunOutput(ctx context.Context, runID string) error {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.ClearRunOutput(ctx, runID)
}

func (t timedStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (backstitch.Lease, error) {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.AcquireLease(ctx, name, owner, ttl, now)
}

func (t timedStore) RenewLease(ctx context.Context, l backstitch.Lease, ttl time.Duration, now time.Time) (backstitch.Lease, error) {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.RenewLease(ctx, l, ttl, now)
}

func (t timedStore) ReleaseLease(ctx context.Context, l backstitch.Lease) error {
	defer t.s.add(spanBookkeeping, time.Now())
	return t.Store.ReleaseLease(ctx, l)
}

// first is a seeded pledge the discrepancies are injected into.
type first struct {
	pledgeID, chargeID string
}

type seedTimes struct {
	charges, inserts time.Duration
}

// seed stores a succeeded campaign whose pledges have all been collected, and makes each pledge's
// charge at the double first (so the pledge can carry its ids, as settlement leaves it). The
// double makes a batch of charges while the previous batch is being inserted: on two cores that
// overlaps the two halves of seeding, which are both CPU-bound.
func seed(ctx context.Context, e *env, n int) (campaign.Campaign, []first, seedTimes, error) {
	var st seedTimes
	now := time.Now().UTC()
	title, deadline, tz := "Bench reconcile", now.Add(48*time.Hour).Format(time.RFC3339), "Europe/Zurich"
	goal := money.Money{Amount: 100_000, Currency: pledgeCurr}
	camp, err := campaign.New(campaign.Fields{Title: &title, Goal: &goal, Deadline: &deadline, Timezone: &tz}, "usr_designer",
		now, campaign.Rules{MinDuration: time.Hour, MaxDuration: 1000 * time.Hour})
	if err != nil {
		return camp, nil, st, err
	}
	// Backdated as if it had run for a month and been settled two hours ago.
	created, launched, decided := now.Add(-40*24*time.Hour), now.Add(-30*24*time.Hour), now.Add(-2*time.Hour)
	charged := decided.Add(time.Hour)
	camp.CreatedAt, camp.UpdatedAt = created, decided
	camp.Status, camp.LaunchedAt, camp.Deadline = campaign.StatusSucceeded, &launched, decided
	camp.Pledged, camp.BackersCount = int64(n)*pledgeAmount, int64(n)
	// Charged but not paid out: a run then checks every pledge's charge, and no transfers are
	// owed yet (a paid-out campaign would need n transfers at the double as well).
	camp.Settlement = &campaign.Settlement{DecidedAt: decided, PledgedAtDeadline: int64(n) * pledgeAmount, BackersAtDeadline: int64(n), ChargedAt: &charged}
	camp.History = []campaign.HistoryEntry{
		{From: campaign.StatusApproved, To: campaign.StatusLive, Actor: "usr_designer", At: launched},
		{From: campaign.StatusLive, To: campaign.StatusSucceeded, Actor: "system:settler", Reason: "deadline passed", At: decided},
	}
	if camp, err = e.store.CreateCampaign(ctx, camp); err != nil {
		return camp, nil, st, err
	}

	batches := make(chan []any, 1)
	var firsts []first
	var prodErr error
	go func() {
		defer close(batches)
		for start := 0; start < n; start += seedBatch {
			t0 := time.Now()
			// Ids as the service makes them: random, so neither side arrives sorted.
			ids := make([]string, min(seedBatch, n-start))
			for i := range ids {
				ids[i] = backstitch.NewID("plg")
			}
			made, err := e.double.charges(ctx, camp.ID, ids)
			if err != nil {
				prodErr = err
				return
			}
			docs := make([]any, len(ids))
			for i, id := range ids {
				if len(firsts) < 16 {
					firsts = append(firsts, first{pledgeID: id, chargeID: made[i].ChargeID})
				}
				docs[i] = collected(id, camp.ID, start+i, made[i].PaymentIntentID, made[i].ChargeID, now)
			}
			st.charges += time.Since(t0)
			select {
			case batches <- docs:
			case <-ctx.Done():
				return
			}
		}
	}()
	for docs := range batches {
		t0 := time.Now()
		if _, err := e.pledges.InsertMany(ctx, docs); err != nil {
			// Drain, so the producer ends before returning.
			for range batches {
			}
			return camp, nil, st, fmt.Errorf("insert pledges: %w", err)
		}
		st.inserts += time.Since(t0)
	}
	if prodErr != nil {
		return camp, nil, st, prodErr
	}
	return camp, firsts, st, nil
}

// collected is a pledge as settlement leaves it after a successful deadline charge, with the
// fields a real one has (backer, address, history), so documents are of a realistic size for
// the store to read back.
func collected(id, campaignID string, i int, paymentIntentID, chargeID string, now time.Time) pledge.Pledge {
	created := now.Add(-20*24*time.Hour + time.Duration(i)*time.Second)
	activated := created.Add(40 * time.Second)
	charging := now.Add(-90 * time.Minute)
	at := charging.Add(2 * time.Second)
	token := sha256.Sum256([]byte(id))
	return pledge.Pledge{
		ID: id, CampaignID: campaignID, FundingModel: campaign.AllOrNothing, TierID: "tir_bench",
		Amount: money.Money{Amount: pledgeAmount, Currency: pledgeCurr},
		Backer: pledge.Backer{Email: fmt.Sprintf("backer%d@example.com", i), Name: fmt.Sprintf("Backer %d", i)},
		ShippingAddress: &pledge.Address{Name: fmt.Sprintf("Backer %d", i), Line1: fmt.Sprintf("Bahnhofstrasse %d", i%200+1),
			PostalCode: "8001", City: "Zürich", Country: "CH"},
		Status: pledge.StatusCollected, ManageTokenHash: hex.EncodeToString(token[:]),
		CustomerID: "cus_bench" + strconv.Itoa(i), SetupIntentID: "seti_bench" + strconv.Itoa(i), PaymentMethodID: "pm_bench" + strconv.Itoa(i),
		PaymentIntentID: paymentIntentID, ChargeID: chargeID, ConfirmAttempts: 1, ChargeAttempts: 1, CollectedAt: &at, Fence: 1,
		StripeFee:     stripedouble.StandardFee(pledgeAmount, pledgeCurr),
		HoldExpiresAt: created.Add(30 * time.Minute), CreatedAt: created, UpdatedAt: at, Version: 3,
		History: []pledge.HistoryEntry{
			{From: pledge.StatusPending, To: pledge.StatusActive, Actor: "backer", Reason: "card saved", At: activated},
			{From: pledge.StatusActive, To: pledge.StatusCharging, Actor: "system:settler", Reason: "deadline charge", At: charging},
			{From: pledge.StatusCharging, To: pledge.StatusCollected, Actor: "system:settler", Reason: "payment succeeded", At: at},
		},
	}
}

// runStats is one Runner.Execute as seen from outside.
type runStats struct {
	run  reconcile.Run
	took time.Duration
	// Process memory, from /proc/self/status, in bytes. The high-water mark is reset before the
	// run when the kernel allows it (clear_refs), so hwmAfter is the run's own peak RSS; if not,
	// it is the process's peak since it started, seeding included.
	rssBefore, hwmBefore, hwmAfter uint64
	hwmReset                       bool
	// Go heap: in use after a GC before the run, the largest sampled during it, after it.
	heapBefore, heapPeak, heapAfter uint64
	allocated                       uint64 // TotalAlloc during the run
	gcs                             uint32
	samples                         int
	doubleTime                      time.Duration
	requests                        int64
	reportChunks                    int
	reportBytes                     int
	// CPU time (user and system) during the run of this process and of the double's.
	cpu, doubleCPU time.Duration
	// Live heap as of the last GC (runtime/metrics): what the process really held, unlike
	// HeapInuse, which also counts garbage the GC lets pile up to GOGC × the live heap.
	liveBefore, livePeak uint64
	spans                *spans
}

func (r runStats) heapGrowth() uint64 { return r.heapPeak - min(r.heapBefore, r.heapPeak) }

func (r runStats) liveGrowth() uint64 { return r.livePeak - min(r.liveBefore, r.livePeak) }

// measureRun queues a run of the campaign and carries it out with a fresh Runner, as an admin's
// request and the background loop would, sampling memory throughout, and profiling it if asked.
func measureRun(ctx context.Context, e *env, campaignID, cpuProfilePath string) (runStats, error) {
	var r runStats
	clock := backstitch.Clock(func() time.Time { return time.Now().UTC() })
	run, err := reconcile.NewRun(reconcile.Scope{CampaignID: campaignID}, "bench", clock())
	if err != nil {
		return r, err
	}
	if err := e.store.CreateRun(ctx, run); err != nil {
		return r, err
	}
	sp := &spans{}
	runner := reconcile.NewRunner(timedStore{Store: e.store, s: sp}, timedStripe{StripeSource: e.pay, s: sp}, clock, reconcile.RunnerOptions{Owner: "bench"})
	logCtx := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).WithContext(ctx)

	r.heapBefore = settledHeap()
	debug.FreeOSMemory()
	r.liveBefore = liveHeap()
	r.hwmReset = resetHWM()
	p := profile.ReadMem()
	r.rssBefore, r.hwmBefore = p.RSS, p.HWM
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	s0, err := e.double.Stats(ctx)
	if err != nil {
		return r, err
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			r.heapPeak = max(r.heapPeak, m.HeapInuse)
			r.livePeak = max(r.livePeak, liveHeap())
			r.samples++
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	if cpuProfilePath != "" {
		f, err := os.Create(cpuProfilePath)
		if err != nil {
			return r, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
	}
	start, cpu0 := time.Now(), profile.CPUTime()
	err = runner.Execute(logCtx, run.ID)
	r.took, r.cpu = time.Since(start), profile.CPUTime()-cpu0
	if cpuProfilePath != "" {
		pprof.StopCPUProfile()
	}
	close(stop)
	wg.Wait()

	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	r.heapPeak = max(r.heapPeak, m1.HeapInuse)
	r.livePeak = max(r.livePeak, liveHeap())
	r.spans = sp
	r.allocated, r.gcs = m1.TotalAlloc-m0.TotalAlloc, m1.NumGC-m0.NumGC
	r.hwmAfter = profile.ReadMem().HWM
	r.heapAfter = settledHeap()
	if err != nil {
		return r, fmt.Errorf("execute run %s: %w", run.ID, err)
	}
	s1, err := e.double.Stats(ctx)
	if err != nil {
		return r, err
	}
	// The stats calls themselves are not counted: they do not pass through the timed handler.
	r.doubleTime, r.requests = time.Duration(s1.HandlerNS-s0.HandlerNS), s1.Requests-s0.Requests
	r.doubleCPU = time.Duration(s1.CPUNS - s0.CPUNS)
	if r.run, err = e.store.FindRun(ctx, run.ID); err != nil {
		return r, err
	}
	if r.run.Status != reconcile.RunCompleted || r.run.Summary == nil {
		return r, fmt.Errorf("run %s ended %s (%s)", run.ID, r.run.Status, r.run.Error)
	}
	err = e.store.StreamReport(ctx, run.ID, r.run.Attempt, func(b []byte) error {
		r.reportChunks++
		r.reportBytes += len(b)
		return nil
	})
	return r, err
}

func (r runStats) print(out io.Writer, n int) {
	fmt.Fprintf(out, "  wall time (Runner.Execute):  %v (%.0f pledges/s)\n", r.took.Round(time.Millisecond), float64(n)/r.took.Seconds())
	row := func(label string, calls int, d time.Duration) {
		c := ""
		switch {
		case calls == 1:
			c = "1 call"
		case calls > 1:
			c = fmt.Sprintf("%d calls", calls)
		}
		fmt.Fprintf(out, "    %-62s %11s %9v %4.0f%%\n", label, c, d.Round(time.Millisecond), 100*d.Seconds()/r.took.Seconds())
	}
	var timed time.Duration
	for _, name := range spanOrder {
		if r.spans.n[name] == 0 {
			continue
		}
		row(name, r.spans.n[name], r.spans.d[name])
		timed += r.spans.d[name]
		if name == spanListCharges {
			row("  of which in the double's handler (validate, render, expand; summed over parallel requests)", int(r.requests), r.doubleTime)
		}
	}
	row(spanInProcessTag, 0, r.took-timed)
	fmt.Fprintf(out, "  CPU (user + system; less noisy than wall time on a shared machine): this process %v, the double's %v, together %v = %.2f of %d cores for the wall time\n",
		r.cpu.Round(time.Millisecond), r.doubleCPU.Round(time.Millisecond), (r.cpu + r.doubleCPU).Round(time.Millisecond),
		(r.cpu+r.doubleCPU).Seconds()/r.took.Seconds(), runtime.NumCPU())
	fmt.Fprintf(out, "  report: %d chunks, %s of gzipped CSV\n", r.reportChunks, mib(uint64(r.reportBytes)))
	fmt.Fprintf(out, "  Go live heap (as of each GC, sampled every %v): %s before, %s peak: +%s\n",
		sampleEvery, mib(r.liveBefore), mib(r.livePeak), mib(r.liveGrowth()))
	fmt.Fprintf(out, "  Go HeapInuse (garbage included): %s before, %s peak (%d samples), %s after: +%s\n",
		mib(r.heapBefore), mib(r.heapPeak), r.samples, mib(r.heapAfter), mib(r.heapGrowth()))
	fmt.Fprintf(out, "  Go allocations during the run: %s in total, %d GCs\n", mib(r.allocated), r.gcs)
	if r.hwmReset {
		fmt.Fprintf(out, "  process RSS (VmRSS, VmHWM reset before the run; embedded store, Runner and bench): %s before, peak %s: +%s\n",
			mib(r.rssBefore), mib(r.hwmAfter), mib(r.hwmAfter-min(r.rssBefore, r.hwmAfter)))
	} else {
		fmt.Fprintf(out, "  process VmHWM (embedded store, Runner and bench; could not reset it, so it covers seeding too): %s before, %s after\n",
			mib(r.hwmBefore), mib(r.hwmAfter))
	}
}

// phases are the parts of a run, each timed on its own over the same data.
type phases struct {
	listCharges, listTransfers, stream, group, compare, compareCSV time.Duration
	// CPU time of this process (embedded store included) for the ledger read, less noisy than
	// wall time on a shared machine; and the same read through FerretDB's query (served).
	streamCPU, servedStream, servedCPU time.Duration
	chargesDouble                      time.Duration
	// CPU time of the listing in this process (stripe-go's decoding, the adapter) and in the double's.
	listCPU, chargesDoubleCPU   time.Duration
	chargeRequests              int64
	charges, transfers, ledgers int
	held                        uint64 // heap the records take, after a GC
	csvBytes, gzBytes           int64
}

// measurePhases repeats from outside what the Runner does inside: list the charges and transfers,
// stream the ledger, group and sort them with reconcile.Group (as gather does), then compare, first with matches
// discarded and then writing the CSV report rows into gzip (not storing them).
func measurePhases(ctx context.Context, e *env, camp campaign.Campaign) (phases, error) {
	var ph phases
	campaignID := camp.ID
	// As the Runner lists a campaign's charges (see reconcile.Filter.Since).
	f := reconcile.Filter{TransferGroup: campaignID, Since: camp.CreatedAt}
	base := settledHeap()

	s0, err := e.double.Stats(ctx)
	if err != nil {
		return ph, err
	}
	t, cpu0 := time.Now(), profile.CPUTime()
	var charges []reconcile.Charge
	if err := e.pay.ListCharges(ctx, f, func(c reconcile.Charge) error { charges = append(charges, c); return nil }); err != nil {
		return ph, err
	}
	ph.listCharges, ph.listCPU = time.Since(t), profile.CPUTime()-cpu0
	s1, err := e.double.Stats(ctx)
	if err != nil {
		return ph, err
	}
	ph.chargesDouble, ph.chargeRequests = time.Duration(s1.HandlerNS-s0.HandlerNS), s1.Requests-s0.Requests
	ph.chargesDoubleCPU = time.Duration(s1.CPUNS - s0.CPUNS)

	t = time.Now()
	var transfers []reconcile.Transfer
	if err := e.pay.ListTransfers(ctx, f, func(tr reconcile.Transfer) error { transfers = append(transfers, tr); return nil }); err != nil {
		return ph, err
	}
	ph.listTransfers = time.Since(t)

	t, cpu := time.Now(), profile.CPUTime()
	var ledgers []reconcile.Ledger
	if err := e.store.StreamLedger(ctx, reconcile.Scope{CampaignID: campaignID}, func(l reconcile.Ledger) error { ledgers = append(ledgers, l); return nil }); err != nil {
		return ph, err
	}
	ph.stream, ph.streamCPU = time.Since(t), profile.CPUTime()-cpu
	if e.served != nil {
		t, cpu := time.Now(), profile.CPUTime()
		n := 0
		if err := e.served.StreamLedger(ctx, reconcile.Scope{CampaignID: campaignID}, func(reconcile.Ledger) error { n++; return nil }); err != nil {
			return ph, err
		}
		ph.servedStream, ph.servedCPU = time.Since(t), profile.CPUTime()-cpu
		if n != len(ledgers) {
			return ph, fmt.Errorf("FerretDB's query gave %d pledges, the scan %d", n, len(ledgers))
		}
	}
	ph.charges, ph.transfers, ph.ledgers = len(charges), len(transfers), len(ledgers)
	held := settledHeap()
	ph.held = held - min(base, held)

	t = time.Now()
	stripeSide := reconcile.Group(ledgers, charges, transfers)
	ph.group = time.Since(t)

	opts := reconcile.Options{Now: time.Now().UTC(), StuckAfter: time.Hour, PaidOut: map[string]bool{campaignID: false}}
	t = time.Now()
	if _, err := reconcile.Compare(slices.Values(ledgers), slices.Values(stripeSide), opts, func(reconcile.Match) error { return nil }); err != nil {
		return ph, err
	}
	ph.compare = time.Since(t)

	raw := &countingWriter{}
	zw := &countingWriter{}
	gz := gzip.NewWriter(zw)
	w := csv.NewWriter(io.MultiWriter(raw, gz))
	t = time.Now()
	_ = w.Write(reconcile.CSVHeader)
	if _, err := reconcile.Compare(slices.Values(ledgers), slices.Values(stripeSide), opts, func(m reconcile.Match) error { return reconcile.WriteRows(w, m) }); err != nil {
		return ph, err
	}
	w.Flush()
	if err := errors.Join(w.Error(), gz.Close()); err != nil {
		return ph, err
	}
	ph.compareCSV = time.Since(t)
	ph.csvBytes, ph.gzBytes = raw.n, zw.n
	return ph, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func (ph phases) print(out io.Writer, total time.Duration) {
	row := func(label string, d time.Duration) {
		fmt.Fprintf(out, "  %-76s %9v %4.0f%%\n", label, d.Round(time.Millisecond), 100*d.Seconds()/total.Seconds())
	}
	fmt.Fprintf(out, "\nthe same steps repeated alone after run 1, over the same data (and %% of run 1's wall time):\n")
	row(fmt.Sprintf("ListCharges (%d charges, %d requests of up to 100, in ranges side by side, balance transactions expanded)", ph.charges, ph.chargeRequests), ph.listCharges)
	row("  of which inside the double's handler (validate, render, expand; summed over requests in parallel)", ph.chargesDouble)
	fmt.Fprintf(out, "  %-76s %9v, the double's %v\n", "  CPU: this process (stripe-go requests, decoding the pages, the adapter)",
		ph.listCPU.Round(time.Millisecond), ph.chargesDoubleCPU.Round(time.Millisecond))
	row(fmt.Sprintf("ListTransfers (%d transfers)", ph.transfers), ph.listTransfers)
	if ph.servedStream > 0 {
		row(fmt.Sprintf("StreamLedger (%d pledges, scanned from the embedded store's files; CPU %v)", ph.ledgers, ph.streamCPU.Round(time.Millisecond)), ph.stream)
		row(fmt.Sprintf("  the same through FerretDB's query, the read the scan replaced (CPU %v)", ph.servedCPU.Round(time.Millisecond)), ph.servedStream)
		fmt.Fprintf(out, "  %-76s %8.1f×\n", "  scan vs query, CPU time (less noisy than wall time on a shared machine)",
			ph.servedCPU.Seconds()/max(ph.streamCPU.Seconds(), 1e-9))
	} else {
		row(fmt.Sprintf("StreamLedger (%d pledges, projected, unsorted; CPU %v)", ph.ledgers, ph.streamCPU.Round(time.Millisecond)), ph.stream)
	}
	row("group and sort both sides (reconcile.Group)", ph.group)
	row("Compare, matches discarded", ph.compare)
	row(fmt.Sprintf("Compare + CSV rows gzipped (%s CSV → %s), not stored", mib(uint64(ph.csvBytes)), mib(uint64(ph.gzBytes))), ph.compareCSV)
	fmt.Fprintf(out, "  records a run holds: %d charges + %d ledgers take %s of Go heap after GC\n", ph.charges, ph.ledgers, mib(ph.held))
}

// inject makes ten discrepancies of five kinds and returns what a run must find, keyed
// "kind|pledge id" (or "kind|charge id" for a charge of no known pledge).
func inject(ctx context.Context, e *env, campaignID string, firsts []first) (map[string]int, error) {
	if len(firsts) < 9 {
		return nil, fmt.Errorf("only %d pledges to inject discrepancies into", len(firsts))
	}
	want := map[string]int{}
	// The database says 40.00 where Stripe took 50.00.
	for _, f := range firsts[0:3] {
		if _, err := e.pledges.UpdateOne(ctx, bson.M{"_id": f.pledgeID}, bson.M{"$set": bson.M{"amount.amount": int64(4000)}}); err != nil {
			return nil, err
		}
		want[string(reconcile.AmountMismatch)+"|"+f.pledgeID]++
	}
	// A second succeeded charge for a pledge that has one.
	for _, f := range firsts[3:5] {
		if _, err := e.double.charges(ctx, campaignID, []string{f.pledgeID}); err != nil {
			return nil, err
		}
		want[string(reconcile.DuplicateCharge)+"|"+f.pledgeID]++
	}
	// Refunded in Stripe's dashboard, never recorded.
	for _, f := range firsts[5:7] {
		if err := e.double.refund(ctx, f.chargeID, 1000); err != nil {
			return nil, err
		}
		want[string(reconcile.RefundMismatch)+"|"+f.pledgeID]++
	}
	// Charges naming pledges that do not exist.
	for range 2 {
		made, err := e.double.charges(ctx, campaignID, []string{backstitch.NewID("plg")})
		if err != nil {
			return nil, err
		}
		want[string(reconcile.MissingInDB)+"|"+made[0].ChargeID]++
	}
	// A pledge recorded as collected whose PaymentIntent Stripe never saw.
	id := backstitch.NewID("plg")
	p := collected(id, campaignID, 1_000_000, "pi_bench_missing", "ch_bench_missing", time.Now().UTC())
	if _, err := e.pledges.InsertOne(ctx, p); err != nil {
		return nil, err
	}
	want[string(reconcile.MissingInStripe)+"|"+id]++
	return want, nil
}

// findingsOf reads every finding of a run's last attempt, keyed as inject keys them.
func findingsOf(ctx context.Context, store *mongostore.Store, run reconcile.Run) (map[string]int, error) {
	got := map[string]int{}
	after := 0
	for {
		page, err := store.FindFindings(ctx, reconcile.FindingFilter{RunID: run.ID, Attempt: run.Attempt, AfterSeq: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, f := range page {
			ref := f.PledgeID
			if ref == "" && len(f.Objects) > 0 {
				ref = f.Objects[0].ID
			}
			got[string(f.Kind)+"|"+ref]++
			after = f.Seq
		}
		if len(page) < 100 {
			return got, nil
		}
	}
}

func findingsTotal(s *reconcile.Summary) int {
	total := 0
	for _, c := range s.Findings {
		total += c
	}
	return total
}

// checkTotals makes sure the run saw both whole sides, not just found nothing wrong.
func checkTotals(s *reconcile.Summary, pledges, charges int64) error {
	if len(s.Totals) != 1 || s.Totals[0].Currency != pledgeCurr {
		return fmt.Errorf("totals in %d currencies, want one (%s)", len(s.Totals), pledgeCurr)
	}
	t := s.Totals[0]
	if t.Pledges.Matched.Count != pledges || t.Pledges.Total.Count != pledges || t.Charges.Matched.Count != charges || t.Charges.Total.Count != charges {
		return fmt.Errorf("matched %d of %d pledges and %d of %d charges, want %d and %d",
			t.Pledges.Matched.Count, t.Pledges.Total.Count, t.Charges.Matched.Count, t.Charges.Total.Count, pledges, charges)
	}
	if want := pledges * pledgeAmount; t.Gross != want || t.Collected != want {
		return fmt.Errorf("gross %d and collected %d, want %d", t.Gross, t.Collected, want)
	}
	return nil
}

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }

// liveHeap is the heap the last GC found live.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// settledHeap is the Go heap in use once garbage is collected.
func settledHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// resetHWM sets VmHWM back to the current RSS (Linux ≥ 4.0: "5" in clear_refs), so a later
// reading is the peak of what came after, not of seeding.
func resetHWM() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func mib(b uint64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
