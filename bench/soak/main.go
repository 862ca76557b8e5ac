// Command soak drives one instance of the service with mixed traffic at a bounded rate for a long
// time, and reports whether memory and goroutines stay flat and what p99 each kind of request
// sees, minute by minute.
//
//	go run ./bench/soak [-d 30m] [-rate 40] [-c 16] [-every 1m] [-warm 2m] [-heapprofiles dir]
//
// The traffic, open loop at -rate operations a second (each from its scheduled time, so a
// backlog counts in the latency): campaign page, home page and campaign JSON reads; pledges
// (create, then confirm with a test card, which makes the offline Stripe double send its
// webhooks to the service) on a coat limited to 50 units, a workshop of 12 places and an
// unlimited digital note; amount changes; cancels; reads of one's own pledge. The limited tiers
// sell out within minutes, so later pledges on them are refused (409 sold_out) and each cancel
// frees a unit that the next pledge may take: stock is raced all along.
//
// At each -every the process's live heap (after a GC), its goroutines and its RSS are sampled;
// the report gives their slope after -warm, per hour. The service, its embedded store and this
// load generator share one process, as the service does when it runs on the embedded store; the
// generator's own heap is small and constant (a few counters and the ids of the pledges it made).
// The Stripe double runs in a child process (bench/internal/double), as Stripe runs elsewhere
// for a deployment: everything it keeps per pledge would otherwise count as the service's
// growth. The service talks to it as to Stripe in test mode (STRIPE_API_URL), and it sends its
// signed webhooks to the service's endpoint. With -heapprofiles a heap profile is written at
// each interval, so two points of the run can be compared with go tool pprof -base.
//
// At the end every limited tier's remaining units are checked against the pledges this run
// made and cancelled: a unit oversold or lost in the run is an error, as is any 5xx or transport
// error. The exit status is 1 when there was any.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/bench/internal/double"
	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/bench/internal/site"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

func main() {
	dur := flag.Duration("d", 30*time.Minute, "how long to run")
	rate := flag.Float64("rate", 40, "operations a second (a pledge is one operation of two requests)")
	conc := flag.Int("c", 16, "concurrent clients")
	every := flag.Duration("every", time.Minute, "report interval")
	warm := flag.Duration("warm", 2*time.Minute, "warm-up left out of the slopes")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the traffic mix")
	memProfile := flag.String("memprofile", "", "write a memory profile at the end (go tool pprof -sample_index=inuse_space shows what holds the heap)")
	heapProfiles := flag.String("heapprofiles", "", "write a heap profile to this directory at each interval (heap-MMM.pprof, by minute)")
	commands := flag.Bool("commands", false, "after the warm-up, print the store commands per operation at each interval, by command and collection, with their mean time")
	child := flag.Bool(double.Flag, false, "internal: serve the Stripe double for the parent soak process")
	flag.Parse()
	if *child {
		if err := double.Serve(stripedouble.Options{}, nil); err != nil {
			fmt.Fprintln(os.Stderr, "soak double:", err)
			os.Exit(2)
		}
		return
	}
	failed, err := run(os.Stdout, config{dur: *dur, rate: *rate, conc: *conc, every: *every, warm: *warm, seed: *seed,
		memProfile: *memProfile, heapProfiles: *heapProfiles, commands: *commands})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

type config struct {
	dur, every, warm time.Duration
	rate             float64
	conc             int
	seed             uint64
	memProfile       string
	heapProfiles     string
	commands         bool
}

// The kinds of operation, with their weights in the mix.
type kind int

const (
	readPage kind = iota
	readHome
	readJSON
	pledgeOp
	changeOp
	cancelOp
	readPledge
	kinds
)

var (
	kindNames = [kinds]string{"campaign page", "home page", "campaign JSON", "pledge+confirm", "change amount", "cancel", "read own pledge"}
	weights   = [kinds]int{30, 10, 15, 20, 10, 6, 9}
)

func run(out io.Writer, cfg config) (failed bool, err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backstitch-soak-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(dir)
	if err != nil {
		return false, err
	}
	defer srv.Close()
	var commands *profile.Commands
	var monitor *event.CommandMonitor
	if cfg.commands {
		commands = &profile.Commands{}
		monitor = commands.Monitor()
	}
	store, err := site.OpenStore(ctx, srv, "bench_soak", monitor)
	if err != nil {
		return false, err
	}
	defer func() { _ = store.Close(ctx) }()
	dp, err := double.Start()
	if err != nil {
		return false, err
	}
	defer dp.Close()
	const webhookSecret = "whsec_soak"
	addr, stop, err := site.StartService(ctx, store, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "10000000",
		"STRIPE_SECRET_KEY": "sk_test_soak", "STRIPE_API_URL": dp.URL, "STRIPE_WEBHOOK_SECRET": webhookSecret})
	if err != nil {
		return false, err
	}
	defer stop()
	if err := dp.SetWebhook(ctx, "http://"+addr+"/webhooks/stripe", webhookSecret); err != nil {
		return false, err
	}
	c, err := site.LiveCampaign(addr)
	if err != nil {
		return false, err
	}
	if cfg.heapProfiles != "" {
		if err := os.MkdirAll(cfg.heapProfiles, 0o755); err != nil {
			return false, err
		}
	}
	l := &load{addr: addr, c: c, double: dp, heapProfiles: cfg.heapProfiles, commands: commands, warm: cfg.warm, rng: rand.New(rand.NewPCG(cfg.seed, 1)), made: map[string]int{}}
	fmt.Fprintf(out, "soak: %s at %.0f operations/s over %d clients, seed %d; one process: service, embedded store, load; the Stripe double in a child process\n",
		cfg.dur, cfg.rate, cfg.conc, cfg.seed)
	fmt.Fprintf(out, "%6s %8s %6s %8s %9s %9s %6s %11s %8s  %s\n", "minute", "ops", "errors", "refused", "live heap", "RSS", "gorout", "double RSS", "CPU ms/op", "p99 by kind (ms)")

	ops := make(chan scheduled, int(cfg.rate*10)+cfg.conc)
	var wg sync.WaitGroup
	for range cfg.conc {
		wg.Go(func() {
			for op := range ops {
				l.do(op)
			}
		})
	}
	start := time.Now()
	end := start.Add(cfg.dur)
	var samples []sample
	next := start.Add(cfg.every)
	interval := time.Duration(float64(time.Second) / cfg.rate)
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			break
		}
		if !at.Before(next) {
			samples = append(samples, l.sample(out, next.Sub(start)))
			next = next.Add(cfg.every)
		}
		time.Sleep(time.Until(at))
		select {
		case ops <- scheduled{at: at, kind: l.pick()}:
		default:
			// The clients are more than ten seconds behind: the service no longer keeps up with the
			// rate, which is a finding, not something to hide by queueing without bound.
			l.dropped()
		}
	}
	close(ops)
	wg.Wait()
	samples = append(samples, l.sample(out, time.Since(start)))
	profile.WriteAllocs(cfg.memProfile) // after sample's GC: inuse_space is what the run left live
	failed = l.report(out, samples, cfg.warm)
	if err := l.checkStock(out); err != nil {
		fmt.Fprintln(out, "STOCK:", err)
		failed = true
	}
	return failed, nil
}

type scheduled struct {
	at   time.Time
	kind kind
}

// load holds what the run made and what it measured.
type load struct {
	addr         string
	c            site.Campaign
	double       *double.Proc
	heapProfiles string // a directory, or "" for none
	// commands counts the store's commands after warm (nil: not asked for).
	commands *profile.Commands
	warm     time.Duration

	mu      sync.Mutex
	rng     *rand.Rand
	pledges []pledge       // the run's pledges that are not cancelled
	made    map[string]int // tier → pledges made on it minus those cancelled
	seq     int
	lat     [kinds][]time.Duration // since the last sample
	ops     int
	errs    []string // since the last sample, the first few
	nerr    int      // in the whole run
	refused int      // 409s and 422s the traffic expects (sold out, a pledge already cancelled)
	// lastOps and lastCPU are ops and this process's CPU time at the last sample.
	lastOps int
	lastCPU time.Duration
	// counting says commands has been started.
	counting bool
}

type pledge struct{ id, token, tier string }

func (l *load) pick() kind {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, w := range weights {
		total += w
	}
	n := l.rng.IntN(total)
	for k, w := range weights {
		if n < w {
			return kind(k)
		}
		n -= w
	}
	return readPage
}

// do runs one operation and counts it.
func (l *load) do(op scheduled) {
	var status int
	var err error
	switch op.kind {
	case readPage:
		status, _, _, err = site.Get(l.addr, "/campaigns/"+l.c.Slug)
	case readHome:
		status, _, _, err = site.Get(l.addr, "/")
	case readJSON:
		status, _, _, err = site.Get(l.addr, "/api/v1/campaigns/"+l.c.Slug)
	case pledgeOp:
		status, err = l.pledge()
	case changeOp, cancelOp, readPledge:
		p, ok := l.anyPledge(op.kind == cancelOp)
		if !ok {
			op.kind = pledgeOp
			status, err = l.pledge()
			break
		}
		switch op.kind {
		case changeOp:
			extra := 100 * (1 + l.intn(50))
			status, _, err = site.Call("PATCH", l.addr, "/api/v1/pledges/"+p.id, "",
				fmt.Sprintf(`{"amount":{"amount":%d,"currency":"CHF"}}`, price(l.c, p.tier)+extra), "X-Manage-Token", p.token)
		case cancelOp:
			status, _, err = site.Call("POST", l.addr, "/api/v1/pledges/"+p.id+"/cancel", "", "", "X-Manage-Token", p.token)
			if err == nil && status == 200 {
				l.mu.Lock()
				l.made[p.tier]--
				l.mu.Unlock()
			} else {
				l.keep(p) // not cancelled: it stays the run's
			}
		default:
			status, _, err = site.Call("GET", l.addr, "/api/v1/pledges/"+p.id, "", "", "X-Manage-Token", p.token)
		}
	}
	l.count(op, status, err)
}

// pledge backs one of the three tiers and confirms it with a test card.
func (l *load) pledge() (int, error) {
	l.mu.Lock()
	l.seq++
	n := l.seq
	tier := l.c.Note
	switch r := l.rng.IntN(10); {
	case r < 2:
		tier = l.c.Coat
	case r < 3:
		tier = l.c.Workshop
	}
	l.mu.Unlock()
	body := fmt.Sprintf(`{"tier_id":%q,"amount":{"amount":%d,"currency":"CHF"},"backer":{"email":"backer%d@soak.example","name":"Backer %d"}`,
		tier, price(l.c, tier), n, n)
	if tier == l.c.Coat {
		body += `,"shipping_address":{"name":"Backer","line1":"Rue du Rhône 1","postal_code":"1204","city":"Genève","country":"CH"}`
	}
	body += "}"
	status, b, err := site.Call("POST", l.addr, "/api/v1/campaigns/"+l.c.Slug+"/pledges", "", body, "Idempotency-Key", "soak-"+strconv.Itoa(n))
	if err != nil || status != 201 {
		return status, err
	}
	var p struct {
		ID          string `json:"id"`
		ManageToken string `json:"manage_token"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.made[tier]++
	l.mu.Unlock()
	status, b, err = site.Call("POST", l.addr, "/api/v1/pledges/"+p.ID+"/confirm", "", `{"payment_method":"pm_card_visa"}`, "X-Manage-Token", p.ManageToken)
	if err == nil && status != 200 {
		// A pledge made but not confirmed keeps its unit until its hold expires, which would
		// make the stock check at the end wrong: it is an error of the run, not a refusal.
		err = fmt.Errorf("confirm answered %d: %.200s", status, b)
	}
	if err == nil {
		l.keep(pledge{id: p.ID, token: p.ManageToken, tier: tier})
	}
	return status, err
}

func price(c site.Campaign, tier string) int {
	switch tier {
	case c.Coat:
		return 32000
	case c.Workshop:
		return 9000
	}
	return 1000
}

func (l *load) intn(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.IntN(n)
}

// anyPledge picks one of the run's pledges; take removes it (for a cancel, so no other client
// works on it meanwhile).
func (l *load) anyPledge(take bool) (pledge, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pledges) == 0 {
		return pledge{}, false
	}
	i := l.rng.IntN(len(l.pledges))
	p := l.pledges[i]
	if take {
		l.pledges[i] = l.pledges[len(l.pledges)-1]
		l.pledges = l.pledges[:len(l.pledges)-1]
	}
	return p, true
}

func (l *load) keep(p pledge) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.ContainsFunc(l.pledges, func(q pledge) bool { return q.id == p.id }) {
		l.pledges = append(l.pledges, p)
	}
}

// count records an operation's latency from its scheduled time, and its outcome: 2xx, a refusal
// the traffic expects (409: sold out, or changed by another client meanwhile), or an error.
func (l *load) count(op scheduled, status int, err error) {
	lat := time.Since(op.at)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops++
	l.lat[op.kind] = append(l.lat[op.kind], lat)
	switch {
	case err == nil && status >= 200 && status < 300:
	case err == nil && status == 409:
		l.refused++
	default:
		l.nerr++
		if len(l.errs) < 5 {
			l.errs = append(l.errs, fmt.Sprintf("%s: %d %v", kindNames[op.kind], status, err))
		}
	}
}

// dropped counts an operation not sent because the clients were ten seconds behind.
func (l *load) dropped() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nerr++
	if len(l.errs) < 5 {
		l.errs = append(l.errs, "not sent: the clients are more than 10 s behind the rate")
	}
}

type sample struct {
	at         time.Duration
	heap, rss  uint64
	goroutines int
	// cpuPerOp is this process's CPU time per operation over the interval: on a shared machine
	// p99 follows the other processes' load, while a service doing more work per request as its
	// data grows shows here.
	cpuPerOp time.Duration
}

// sample prints one line of the report and starts the next interval.
func (l *load) sample(out io.Writer, at time.Duration) sample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := sample{at: at, heap: m.HeapAlloc, rss: profile.ReadMem().RSS, goroutines: runtime.NumGoroutine()}
	cpu := profile.CPUTime()
	if l.heapProfiles != "" {
		profile.WriteHeap(filepath.Join(l.heapProfiles, fmt.Sprintf("heap-%03.0f.pprof", at.Minutes())))
	}
	var doubleRSS string
	if ds, err := l.double.Stats(context.Background()); err == nil {
		doubleRSS = fmt.Sprintf("%.1fM", mib(ds.RSS))
	}
	l.mu.Lock()
	opsInInterval := l.ops - l.lastOps
	if opsInInterval > 0 {
		s.cpuPerOp = (cpu - l.lastCPU) / time.Duration(opsInInterval)
	}
	l.lastOps, l.lastCPU = l.ops, cpu
	var p99s []string
	for k := range kinds {
		if len(l.lat[k]) > 0 {
			p99s = append(p99s, fmt.Sprintf("%s %.1f", kindNames[k], ms(p99(l.lat[k]))))
		}
		l.lat[k] = l.lat[k][:0]
	}
	fmt.Fprintf(out, "%6.1f %8d %6d %8d %8.1fM %8.1fM %6d %11s %8.1f  %s\n", at.Minutes(), l.ops, l.nerr, l.refused,
		mib(s.heap), mib(s.rss), s.goroutines, doubleRSS, ms(s.cpuPerOp), strings.Join(p99s, ", "))
	for _, e := range l.errs {
		fmt.Fprintln(out, "       error:", e)
	}
	l.errs = l.errs[:0]
	if l.commands != nil && at >= l.warm {
		// Per interval, so a command whose time grows with the data stands out.
		if opsInInterval > 0 && l.counting {
			l.commands.Report(out, opsInInterval)
		}
		l.commands.Start()
		l.counting = true
	}
	l.mu.Unlock()
	return s
}

// report prints the slopes after the warm-up and says whether the run had errors.
func (l *load) report(out io.Writer, samples []sample, warm time.Duration) (failed bool) {
	var after []sample
	for _, s := range samples {
		if s.at >= warm {
			after = append(after, s)
		}
	}
	if len(after) >= 3 {
		first, last := after[0], after[len(after)-1]
		fmt.Fprintf(out, "after the warm-up (%.0f to %.0f min): live heap %.1f → %.1f MiB (slope %+.1f MiB/h), RSS %.1f → %.1f MiB (%+.1f MiB/h), goroutines %d → %d (%+.1f/h)\n",
			first.at.Minutes(), last.at.Minutes(),
			mib(first.heap), mib(last.heap), slope(after, func(s sample) float64 { return mib(s.heap) }),
			mib(first.rss), mib(last.rss), slope(after, func(s sample) float64 { return mib(s.rss) }),
			first.goroutines, last.goroutines, slope(after, func(s sample) float64 { return float64(s.goroutines) }))
		fmt.Fprintf(out, "CPU per operation (this process: service, store, load): %.1f → %.1f ms (slope %+.1f ms/h)\n",
			ms(first.cpuPerOp), ms(last.cpuPerOp), slope(after, func(s sample) float64 { return ms(s.cpuPerOp) }))
	} else {
		fmt.Fprintln(out, "too short for slopes: run longer than the warm-up plus three report intervals")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(out, "operations %d, refused as expected (409) %d, errors %d; pledges standing %d\n", l.ops, l.refused, l.nerr, len(l.pledges))
	return l.nerr > 0
}

// checkStock compares each limited tier's remaining units on the campaign's JSON with the run's
// own count of the pledges it holds.
func (l *load) checkStock(out io.Writer) error {
	status, b, _, err := site.Get(l.addr, "/api/v1/campaigns/"+l.c.Slug)
	if err != nil || status != 200 {
		return fmt.Errorf("campaign read: %d %v", status, err)
	}
	var c struct {
		Tiers []struct {
			ID        string `json:"id"`
			Limit     *int   `json:"limit"`
			Remaining *int   `json:"remaining"`
		} `json:"tiers"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	var errs error
	for _, t := range c.Tiers {
		if t.Limit == nil || t.Remaining == nil {
			continue
		}
		want := *t.Limit - l.made[t.ID]
		fmt.Fprintf(out, "tier %s: limit %d, held by the run %d, remaining %d (want %d)\n", t.ID, *t.Limit, l.made[t.ID], *t.Remaining, want)
		if *t.Remaining != want {
			errs = errors.Join(errs, fmt.Errorf("tier %s: remaining %d, want %d", t.ID, *t.Remaining, want))
		}
	}
	return errs
}

// slope is the least-squares slope of f over the samples, per hour.
func slope(s []sample, f func(sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, v := range s {
		x, y := v.at.Hours(), f(v)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func p99(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(0.99*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
