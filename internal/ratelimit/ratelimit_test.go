package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/ratelimit"
	"github.com/backstitch/backstitch/internal/testenv"
)

// storeAt opens a store and a clock at 9:00 on a November morning, plus offset.
func storeAt(t *testing.T, offset time.Duration) (*mongostore.Store, *testenv.Clock) {
	return testenv.MustStore(t), testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Add(offset))
}

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

// admitted hits key n times on l and says how many were let through; any error but rate_limited
// fails the test.
func admitted(t *testing.T, l *ratelimit.Limiter, key string, allowed, n int) int {
	t.Helper()
	ok := 0
	for range n {
		switch err := l.Hit(ctx, key, allowed, time.Minute); {
		case err == nil:
			ok++
		case backstitch.ErrorCode(err) != backstitch.CodeRateLimited:
			t.Fatalf("hit %s: %v", key, err)
		}
	}
	return ok
}

func flush(t *testing.T, l *ratelimit.Limiter) {
	t.Helper()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A burst past the limit on one instance is refused at once, before any flush: nothing reached the
// store (another instance starts from zero), and the refusal says how long to wait.
func TestBurstIsRefusedAtOnceWithoutAFlush(t *testing.T) {
	store, clock := storeAt(t, 20*time.Second)
	l := ratelimit.New(store, clock.Now)
	if n := admitted(t, l, "pledge:addr:203.0.113.9", 5, 50); n != 5 {
		t.Fatalf("admitted %d of a burst of 50 with a limit of 5", n)
	}
	err := l.Hit(ctx, "pledge:addr:203.0.113.9", 5, time.Minute)
	var e *backstitch.Error
	if backstitch.ErrorCode(err) != backstitch.CodeRateLimited || !errors.As(err, &e) || e.RetryAfter != 40*time.Second {
		t.Fatalf("refusal %v, want rate_limited with 40s to wait", err)
	}
	if n, _, err := store.HitRateLimit(ctx, "pledge:addr:203.0.113.9", time.Minute, clock.Now()); err != nil || n != 1 {
		t.Fatalf("store counted %d (%v) before any flush, want nothing before this hit", n-1, err)
	}
}

// Two instances on one store share the limit: once each has flushed, both refuse what the two
// admitted together past it. Before its first flush an instance does not know the other's hits:
// that slack, what it admits within one flush interval, is what the README documents.
func TestTwoInstancesShareTheLimit(t *testing.T) {
	store, clock := storeAt(t, 0)
	a, b := ratelimit.New(store, clock.Now), ratelimit.New(store, clock.Now)
	const key, allowed = "pledge:addr:198.51.100.7", 10
	if n := admitted(t, a, key, allowed, 10); n != 10 {
		t.Fatalf("a admitted %d of its limit of 10", n)
	}
	flush(t, a)
	// b's first hit comes before b has read anything: admitted, the one interval's slack.
	if n := admitted(t, b, key, allowed, 1); n != 1 {
		t.Fatalf("b admitted %d before its first flush", n)
	}
	flush(t, b)
	if n := admitted(t, b, key, allowed, 5); n != 0 {
		t.Fatalf("b admitted %d after reading a's 10 hits", n)
	}
	flush(t, a)
	if n := admitted(t, a, key, allowed, 5); n != 0 {
		t.Fatalf("a, at the limit on its own, admitted %d", n)
	}
}

// A flush reads back only the windows it adds to: an instance that admitted nothing new in a
// window keeps the count it last read, admits from it, and learns the others' hits at the flush
// after (the slack the README documents, bounded by one flush interval).
func TestAFlushReadsBackTheWindowsItAddsTo(t *testing.T) {
	store, clock := storeAt(t, 0)
	a, b := ratelimit.New(store, clock.Now), ratelimit.New(store, clock.Now)
	const key, allowed = "pledge:addr:198.51.100.8", 10
	admitted(t, a, key, allowed, 5)
	flush(t, a)
	admitted(t, b, key, allowed, 5)
	flush(t, b)
	flush(t, a) // nothing new on a: the store's 10 is not read
	if n := admitted(t, a, key, allowed, 3); n != 3 {
		t.Fatalf("a admitted %d from the 5 it last read, want 3", n)
	}
	flush(t, a)
	if n := admitted(t, a, key, allowed, 1); n != 0 {
		t.Fatalf("a admitted %d after its flush read back 13", n)
	}
}

// A window ends at its fixed end: then the key starts afresh, on the instance and in the store.
func TestWindowResets(t *testing.T) {
	store, clock := storeAt(t, 0)
	l := ratelimit.New(store, clock.Now)
	const key = "pledge:addr:192.0.2.1"
	if n := admitted(t, l, key, 3, 5); n != 3 {
		t.Fatalf("admitted %d with a limit of 3", n)
	}
	flush(t, l)
	clock.Advance(59 * time.Second)
	if n := admitted(t, l, key, 3, 1); n != 0 {
		t.Fatalf("admitted %d in the same window", n)
	}
	clock.Advance(time.Second)
	if n := admitted(t, l, key, 3, 5); n != 3 {
		t.Fatalf("admitted %d in the next window, want 3", n)
	}
	flush(t, l)
	if l.Held() != 1 {
		t.Fatalf("holds %d windows after a flush in the second window, want 1 (the ended one forgotten)", l.Held())
	}
}

// A flood of distinct keys (invented addresses) holds at most MaxKeys windows in memory; past that,
// new keys are counted synchronously in the store, still limited.
func TestFloodOfKeysStaysBounded(t *testing.T) {
	store, clock := storeAt(t, 0)
	l := ratelimit.New(store, clock.Now)
	for i := range ratelimit.MaxKeys + 50 {
		if err := l.Hit(ctx, fmt.Sprintf("pledge:addr:flood-%d", i), 2, time.Minute); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if l.Held() != ratelimit.MaxKeys {
		t.Fatalf("holds %d windows after %d keys, want the cap %d", l.Held(), ratelimit.MaxKeys+50, ratelimit.MaxKeys)
	}
	// A key past the cap is counted in the store at once: its limit holds on every instance.
	const late = "pledge:addr:flood-late"
	if n := admitted(t, l, late, 2, 5); n != 2 {
		t.Fatalf("a key past the cap admitted %d of 5 with a limit of 2", n)
	}
	if n := admitted(t, ratelimit.New(store, clock.Now), late, 2, 1); n != 1 {
		t.Fatalf("fresh instance admitted %d", n) // its own first hit is optimistic
	}
	if n, _, err := store.HitRateLimit(ctx, late, time.Minute, clock.Now()); err != nil || n != 6 {
		t.Fatalf("store counts %d for a key past the cap (%v), want its 5 synchronous hits and this one", n, err)
	}
	// Once the windows end, they make room again.
	clock.Advance(time.Minute)
	if err := l.Hit(ctx, "pledge:addr:after-the-flood", 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if l.Held() != 1 {
		t.Fatalf("holds %d windows after the flood's ended, want 1", l.Held())
	}
}

// A failed flush loses no hit: they are added by the next one.
func TestFailedFlushKeepsItsHits(t *testing.T) {
	store, clock := storeAt(t, 0)
	a := ratelimit.New(store, clock.Now)
	const key = "pledge:addr:192.0.2.44"
	admitted(t, a, key, 4, 3)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Flush(cancelled); err == nil {
		t.Fatal("flush with a cancelled context succeeded")
	}
	flush(t, a)
	b := ratelimit.New(store, clock.Now)
	admitted(t, b, key, 4, 1)
	flush(t, b)
	if n := admitted(t, b, key, 4, 1); n != 0 {
		t.Fatalf("b admitted %d after reading a's 3 hits and its own, with a limit of 4", n)
	}
}
