// Command publicread measures the public campaign JSON (GET /api/v1/campaigns/{slug}, anonymous)
// and the campaign page (GET /campaigns/{slug}, HTML), each against a bare Fiber handler returning
// the same bytes, in one run on one machine, so the ratios mean something even where absolute
// numbers are noisy. Then it measures how long a pledge made on one instance takes to show on
// the page served by another (target: within 2 s, BACKSTITCH_PUBLIC_CACHE_TTL).
//
//	go run ./bench/publicread [-c 32] [-d 3s] [-rounds 3] [-explain]
//
// Both servers listen on loopback in this process; the load generator (fasthttp's client, c
// connections, each sending its next request when the last one answered) runs in a child process
// (see remote), so the three share the machine's cores the same way for both measurements and
// the generator's garbage is not collected by the servers' GC. After the saturation runs,
// the service is driven open-loop at half of the rate it reached, in as many alternating rounds
// with the bare handler, and p99 is measured from each request's scheduled send time (a request
// that waits for a busy connection counts its wait); each side's median round is reported.
// The service is the full stack: every middleware, the embedded store, the offline Stripe double.
// One instance serves the measurements; a second on the same store starts only for the check that
// a pledge shows on another instance, so that its background work (sweeps, the outbox relay, its
// own garbage) is not charged to the first one's tail, as it would not be on separate machines.
//
// With -explain, each half-load round of the service also lists the 100 ms windows whose slowest
// request took over 10 ms, beside what the service did then: garbage collections and the store
// commands it sent (a warm cache sends none, so any command there is background work).
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/bench/internal/double"
	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/bench/internal/site"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

func main() {
	conc := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 3*time.Second, "duration of each measurement")
	rounds := flag.Int("rounds", 3, "alternating saturation rounds of each server")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	allocProfile := flag.String("allocprofile", "", "write a profile of the run's allocations to this file")
	generate := flag.String("generate", "", "(internal) run as the load generator with these JSON settings, answering a JSON result")
	child := flag.Bool(double.Flag, false, "(internal) serve the Stripe double for the parent process")
	flag.BoolVar(&explain, "explain", false, "list the slow windows of each half-load round beside the service's garbage collections and store commands")
	flag.Parse()
	if *child {
		if err := double.Serve(stripedouble.Options{}, nil); err != nil {
			fmt.Fprintln(os.Stderr, "bench double:", err)
			os.Exit(2)
		}
		return
	}
	if *generate != "" {
		if err := generator(*generate, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench generator:", err)
			os.Exit(1)
		}
		return
	}
	stopProfile := profile.Start(*cpuProfile)
	defer stopProfile()
	defer profile.WriteAllocs(*allocProfile)
	if err := run(os.Stdout, *conc, *rounds, *dur); err != nil {
		stopProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, conc, rounds int, dur time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backstitch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	store, err := site.OpenStore(ctx, srv, "bench_publicread", commandLog.monitor())
	if err != nil {
		return err
	}
	defer func() { _ = store.Close(ctx) }()
	// The Stripe double runs in a child process, as Stripe runs elsewhere: in this one, the
	// OpenAPI spec it validates with would double the live heap every GC cycle marks.
	dp, err := double.Start()
	if err != nil {
		return err
	}
	defer dp.Close()
	const webhookSecret = "whsec_publicread"
	env := map[string]string{"STRIPE_SECRET_KEY": "sk_test_publicread", "STRIPE_API_URL": dp.URL, "STRIPE_WEBHOOK_SECRET": webhookSecret}
	service, stop, err := site.StartService(ctx, store, env)
	if err != nil {
		return err
	}
	defer stop()
	if err := dp.SetWebhook(ctx, "http://"+service+"/webhooks/stripe", webhookSecret); err != nil {
		return err
	}
	c, err := site.LiveCampaign(service)
	if err != nil {
		return err
	}
	for _, target := range []struct{ name, path string }{{"campaign JSON", "/api/v1/campaigns/" + c.Slug}, {"campaign page", "/campaigns/" + c.Slug}} {
		if err := compare(out, service, target.name, target.path, conc, rounds, dur); err != nil {
			return err
		}
	}
	// A second instance on the same store, as behind a load balancer: it hears of the pledge only
	// through the store, after its cached copy expires.
	other, stopOther, err := site.StartService(ctx, store, env)
	if err != nil {
		return err
	}
	defer stopOther()
	return pledgeShows(out, service, other, c)
}

// compare measures one public read against a bare Fiber handler answering the same bytes.
func compare(out io.Writer, service, name, path string, conc, rounds int, dur time.Duration) error {
	status, body, contentType, err := site.Get(service, path)
	if err != nil || status != 200 {
		return fmt.Errorf("%s: %d %v", name, status, err)
	}
	bare, stopBare, err := startBare(body, contentType)
	if err != nil {
		return err
	}
	defer stopBare()

	fmt.Fprintf(out, "\nGET %s (%d bytes), %d connections, %d alternating rounds of %s each, medians\n", path, len(body), conc, rounds, dur)
	// Rounds alternate so that whatever else the machine does weighs on both alike.
	var bareRuns, runs []result
	for range rounds {
		r, err := saturate(bare, path, body, conc, dur)
		if err != nil {
			return fmt.Errorf("bare handler: %w", err)
		}
		bareRuns = append(bareRuns, r)
		if r, err = saturate(service, path, body, conc, dur); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		runs = append(runs, r)
	}
	bareMax, svc := median(bareRuns), median(runs)
	report(out, "bare Fiber handler, saturated", bareMax)
	report(out, name+", saturated", svc)
	half := svc.rate / 2
	// The tail at half load alternates rounds too, and each side's median p99 is reported: one
	// 3-second round's p99 rests on its slowest few hundred requests, which one hiccup of the
	// machine's makes.
	var bareHalfRuns, halfRuns []result
	var before, after runtime.MemStats
	var allocated, cycles uint64
	var served float64
	for range rounds {
		r, err := paced(bare, path, body, conc, dur, half)
		if err != nil {
			return fmt.Errorf("bare handler at half load: %w", err)
		}
		bareHalfRuns = append(bareHalfRuns, r)
		runtime.ReadMemStats(&before)
		commandLog.start()
		if r, err = paced(service, path, body, conc, dur, half); err != nil {
			return fmt.Errorf("%s at half load: %w", name, err)
		}
		runtime.ReadMemStats(&after)
		if explain {
			explainRound(out, r.slow, commandLog.stop())
		}
		halfRuns = append(halfRuns, r)
		allocated += after.TotalAlloc - before.TotalAlloc
		cycles += uint64(after.NumGC - before.NumGC)
		served += r.rate * dur.Seconds()
	}
	bareHalf, atHalf := medianTail(bareHalfRuns), medianTail(halfRuns)
	report(out, fmt.Sprintf("bare Fiber handler at %.0f req/s", half), bareHalf)
	report(out, fmt.Sprintf("%s at %.0f req/s", name, half), atHalf)
	// What sets the garbage collector's pace, whose cycles land on the tail: the bytes each
	// request allocates (the whole process's, both instances', during these rounds) and the
	// cycles run. Unlike the latencies, these hardly move with the machine's other load.
	fmt.Fprintf(out, "%-40s %9.0f B/req   %d GC cycles in %d rounds, live heap %.0f MiB\n", "  allocated at half load",
		float64(allocated)/served, cycles, rounds, float64(after.HeapAlloc)/(1<<20))
	fmt.Fprintf(out, "%s: %.1f%% of the bare handler (target >= 50%%); p99 at half load %.2f ms (target <= 10 ms; the bare handler's %.2f ms is the machine's floor)\n",
		name, 100*svc.rate/bareMax.rate, ms(atHalf.p99), ms(bareHalf.p99))
	return nil
}

// pledgeShows makes a pledge on one instance and measures how long until each instance's
// campaign page shows it (the writing one at once, the other within the cache's TTL).
func pledgeShows(out io.Writer, writer, other string, c site.Campaign) error {
	path := "/campaigns/" + c.Slug
	before := map[string][]byte{}
	for _, addr := range []string{writer, other} {
		_, body, _, err := site.Get(addr, path)
		if err != nil {
			return err
		}
		before[addr] = body
	}
	status, b, err := site.Call("POST", writer, "/api/v1/campaigns/"+c.Slug+"/pledges", "",
		`{"tier_id":"`+c.Note+`","amount":{"amount":1000,"currency":"CHF"},"backer":{"email":"b@bench.example","name":"B"}}`, "Idempotency-Key", "bench-pledge")
	if err != nil || status != 201 {
		return fmt.Errorf("pledge: %d %v %s", status, err, b)
	}
	var p struct {
		ID          string `json:"id"`
		ManageToken string `json:"manage_token"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if status, b, err = site.Call("POST", writer, "/api/v1/pledges/"+p.ID+"/confirm", "", `{"payment_method":"pm_card_visa"}`, "X-Manage-Token", p.ManageToken); err != nil || status != 200 {
		return fmt.Errorf("confirm: %d %v %s", status, err, b)
	}
	made := time.Now()
	fmt.Fprintln(out)
	for _, inst := range []struct{ name, addr string }{{"the instance that took it", writer}, {"another instance", other}} {
		for {
			_, body, _, err := site.Get(inst.addr, path)
			if err != nil {
				return err
			}
			if !bytes.Equal(body, before[inst.addr]) {
				fmt.Fprintf(out, "a pledge is on the campaign page of %s after %.0f ms (target <= 2000 ms)\n", inst.name, ms(time.Since(made)))
				break
			}
			if time.Since(made) > 10*time.Second {
				return fmt.Errorf("the pledge is not on the page of %s after 10 s", inst.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// medianTail is the run with the median p99.
func medianTail(runs []result) result {
	slices.SortFunc(runs, func(a, b result) int { return cmp.Compare(a.p99, b.p99) })
	return runs[len(runs)/2]
}

// median is the run with the median rate.
func median(runs []result) result {
	slices.SortFunc(runs, func(a, b result) int { return cmp.Compare(a.rate, b.rate) })
	return runs[len(runs)/2]
}

type result struct {
	rate     float64
	p50, p99 time.Duration
	// slow are the paced run's windows whose slowest request took over slowRequest (-explain).
	slow []window
}

func report(out io.Writer, name string, r result) {
	fmt.Fprintf(out, "%-40s %9.0f req/s   p50 %6.2f ms   p99 %6.2f ms\n", name, r.rate, ms(r.p50), ms(r.p99))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// -explain: where a round's tail comes from.
var (
	explain    bool
	commandLog commands
)

const (
	windowSize  = 100 * time.Millisecond
	slowRequest = 10 * time.Millisecond
)

// window is a windowSize slice of a paced run in which some request took over slowRequest.
type window struct {
	Start      time.Time
	Requests   int
	Slow       int
	Worst      time.Duration
	FirstWorst time.Time // the send time of the first request over slowRequest
}

func slowWindows(lat []sample) []window {
	by := map[int64]*window{}
	for _, s := range lat {
		k := s.sent.UnixNano() / int64(windowSize)
		w := by[k]
		if w == nil {
			w = &window{Start: time.Unix(0, k*int64(windowSize))}
			by[k] = w
		}
		w.Requests++
		if s.took > slowRequest {
			if w.Slow == 0 || s.sent.Before(w.FirstWorst) {
				w.FirstWorst = s.sent
			}
			w.Slow++
		}
		w.Worst = max(w.Worst, s.took)
	}
	var slow []window
	for _, w := range by {
		if w.Slow > 0 {
			slow = append(slow, *w)
		}
	}
	slices.SortFunc(slow, func(a, b window) int { return a.Start.Compare(b.Start) })
	return slow
}

// commands records when the service sent which store command while a round ran.
type commands struct {
	mu   sync.Mutex
	on   bool
	sent []sentCommand
}

type sentCommand struct {
	at   time.Time
	what string
}

func (c *commands) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.on {
			coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
			c.sent = append(c.sent, sentCommand{time.Now(), e.CommandName + " " + coll})
		}
	}}
}

func (c *commands) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on, c.sent = true, nil
}

func (c *commands) stop() []sentCommand {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.sent
}

// explainRound prints each slow window beside the collections and store commands that began in
// it or in the window before (a command's work outlasts its start).
func explainRound(out io.Writer, slow []window, sent []sentCommand) {
	var gc debug.GCStats
	debug.ReadGCStats(&gc)
	fmt.Fprintf(out, "  %d slow windows of %s (a request over %s):\n", len(slow), windowSize, slowRequest)
	for _, w := range slow {
		from, to := w.Start.Add(-windowSize), w.Start.Add(windowSize)
		var notes []string
		for _, end := range gc.PauseEnd {
			if !end.Before(from) && end.Before(to) {
				notes = append(notes, "GC pause at "+end.Format("05.000"))
			}
		}
		for _, cmd := range sent {
			if !cmd.at.Before(from) && cmd.at.Before(to) {
				notes = append(notes, cmd.what+" at "+cmd.at.Format("05.000"))
			}
		}
		fmt.Fprintf(out, "    %s  %4d requests, %3d slow from %s, worst %6.2f ms  %s\n", w.Start.Format("15:04:05.000"),
			w.Requests, w.Slow, w.FirstWorst.Format("05.000"), ms(w.Worst), strings.Join(notes, ", "))
	}
}

// startBare serves body at every path with the given content type, and nothing else.
func startBare(body []byte, contentType string) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	f := fiber.New(fiber.Config{DisableStartupMessage: true})
	f.Get("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, contentType)
		return c.Send(body)
	})
	go func() { _ = f.Listener(ln) }()
	return ln.Addr().String(), func() { _ = f.Shutdown() }, nil
}

// The load generator runs in a child process: this same binary started with -generate. In the
// bench's own process its garbage (a response buffer and a latency per request, about as much
// as the service allocates) would set the pace of the garbage collector the service runs
// under, and a GC cycle's marking lands on the service's tail latency; real clients are on
// other machines. The child shares the cores, as clients on the same machine would.

// job is what one run of the generator does.
type job struct {
	Addr, Path, WantFile string
	Conc                 int
	Warm, Dur            time.Duration
	// Rate, when set, paces the requests open loop; without, each connection sends its next
	// request when the last one answered.
	Rate float64
}

type jobResult struct {
	Rate     float64
	P50, P99 time.Duration
	Slow     []window
}

// saturate runs conc closed-loop connections for dur after a short warm-up.
func saturate(addr, path string, want []byte, conc int, dur time.Duration) (result, error) {
	return remote(job{Addr: addr, Path: path, Conc: conc, Warm: dur / 5, Dur: dur}, want)
}

// paced sends rate requests a second, open loop, over conc connections, after a warm-up at the
// same rate that is not measured: it opens the connections and refills a cache entry that
// expired while the other server was measured, as a page read all along never sees.
func paced(addr, path string, want []byte, conc int, dur time.Duration, rate float64) (result, error) {
	return remote(job{Addr: addr, Path: path, Conc: conc, Warm: dur / 5, Dur: dur, Rate: rate}, want)
}

// remote runs j in a child process and returns what it measured.
func remote(j job, want []byte) (result, error) {
	f, err := os.CreateTemp("", "backstitch-bench-want-")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(want); err != nil {
		f.Close()
		return result{}, err
	}
	if err := f.Close(); err != nil {
		return result{}, err
	}
	j.WantFile = f.Name()
	settings, err := json.Marshal(j)
	if err != nil {
		return result{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, "-generate", string(settings))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("load generator: %w", err)
	}
	var r jobResult
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("load generator answered %q: %w", out, err)
	}
	return result{rate: r.Rate, p50: r.P50, p99: r.P99, slow: r.Slow}, nil
}

// generator is the child's side of remote.
func generator(settings string, out io.Writer) error {
	var j job
	if err := json.Unmarshal([]byte(settings), &j); err != nil {
		return err
	}
	want, err := os.ReadFile(j.WantFile)
	if err != nil {
		return err
	}
	pace := func(start time.Time) func() time.Time {
		if j.Rate == 0 {
			return nil
		}
		interval := time.Duration(float64(time.Second) / j.Rate)
		var n atomic.Int64
		return func() time.Time { return start.Add(time.Duration(n.Add(1)-1) * interval) }
	}
	// One client for the warm-up and the measurement: the connections the warm-up opened are
	// the ones measured, as a client that has been reading all along holds them.
	hc := &fasthttp.HostClient{Addr: j.Addr, MaxConns: j.Conc}
	if j.Warm > 0 {
		warm := time.Now()
		if _, err := load(hc, j.Path, want, j.Conc, warm.Add(j.Warm), pace(warm)); err != nil {
			return err
		}
	}
	start := time.Now()
	lat, err := load(hc, j.Path, want, j.Conc, start.Add(j.Dur), pace(start))
	if err != nil {
		return err
	}
	r := summarise(lat, time.Since(start))
	var slow []window
	if j.Rate > 0 {
		slow = slowWindows(lat)
	}
	return json.NewEncoder(out).Encode(jobResult{Rate: r.rate, P50: r.p50, P99: r.p99, Slow: slow})
}

// load sends requests on conc connections of hc until end. With schedule, each request waits for its
// scheduled time and its latency counts from then; without, requests follow each other at once.
func load(hc *fasthttp.HostClient, path string, want []byte, conc int, end time.Time, schedule func() time.Time) ([]sample, error) {
	var mu sync.Mutex
	var all []sample
	var errs error
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			req.SetRequestURI("http://" + hc.Addr + path)
			lat := make([]sample, 0, 1<<16)
			var err error
			for {
				sent := time.Now()
				if schedule != nil {
					sent = schedule()
					time.Sleep(time.Until(sent))
				}
				if !sent.Before(end) {
					break
				}
				if err = hc.Do(req, res); err != nil {
					break
				}
				if res.StatusCode() != 200 || !bytes.Equal(res.Body(), want) {
					err = fmt.Errorf("answer %d with %d bytes differs from the expected one", res.StatusCode(), len(res.Body()))
					break
				}
				lat = append(lat, sample{sent, time.Since(sent)})
			}
			mu.Lock()
			all = append(all, lat...)
			errs = errors.Join(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, errs
}

// sample is one request: when it was (to be) sent, and how long its answer took from then.
type sample struct {
	sent time.Time
	took time.Duration
}

func summarise(lat []sample, elapsed time.Duration) result {
	if len(lat) == 0 {
		return result{}
	}
	took := make([]time.Duration, len(lat))
	for i, s := range lat {
		took[i] = s.took
	}
	slices.Sort(took)
	at := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	return result{rate: float64(len(lat)) / elapsed.Seconds(), p50: at(0.50), p99: at(0.99)}
}
