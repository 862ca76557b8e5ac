//go:build !production

package app_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/ratelimit"
	"github.com/backstitch/backstitch/internal/testsite"
)

// The per-address pledge limit is counted in memory (no store write per pledge) and still spans
// instances: one instance refuses past it at once; another learns of those pledges at its next
// flush, after at most the one interval's slack the README documents; an instance that stops
// flushes what it counted; and the flush ticker writes on its own.
func TestPledgeLimitSpansInstancesAndShutdowns(t *testing.T) {
	env := map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "3", "BACKSTITCH_PLEDGE_WINDOW": "10m",
		"BACKSTITCH_PLEDGE_LIMIT_FLUSH": "24h"} // flushed by hand below, but for the last part
	a := startService(t, env)
	b := a.secondInstance(env)
	c := a.pledgeSetup("all_or_nothing", 50)
	pledges := 0
	pledge := func(s *service, want int) {
		t.Helper()
		pledges++
		r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), fmt.Sprint("limit-", pledges))
		if r.Status != want || want == 429 && r.Header.Get("Retry-After") == "" {
			t.Fatalf("pledge %d: %d %s, want %d", pledges, r.Status, r.Body, want)
		}
	}
	flush := func(s *service) {
		t.Helper()
		if err := s.app.PledgeLimit().Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	for range 3 {
		pledge(a, 201)
	}
	pledge(a, 429) // at once: nothing was flushed
	if n := storedPledgeHits(t, a); n != 0 {
		t.Fatalf("the store counted %d pledges before any flush", n)
	}
	flush(a)
	pledge(b, 201) // b has read nothing yet: the documented slack
	flush(b)
	pledge(b, 429)
	if n := storedPledgeHits(t, a); n != 4 {
		t.Fatalf("the store counts %d pledges after both flushed, want 4", n)
	}

	// A new window; an instance takes three pledges and stops: its shutdown writes them.
	a.clock.Advance(10 * time.Minute)
	stopping := &service{t: t, store: a.store, clock: a.clock, logs: a.logs, http: a.http}
	stop := serveUntilStopped(t, stopping, env)
	for range 3 {
		pledge(stopping, 201)
	}
	stop()
	if n := storedPledgeHits(t, a); n != 3 {
		t.Fatalf("the store counts %d pledges of the stopped instance, want 3", n)
	}
	pledge(a, 201) // a's slack, as above
	flush(a)
	pledge(a, 429)

	// The ticker flushes without being asked.
	a.clock.Advance(10 * time.Minute)
	env["BACKSTITCH_PLEDGE_LIMIT_FLUSH"] = "20ms"
	ticking := a.secondInstance(env)
	pledge(ticking, 201)
	for deadline := time.Now().Add(10 * time.Second); storedPledgeHits(t, a) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the flush ticker wrote nothing in 10s")
		}
	}
}

// storedPledgeHits is the store's count of pledges from the loopback address in the current
// window, read by adding nothing to it.
func storedPledgeHits(t *testing.T, s *service) int64 {
	t.Helper()
	start := s.clock.Now().Truncate(10 * time.Minute)
	n, err := s.store.AddRateHits(context.Background(), []ratelimit.Hits{{Key: "pledge:addr:127.0.0.1", Start: start, End: start.Add(10 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	return n[0]
}

// serveUntilStopped serves s on its own until stop, which returns once Serve has: for tests of
// what an instance does when it shuts down.
func serveUntilStopped(t *testing.T, s *service, env map[string]string) (stop func()) {
	t.Helper()
	a, err := app.Open(context.Background(), testsite.Config(t, env), zerolog.New(s.logs), app.Deps{Store: s.store, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.app, s.base = a, "http://"+ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close(context.Background())
	}
	t.Cleanup(stop)
	return stop
}
