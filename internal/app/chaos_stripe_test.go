//go:build !production

package app_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/stripedouble"
)

// chaosStripeOutageEnv shortens (or lengthens) the Stripe outage of TestStripeOutage; the issue's
// 30 s is the default, and the test runs in parallel with others.
const chaosStripeOutageEnv = "BACKSTITCH_CHAOS_STRIPE_OUTAGE"

// stripeOutagePhases are what Stripe does during the outage, in turn: 500s of each kind (the
// request refused; applied with its answer lost; applied with the 500 stored as its idempotent
// answer, as Stripe documents) and answers slower than the client waits (timeouts, the request
// applied all the same).
var stripeOutagePhases = []stripedouble.Faults{
	{ErrorRate: 1, ErrorMode: stripedouble.FaultRejected},
	{ErrorRate: 1, ErrorMode: stripedouble.FaultResponseLost},
	{Latency: 1500 * time.Millisecond},
	{ErrorRate: 1, ErrorMode: stripedouble.FaultStoredError},
}

// Stripe answers every request with a 500 or too late for 30 s in the middle of the deadline
// charges, while the scheduler keeps ticking. The settler backs off (a bounded number of requests
// per pledge, not a hot loop), retries with the very same idempotency key (attempt 1 throughout:
// a new attempt could charge twice), and once Stripe is back every pledge is collected with one
// PaymentIntent, the totals equal Stripe's, and a reconciliation run finds nothing.
func TestStripeOutage(t *testing.T) {
	t.Parallel()
	outage := 30 * time.Second
	if v := os.Getenv(chaosStripeOutageEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration", chaosStripeOutageEnv, v)
		}
		outage = d
	}
	s := startService(t, map[string]string{"BACKSTITCH_STRIPE_TIMEOUT": "1s"})
	c := s.pledgeSetup("all_or_nothing", 10)
	pms := make([]string, 12)
	for i := range pms {
		pms[i] = "pm_card_visa"
	}
	backers := s.backAll(c, 150000, pms...)
	s.passDeadline(c.slug)
	before := len(s.double().Requests())

	end := time.Now().Add(outage)
	phase := outage / time.Duration(2*len(stripeOutagePhases)) // each kind of fault twice
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; time.Now().Before(end); i++ {
			s.double().SetFaults(stripeOutagePhases[i%len(stripeOutagePhases)])
			time.Sleep(min(phase, time.Until(end)))
		}
		s.double().SetFaults(stripedouble.Faults{})
	}()
	ticks := 0
	for time.Now().Before(end) {
		ticks++
		// A tick that ends in provider errors postpones the charges; the next one resumes them.
		_ = s.app.Settler().Tick(context.Background())
	}
	<-done
	for range 3 {
		ticks++
		if err := s.app.Settler().Tick(context.Background()); err != nil {
			t.Fatalf("settlement after the outage: %v", err)
		}
	}
	s.waitWebhooks()

	// Every charge request of a pledge carried the key of its first attempt, and retries were
	// spaced out, not hammered.
	keys := map[string]int{}
	faults := 0
	for _, r := range s.double().Requests()[before:] {
		if r.Fault {
			faults++
		}
		if r.Method != "POST" || r.Path != "/v1/payment_intents" {
			continue
		}
		keys[r.IdempotencyKey]++
	}
	most := 0
	for _, b := range backers {
		n := keys[b.id+"/charge/1"]
		if n == 0 {
			t.Errorf("pledge %s: no charge request with the key of attempt 1", b.id)
		}
		most = max(most, n)
	}
	if len(keys) != len(backers) {
		t.Errorf("charge requests used %d keys for %d pledges: %v", len(keys), len(backers), keys)
	}
	// The settler backs off 0.5, 1, 2, 4, 8 s between up to 6 tries a tick, and stripe-go retries
	// a timeout twice: about 18 requests a tick at most, and a tick lasts 15 s.
	if limit := 18 * (int(outage/(15*time.Second)) + 2); most > limit {
		t.Errorf("a pledge's charge was sent %d times in %s: no backoff (limit %d)", most, outage, limit)
	}
	s.checkChargedOnce(c, backers)
	if run := s.reconcileRun(s.admin(), c.id); len(run["findings"].([]any)) != 0 {
		t.Errorf("reconciliation after the outage: %v", run["findings"])
	}
	var keyList []string
	for k := range keys {
		keyList = append(keyList, k[strings.LastIndex(k, "/charge/"):])
	}
	t.Logf("Stripe outage %s: %d requests faulted, %d ticks, %d pledges, up to %d charge requests per pledge, keys %v; each pledge charged once",
		outage, faults, ticks, len(backers), most, uniq(keyList))
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
