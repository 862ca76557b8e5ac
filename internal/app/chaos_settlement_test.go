//go:build !production

package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripepay"
	"github.com/backstitch/backstitch/internal/testenv"
)

// The settler under SIGKILL runs in child processes: the test binary re-executed with
// chaosChildEnv set, connected to the parent's embedded store and Stripe double over loopback.
// Each child is killed for real (SIGKILL, by itself) at one point chosen by the parent: before or
// after its nth store write, or before or after its nth Stripe call. Nothing in the service knows
// about crash points: they sit in the child's store command monitor and in a reverse proxy in
// front of its Stripe client, so they strike whatever the write paths look like.
const (
	chaosChildEnv = "BACKSTITCH_CHAOS_CHILD" // the settlement the child runs, as JSON-free key=value lines
	chaosKillsEnv = "BACKSTITCH_CHAOS_KILLS" // how many kills the test makes (default chaosDefaultKills)
	chaosSeedEnv  = "BACKSTITCH_CHAOS_SEED"  // the seed that picks the points (default: random, logged)
	// chaosDefaultKills keeps the test near half a minute (each kill starts a process); the
	// issue's 100 points are BACKSTITCH_CHAOS_KILLS=100: about 40 s on two cores, 75 s when busy.
	chaosDefaultKills = 60
	chaosLeaseTTL     = time.Minute
)

// crashKinds are the points a child can die at.
var crashKinds = []string{"store-before", "store-after", "stripe-before", "stripe-after"}

// crashPoint kills this process at the count-th event of its kind; the zero value never does.
type crashPoint struct {
	kind  string
	count int
	mu    sync.Mutex
	seen  map[string]int
}

func (c *crashPoint) hit(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[kind]++
	if kind == c.kind && c.seen[kind] == c.count {
		// SIGKILL: no deferred function, no flush, no lease release; the connection to the store
		// and any request to Stripe in flight are cut by the kernel.
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is delivered asynchronously; never go on
	}
}

// childSettings reads what a parent passed a chaos child in the environment variable name
// (key=value lines): every setting, the clock's time ("now") and the crash point ("crash",
// kind:count; none when empty).
func childSettings(name string) (env map[string]string, now time.Time, crash *crashPoint, err error) {
	env = map[string]string{}
	for _, line := range strings.Split(os.Getenv(name), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	if now, err = time.Parse(time.RFC3339Nano, env["now"]); err != nil {
		return nil, now, nil, err
	}
	crash = &crashPoint{seen: map[string]int{}}
	if kind, n, ok := strings.Cut(env["crash"], ":"); ok {
		crash.kind = kind
		if crash.count, err = strconv.Atoi(n); err != nil {
			return nil, now, nil, err
		}
	}
	return env, now, crash, nil
}

func storeWrite(name string) bool {
	switch name {
	case "insert", "update", "delete", "findAndModify":
		return true
	}
	return false
}

// chaosChildMain runs one settler in a child process and returns its exit code. The parent
// passes what the child needs as environment: store URI and database, the double's URL and key,
// the clock's time, the campaign, and the crash point.
func chaosChildMain() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "chaos child:", err); return 2 }
	env, now, crash, err := childSettings(chaosChildEnv)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	// The indexes as the parent's store has them: opened otherwise, it would make or drop some.
	store, err := mongostore.Open(ctx, mongostore.Options{URI: env["store"], Database: env["database"], SingleConnection: true,
		ConstraintIndexesOnly: env["unique_indexes"] == "true",
		Monitor: &event.CommandMonitor{
			Started: func(_ context.Context, e *event.CommandStartedEvent) {
				if storeWrite(e.CommandName) {
					crash.hit("store-before")
				}
			},
			Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
				if storeWrite(e.CommandName) {
					crash.hit("store-after")
				}
			},
		}})
	if err != nil {
		return fail(err)
	}
	stripeURL, err := url.Parse(env["stripe"])
	if err != nil {
		return fail(err)
	}
	// "after" means Stripe has answered (and done what was asked) but the settler never hears it.
	rp := httputil.NewSingleHostReverseProxy(stripeURL)
	rp.ModifyResponse = func(*http.Response) error { crash.hit("stripe-after"); return nil }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			crash.hit("stripe-before")
			rp.ServeHTTP(w, r)
		}))
	}()
	gateway := stripepay.New(stripepay.Options{SecretKey: env["key"], BackendURL: "http://" + ln.Addr().String(), Timeout: 20 * time.Second})
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		return fail(err)
	}
	clock := func() time.Time { return now }
	pledges := pledge.NewService(store, gateway, clock, cfg.PledgeHold, pledge.Dunning{Retries: cfg.DunningRetries, Window: cfg.DunningWindow})
	settler := settlement.New(store, pledges, clock, settlement.Options{Owner: "chaos-child/" + strconv.Itoa(os.Getpid()), LeaseTTL: chaosLeaseTTL})
	if err := settler.Settle(ctx, env["campaign"]); err != nil {
		return fail(err)
	}
	_ = store.Close(ctx)
	return 0
}

// Settlement survives SIGKILL at random points: a campaign's deadline charges are run by child
// processes, each killed at a point a seeded generator picks (before or after its nth store write
// or Stripe call); after each kill another child resumes once the dead one's lease has run out.
// When a child finishes, every pledge is charged exactly once (one PaymentIntent each, however
// many times it was asked for), the collected total equals Stripe's, and a reconciliation run
// finds nothing. Rounds of fresh campaigns go on until the wanted number of kills has happened.
func TestSettlementSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a settler process per kill")
	}
	kills := chaosDefaultKills
	if v := os.Getenv(chaosKillsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive count", chaosKillsEnv, v)
		}
		kills = n
	}
	seed := rand.Uint64()
	if v := os.Getenv(chaosSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", chaosSeedEnv, v)
		}
		seed = n
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, chaosSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	opts := testenv.StoreOptions(t)
	s := startServiceOn(t, nil, testenv.MustStoreAt(t, opts))
	const pledgesPerRound = 12
	killed, finished, rounds, byKind := 0, 0, 0, map[string]int{}
	for killed < kills {
		rounds++
		c := s.pledgeSetup("all_or_nothing", 10)
		pms := make([]string, pledgesPerRound)
		for i := range pms {
			pms[i] = "pm_card_visa"
		}
		backers := s.backAll(c, 150000, pms...)
		s.passDeadline(c.slug)
		// The children write pledges from their own connection, without this process's
		// per-document locks: nothing here may write them meanwhile, so webhooks wait.
		hold := s.double().HoldEvents(t)
		for {
			point := ""
			if killed < kills {
				// Small counts, so each child gets a little further than the last before it dies.
				point = fmt.Sprintf("%s:%d", crashKinds[rng.IntN(len(crashKinds))], 1+rng.IntN(4))
			}
			child := exec.Command(self, "-test.run=^$")
			child.Env = append(os.Environ(), chaosChildEnv+"="+strings.Join([]string{
				"store=" + opts.URI, "database=" + opts.Database, "stripe=" + s.app.StripeURL(), "key=" + s.app.StripeSecretKey(),
				"now=" + s.clock.Now().Format(time.RFC3339Nano), "campaign=" + c.id, "crash=" + point,
				"unique_indexes=" + strconv.FormatBool(opts.ConstraintIndexesOnly)}, "\n"))
			out, err := child.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
				finished++
			case errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
				killed++
				byKind[strings.Split(point, ":")[0]]++
				// The dead settler's lease runs out before the next one looks.
				s.clock.Advance(chaosLeaseTTL + time.Second)
				continue
			default:
				t.Fatalf("settler child (crash point %q): %v\n%s", point, err, out)
			}
			break
		}
		// The charges' events, late and some of them for attempts a dead child made, change
		// nothing the settlement did.
		s.deliverHeld(hold)
		s.checkChargedOnce(c, backers)
		run := s.reconcileRun(s.admin(), c.id) // a new login: the clock has moved past the last one's expiry
		if f := run["findings"].([]any); len(f) != 0 {
			t.Fatalf("round %d: reconciliation after the kills found %d findings, the first: %v", rounds, len(f), f[0])
		}
	}
	t.Logf("%d kills (%v) over %d campaigns of %d pledges, %d settlements finished; every pledge charged once, reconciliation clean",
		killed, byKind, rounds, pledgesPerRound, finished)
}

// checkChargedOnce checks that every backer's pledge is collected with exactly one PaymentIntent,
// and that the campaign's collected total is what Stripe holds for it.
func (s *service) checkChargedOnce(c pledgeSetup, backers []backer) {
	s.t.Helper()
	intents, stripeTotal := map[string]int{}, int64(0)
	for _, pi := range s.double().PaymentIntents() {
		if !isBacker(backers, pi.Metadata["pledge_id"]) {
			continue
		}
		intents[pi.Metadata["pledge_id"]]++
		if pi.Status == "succeeded" {
			stripeTotal += pi.AmountReceived
		}
	}
	var collected int64
	for _, b := range backers {
		p, err := s.store.FindPledge(context.Background(), b.id)
		if err != nil {
			s.t.Fatal(err)
		}
		if p.Status != pledge.StatusCollected || intents[b.id] != 1 {
			s.t.Errorf("pledge %s: %s with %d PaymentIntents, want collected with one", b.id, p.Status, intents[b.id])
		}
		collected += p.Amount.Amount
	}
	if collected != stripeTotal {
		s.t.Errorf("collected %d, Stripe received %d", collected, stripeTotal)
	}
}

func isBacker(backers []backer, id string) bool {
	for _, b := range backers {
		if b.id == id {
			return true
		}
	}
	return false
}
