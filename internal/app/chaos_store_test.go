//go:build !production

package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/testenv"
)

// chaosPauseEnv shortens (or lengthens) the store outage of TestStoreOutage; the 10 s is
// the default, and the test runs in parallel with others.
const chaosPauseEnv = "BACKSTITCH_CHAOS_STORE_PAUSE"

// outageRequestTimeout is the service's BACKSTITCH_REQUEST_TIMEOUT in TestStoreOutage: what bounds
// a request's wait on a store that does not answer (the driver waits for a reply as long as the
// request may last). Shorter than the outage, so the test sees 503s rather than late answers.
const outageRequestTimeout = 3 * time.Second

func storePause(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv(chaosPauseEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration", chaosPauseEnv, v)
		}
		return d
	}
	return 10 * time.Second
}

// readyz answers /readyz's status (not problem+json: it is for load balancers).
func (s *service) readyz() int {
	s.t.Helper()
	res, err := s.http.Get(s.base + "/readyz")
	if err != nil {
		s.t.Fatalf("GET /readyz: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// awaitReady polls /readyz until it says 200, for at most limit.
func (s *service) awaitReady(limit time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	for s.readyz() != http.StatusOK {
		if time.Since(start) > limit {
			s.t.Fatalf("/readyz not 200 %s after the store came back", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// The store stops answering (connections accepted, nothing answered) for 10 s, once while
// backers pledge and once in the middle of the deadline charges. Requests meanwhile get 503 with
// Retry-After within the request timeout, never a hang nor a 500; /readyz says 503, then 200 once the store is
// back; nothing half-made is left; the same instance then takes the same pledges (same
// Idempotency-Key) and finishes the settlement, each pledge charged once.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	pause := storePause(t)
	proxy, opts := testenv.MustProxy(t, testenv.StoreOptions(t))
	opts.ServerSelectionTimeout = time.Second
	s := startServiceOn(t, map[string]string{"BACKSTITCH_REQUEST_TIMEOUT": outageRequestTimeout.String()}, testenv.MustStoreAt(t, opts))
	c := s.pledgeSetup("all_or_nothing", 10)
	backers := s.backAll(c, 150000, "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_visa",
		"pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_visa")
	pledgedBefore, backersBefore := s.campaignTotals(c.slug)

	// Pledging while the store hangs.
	proxy.Pause()
	ended := time.Now().Add(pause)
	if st := s.readyz(); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the store hangs: %d, want 503", st)
	}
	const racers = 3
	var wg sync.WaitGroup
	answers := make([]response, racers)
	took := make([]time.Duration, racers)
	for i := range racers {
		wg.Go(func() {
			start := time.Now()
			answers[i] = s.pledge(c.slug, coatPledge(c.coatTier, 32000), fmt.Sprint("outage-", i))
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" || a.JSON(t)["code"] != "unavailable" {
			t.Errorf("pledge %d while the store hangs: %d Retry-After %q %s", i, a.Status, a.Header.Get("Retry-After"), a.Body)
		}
		if took[i] > outageRequestTimeout+time.Second {
			t.Errorf("pledge %d answered after %s, want within the request timeout, %s", i, took[i].Round(time.Millisecond), outageRequestTimeout)
		}
	}
	time.Sleep(time.Until(ended))
	proxy.Resume()
	readyAfter := s.awaitReady(15 * time.Second)
	// Nothing of the refused pledges was kept: no pledge, no unit, no total.
	if pledged, n := s.campaignTotals(c.slug); pledged != pledgedBefore || n != backersBefore {
		t.Errorf("after the outage: pledged %v by %v, want %v by %v", pledged, n, pledgedBefore, backersBefore)
	}
	if left := s.tierRemaining(c.slug, c.coatTier); left != 10 {
		t.Errorf("coat units left after refused pledges: %v, want 10", left)
	}
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != int64(len(backers)) {
		t.Errorf("%d pledges stored (%v), want %d", n, err, len(backers))
	}
	// The same requests, sent again, make each pledge once.
	for i := range racers {
		r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), fmt.Sprint("outage-", i))
		if r.Status != http.StatusCreated {
			t.Fatalf("pledge %d after the outage: %d %s", i, r.Status, r.Body)
		}
		p := r.JSON(t)
		b := backer{id: p["id"].(string), token: p["manage_token"].(string), pm: "pm_card_visa"}
		s.must(200, "POST", "/api/v1/pledges/"+b.id+"/confirm", "", map[string]any{"payment_method": b.pm}, "X-Manage-Token", b.token)
		backers = append(backers, b)
	}
	if left := s.tierRemaining(c.slug, c.coatTier); left != 10-racers {
		t.Errorf("coat units left: %v, want %d", left, 10-racers)
	}
	s.waitWebhooks()

	// Settlement: the store hangs once a few charges are made.
	s.passDeadline(c.slug)
	tick := make(chan error, 1)
	tickStart := time.Now()
	go func() { tick <- s.app.Settler().Tick(context.Background()) }()
	for s.paymentIntentCreates() < 3 && time.Since(tickStart) < 30*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	proxy.Pause()
	ended = time.Now().Add(pause)
	chargedBeforePause := s.paymentIntentCreates()
	var tickErr error
	select {
	case tickErr = <-tick:
	case <-time.After(pause + 30*time.Second):
		t.Fatalf("a settlement tick still runs %s into a store outage", pause+30*time.Second)
	}
	tickTook := time.Since(tickStart)
	if st := s.readyz(); time.Now().Before(ended) && st != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the store hangs: %d, want 503", st)
	}
	time.Sleep(time.Until(ended))
	proxy.Resume()
	readyAfter2 := s.awaitReady(15 * time.Second)
	// The tick cut short could not give its lease back: it runs out, and the next tick resumes.
	s.clock.Advance(time.Hour)
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		t.Fatalf("settlement after the outage: %v", err)
	}
	s.waitWebhooks()
	s.checkChargedOnce(c, backers)
	if run := s.reconcileRun(s.admin(), c.id); len(run["findings"].([]any)) != 0 {
		t.Errorf("reconciliation after the outage: %v", run["findings"])
	}
	t.Logf("outage %s: %d pledges refused with 503 (slowest %s), /readyz 200 %s after; settlement paused after %d of %d charges, tick ended after %s (%v), /readyz 200 %s after; %d pledges charged once",
		pause, racers, max(took[0], took[1], took[2]).Round(time.Millisecond), readyAfter.Round(time.Millisecond), chargedBeforePause,
		len(backers), tickTook.Round(time.Millisecond), tickErr != nil, readyAfter2.Round(time.Millisecond), len(backers))
}
