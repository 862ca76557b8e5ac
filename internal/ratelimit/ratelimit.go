// Package ratelimit keeps a rate limit's counting off the request path. The counters still live in
// the store, so every instance shares them, but a hit is counted in memory and decided from the
// store's count as last read plus this instance's hits not yet written; a flush adds those hits to
// the store ($inc, one bulk write) and reads back the totals of the windows it added to, every few
// hundred milliseconds and at shutdown. A window without new hits here is not read: its count
// only matters at this instance's next hit in it, which the next flush reads back (the slack
// below). Reading every held window would write up to MaxKeys windows every flush.
//
// The price is precision across instances: an instance does not see the hits other instances
// admitted since their last flush, so across N instances a window may admit the limit plus what
// each other instance admitted within one flush interval (never more than the limit on any one
// instance). A single instance enforces the limit exactly and at once. Limits where one extra
// attempt matters (password guessing, mail sent to someone else's address) keep the synchronous
// count (account.RateLimit) instead.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// Hits are the hits to add to one key's fixed window.
type Hits struct {
	Key        string
	Start, End time.Time
	N          int64
}

// Store keeps the shared counts.
type Store interface {
	// AddRateHits adds each window's hits to its stored count (creating it, expiring at End)
	// and returns the stored counts afterwards, in the order given.
	AddRateHits(ctx context.Context, hits []Hits) ([]int64, error)
	// HitRateLimit is the synchronous count, used for keys past MaxKeys.
	account.RateCounter
}

// MaxKeys bounds the windows one instance holds in memory: anyone can invent client addresses
// (a botnet, or IPv6), so once this many live windows are held, a hit on a new key is counted
// synchronously in the store instead, exact and slower, and memory stays bounded.
const MaxKeys = 10_000

// window is one key's fixed window as this instance sees it.
type window struct {
	key        string
	start, end time.Time
	// stored is the store's count as last read; flushing is what a flush in progress adds to
	// it; pending is what this instance admitted since.
	stored, flushing, pending int64
}

func (w *window) count() int64 { return w.stored + w.flushing + w.pending }

type windowID struct {
	key   string
	start int64
}

// Limiter counts hits in memory and flushes them to the store. It is safe for concurrent use.
type Limiter struct {
	store Store
	now   backstitch.Clock

	mu      sync.Mutex
	windows map[windowID]*window
	// flushMu lets one flush run at a time: a shutdown flush waits for the ticker's.
	flushMu sync.Mutex
}

// New makes a limiter counting in store.
func New(store Store, now backstitch.Clock) *Limiter {
	return &Limiter{store: store, now: now, windows: map[windowID]*window{}}
}

// Hit counts one attempt under key and refuses it (rate_limited, with how long to wait) past
// allowed within the fixed window containing now. A refused attempt is not counted: the window
// ends at the same time whatever happens in it, so counting refusals would only add writes.
func (l *Limiter) Hit(ctx context.Context, key string, allowed int, length time.Duration) error {
	now := l.now()
	start := now.Truncate(length)
	id := windowID{key, start.Unix()}
	l.mu.Lock()
	w := l.windows[id]
	if w == nil {
		if len(l.windows) >= MaxKeys {
			l.forgetEnded(now)
		}
		if len(l.windows) >= MaxKeys {
			l.mu.Unlock()
			return account.RateLimit(ctx, l.store, key, allowed, length, now)
		}
		w = &window{key: key, start: start, end: start.Add(length)}
		l.windows[id] = w
	}
	if w.count() >= int64(allowed) {
		l.mu.Unlock()
		return account.RateLimited(now, w.end)
	}
	w.pending++
	l.mu.Unlock()
	return nil
}

// forgetEnded drops windows that have ended; hits still pending in them no longer matter.
func (l *Limiter) forgetEnded(now time.Time) {
	for id, w := range l.windows {
		if !now.Before(w.end) {
			delete(l.windows, id)
		}
	}
}

// Flush adds the hits admitted since the last flush to the store and reads back those windows'
// totals, which include other instances' flushed hits; other windows keep the count last read. Hits a failed write could not add stay pending
// for the next flush.
func (l *Limiter) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	l.forgetEnded(l.now())
	var batch []*window
	var hits []Hits
	for _, w := range l.windows {
		if w.pending == 0 {
			continue
		}
		w.flushing, w.pending = w.pending, 0
		batch = append(batch, w)
		hits = append(hits, Hits{Key: w.key, Start: w.start, End: w.end, N: w.flushing})
	}
	l.mu.Unlock()
	if len(hits) == 0 {
		return nil
	}
	totals, err := l.store.AddRateHits(ctx, hits)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, w := range batch {
		if err != nil {
			w.pending += w.flushing
		} else {
			// The total includes what this flush added; a window forgotten meanwhile is
			// updated harmlessly.
			w.stored = max(totals[i], w.stored+w.flushing)
		}
		w.flushing = 0
	}
	if err != nil {
		return fmt.Errorf("flush %d rate-limit windows: %w", len(hits), err)
	}
	return nil
}

// Held is how many windows the limiter holds in memory, for tests.
func (l *Limiter) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}

// Pledges is the limit on new pledges per client address. The API and the pledge form share it,
// one count per address, so a script gains nothing by sending some pledges each way.
type Pledges struct {
	Limiter *Limiter
	// Allowed pledges per Window (BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS, BACKSTITCH_PLEDGE_WINDOW).
	Allowed int
	Window  time.Duration
}

// Hit counts a new pledge from address, refusing it (rate_limited) past the limit.
func (p Pledges) Hit(ctx context.Context, address string) error {
	return p.Limiter.Hit(ctx, "pledge:addr:"+address, p.Allowed, p.Window)
}
