package pubcache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pubcache"
	"github.com/backstitch/backstitch/internal/testenv"
)

func newCache(clock *testenv.Clock, entries int) *pubcache.Cache {
	return pubcache.New(pubcache.Options{TTL: 2 * time.Second, MaxEntries: entries, MaxBytes: 1 << 20, Now: clock.Now})
}

// counting is a loader that renders "<body> #<n>" and counts its calls.
func counting(n *atomic.Int64, body string, tags ...string) pubcache.Loader {
	return func(context.Context) (pubcache.Response, []string, error) {
		i := n.Add(1)
		return pubcache.NewResponse("text/plain", fmt.Appendf(nil, "%s #%d", body, i)), tags, nil
	}
}

func get(t *testing.T, c *pubcache.Cache, key string, load pubcache.Loader) string {
	t.Helper()
	r, err := c.Get(context.Background(), key, load)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(r.Body)
}

func TestConcurrentMissesLoadOnce(t *testing.T) {
	c := newCache(testenv.NewClock(time.Now()), 10)
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(context.Context) (pubcache.Response, []string, error) {
		loads.Add(1)
		<-release
		return pubcache.NewResponse("text/plain", []byte("page")), nil, nil
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if r, err := c.Get(context.Background(), "k", load); err != nil || string(r.Body) != "page" {
				t.Errorf("got %q, %v", r.Body, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let every caller reach the shared load
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads for 50 concurrent misses, want 1", loads.Load())
	}
}

func TestEntriesLiveForTheTTL(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	c := newCache(clock, 10)
	var n atomic.Int64
	load := counting(&n, "v")
	if got := get(t, c, "k", load); got != "v #1" {
		t.Fatal(got)
	}
	clock.Advance(1499 * time.Millisecond)
	if got := get(t, c, "k", load); got != "v #1" || n.Load() != 1 {
		t.Fatalf("within the TTL: %s after %d loads", got, n.Load())
	}
	// Unread in its last quarter, an entry is dropped at the TTL: the next reader loads.
	clock.Advance(501 * time.Millisecond)
	if got := get(t, c, "k", load); got != "v #2" {
		t.Fatalf("at the TTL: %s", got)
	}
}

func TestBusyEntriesAreRefreshedBeforeTheyExpire(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	c := newCache(clock, 10)
	var n atomic.Int64
	load := counting(&n, "v")
	get(t, c, "k", load)
	clock.Advance(1500 * time.Millisecond)
	if got := get(t, c, "k", load); got != "v #1" {
		t.Fatalf("in the last quarter of the TTL: %s, want the entry as it is", got)
	}
	for deadline := time.Now().Add(5 * time.Second); n.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh")
		}
	}
	// Past the first load's TTL, within the refresh's: the refreshed bytes (waiting for the
	// refresh if it is still running), and no third load.
	clock.Advance(time.Second)
	if got := get(t, c, "k", load); got != "v #2" || n.Load() != 2 {
		t.Fatalf("after a background refresh: %s after %d loads", got, n.Load())
	}
}

func TestInvalidateDropsTaggedEntriesOnly(t *testing.T) {
	c := newCache(testenv.NewClock(time.Now()), 10)
	var a, b atomic.Int64
	get(t, c, "a", counting(&a, "a", "cam_a", "lists"))
	get(t, c, "b", counting(&b, "b", "cam_b"))
	c.Invalidate("cam_a")
	if got := get(t, c, "a", counting(&a, "a", "cam_a")); got != "a #2" {
		t.Fatalf("invalidated entry served: %s", got)
	}
	if got := get(t, c, "b", counting(&b, "b", "cam_b")); got != "b #1" {
		t.Fatalf("untouched entry reloaded: %s", got)
	}
}

// A load that read the store before a write must not put the old state back in the cache once
// the write's invalidation has passed, and callers after the invalidation must not wait for it.
func TestLoadRacingAnInvalidationIsNotKept(t *testing.T) {
	c := newCache(testenv.NewClock(time.Now()), 10)
	reading, release := make(chan struct{}), make(chan struct{})
	var loads atomic.Int64
	old := func(context.Context) (pubcache.Response, []string, error) {
		loads.Add(1)
		close(reading)
		<-release
		return pubcache.NewResponse("text/plain", []byte("before the write")), []string{"cam_a"}, nil
	}
	done := make(chan string)
	go func() {
		r, _ := c.Get(context.Background(), "a", old)
		done <- string(r.Body)
	}()
	<-reading
	c.Invalidate("cam_a") // the write happened while the load was reading
	fresh := func(context.Context) (pubcache.Response, []string, error) {
		loads.Add(1)
		return pubcache.NewResponse("text/plain", []byte("after the write")), []string{"cam_a"}, nil
	}
	// Joining the load under way would wait for it (and get the old state): give up quickly.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	r, err := c.Get(ctx, "a", fresh)
	cancel()
	close(release)
	if err != nil || string(r.Body) != "after the write" {
		t.Fatalf("a request after the write got %q, %v", r.Body, err)
	}
	if got := <-done; got != "before the write" {
		t.Fatalf("the racing request got %q", got)
	}
	if got := get(t, c, "a", fresh); got != "after the write" {
		t.Fatalf("the racing load overwrote the cache: %q", got)
	}
	if loads.Load() != 2 {
		t.Fatalf("%d loads, want 2", loads.Load())
	}
}

func TestErrorsAndPanicsAreNotCached(t *testing.T) {
	c := newCache(testenv.NewClock(time.Now()), 10)
	notFound := errors.New("not found")
	if _, err := c.Get(context.Background(), "k", func(context.Context) (pubcache.Response, []string, error) {
		return pubcache.Response{}, nil, notFound
	}); !errors.Is(err, notFound) {
		t.Fatalf("error: %v", err)
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = c.Get(context.Background(), "k", func(context.Context) (pubcache.Response, []string, error) { panic("boom") })
	}()
	var n atomic.Int64
	if got := get(t, c, "k", counting(&n, "v")); got != "v #1" {
		t.Fatalf("after an error and a panic: %s", got)
	}
	if c.Len() != 1 {
		t.Fatalf("%d entries, want 1", c.Len())
	}
}

func TestLeastRecentlyUsedEntriesAreEvicted(t *testing.T) {
	c := newCache(testenv.NewClock(time.Now()), 2)
	var n atomic.Int64
	get(t, c, "a", counting(&n, "a"))
	get(t, c, "b", counting(&n, "b"))
	get(t, c, "a", counting(&n, "a")) // a is now the most recent
	get(t, c, "c", counting(&n, "c"))
	if c.Len() != 2 {
		t.Fatalf("%d entries, want 2", c.Len())
	}
	before := n.Load()
	get(t, c, "a", counting(&n, "a"))
	if n.Load() != before {
		t.Fatal("the most recently used entry was evicted")
	}
	get(t, c, "b", counting(&n, "b"))
	if n.Load() != before+1 {
		t.Fatal("the least recently used entry was kept")
	}
}

func TestETagFollowsTheBytes(t *testing.T) {
	a, b := pubcache.NewResponse("application/json", []byte(`{"pledged":1}`)), pubcache.NewResponse("application/json", []byte(`{"pledged":2}`))
	if a.ETag == b.ETag || a.ETag != pubcache.NewResponse("application/json", []byte(`{"pledged":1}`)).ETag {
		t.Fatalf("etags %s %s", a.ETag, b.ETag)
	}
}

// Fresh answers a hit without a loader, and leaves to Get what needs one: a missing key, an entry
// in its refresh window (whose refresh Get starts), an invalidated one.
func TestFreshAnswersOnlyWhatNeedsNoLoad(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	c := newCache(clock, 10)
	key := []byte("page:campaign:fr-CH:coat")
	if _, ok := c.Fresh(key); ok {
		t.Fatal("Fresh answered a key never loaded")
	}
	var loads atomic.Int64
	get(t, c, string(key), counting(&loads, "coat", "camp_1"))
	r, ok := c.Fresh(key)
	if !ok || string(r.Body) != "coat #1" {
		t.Fatalf("Fresh after a load: %q, %v", r.Body, ok)
	}
	if n := testing.AllocsPerRun(100, func() { c.Fresh(key) }); n != 0 {
		t.Errorf("a fresh hit allocates %v times", n)
	}
	other := []byte("page:campaign:fr-CH:dress")
	get(t, c, string(other), counting(&loads, "dress", "camp_2"))
	c.Invalidate("camp_2")
	if _, ok := c.Fresh(other); ok {
		t.Fatal("Fresh answered an invalidated entry")
	}
	clock.Advance(1500 * time.Millisecond) // the last quarter of the 2 s TTL: due for a refresh
	if _, ok := c.Fresh(key); ok {
		t.Fatal("Fresh answered an entry due for a refresh, which only Get starts")
	}
	if loads.Load() != 2 {
		t.Fatalf("Fresh loaded: %d loads, want the 2 Get made", loads.Load())
	}
}
