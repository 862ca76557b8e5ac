// Package lease runs work that must happen on one instance at a time (settling a campaign,
// carrying out a reconciliation) under a named lease in the store. A lease has an owner, an
// expiry and a fencing token that grows with every grant (DESIGN.md, invariant 5): the holder
// renews it as it works and carries Token on every write it makes, so a holder that was paused
// past its expiry and wakes up is refused by what its successor wrote.
package lease

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Store grants, renews and releases leases; AcquireLease answers a conflict error while another
// owner holds an unexpired lease, RenewLease while the caller's token is no longer the current one.
type Store interface {
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (backstitch.Lease, error)
	RenewLease(ctx context.Context, l backstitch.Lease, ttl time.Duration, now time.Time) (backstitch.Lease, error)
	ReleaseLease(ctx context.Context, l backstitch.Lease) error
}

// Keeper takes leases for one instance.
type Keeper struct {
	store Store
	owner string
	ttl   time.Duration
	now   backstitch.Clock
}

// NewKeeper builds a Keeper whose leases name owner and last ttl unless renewed.
func NewKeeper(store Store, owner string, ttl time.Duration, now backstitch.Clock) *Keeper {
	return &Keeper{store: store, owner: owner, ttl: ttl, now: now}
}

// Hold runs fn holding the lease called name and releases it afterwards, so the next holder need
// not wait for it to expire. It answers a conflict error, without running fn, when another
// instance holds the lease.
func (k *Keeper) Hold(ctx context.Context, name string, fn func(h *Held) error) error {
	l, err := k.store.AcquireLease(ctx, name, k.owner, k.ttl, k.now())
	if err != nil {
		return err
	}
	h := &Held{k: k, lease: l}
	defer func() {
		// Released even when ctx was cancelled: the work is over either way.
		if err := k.store.ReleaseLease(context.WithoutCancel(ctx), h.current()); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("lease", name).Msg("release lease")
		}
	}()
	return fn(h)
}

// Held is a lease while its work runs. It is safe for concurrent use by the work's goroutines.
type Held struct {
	k     *Keeper
	mu    sync.Mutex
	lease backstitch.Lease
}

// Token is the fencing token every write made under the lease carries.
func (h *Held) Token() int64 { return h.current().Token }

func (h *Held) current() backstitch.Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lease
}

// Renew extends the lease. A conflict error means it was lost (it expired and another instance
// took it): the work must stop, and its fenced writes would be refused anyway.
func (h *Held) Renew(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, err := h.k.store.RenewLease(ctx, h.lease, h.k.ttl, h.k.now())
	if err != nil {
		return err
	}
	h.lease = l
	return nil
}

// RenewIfDue renews the lease once a third of its time has passed since it was last granted or
// renewed, and does nothing before: work that runs long between its steps (a reconciliation
// reading 1,000 pages of charges from Stripe) calls it as it goes, at the cost of a look at the
// clock, and keeps the lease for as long as it makes progress.
func (h *Held) RenewIfDue(ctx context.Context) error {
	h.mu.Lock()
	due := h.lease.ExpiresAt.Sub(h.k.now()) < h.k.ttl*2/3
	h.mu.Unlock()
	if !due {
		return nil
	}
	return h.Renew(ctx)
}
