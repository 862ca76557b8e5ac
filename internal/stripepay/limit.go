package stripepay

import (
	"context"
	"sync"
	"time"
)

// pacer spaces write requests evenly to stay under a Stripe rate limit (live mode allows 100
// writes per second per account): each request waits for its slot instead of being answered 429
// and retried. Spacing, rather than a bursty bucket, is what keeps a settlement at the limit
// without crossing it.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newPacer(perSecond int) *pacer {
	if perSecond <= 0 {
		return nil
	}
	return &pacer{interval: time.Second / time.Duration(perSecond)}
}

// wait blocks until the caller's slot, or until ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
