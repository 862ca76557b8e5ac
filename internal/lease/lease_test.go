package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/lease"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A paused holder whose lease expired and was granted again loses it for good: its renewal is
// refused, and the successor's token is larger than the one its writes carry.
func TestHoldFencesAPausedHolder(t *testing.T) {
	ctx := context.Background()
	store := testenv.MustStore(t)
	clock := testenv.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	first := lease.NewKeeper(store, "first", time.Minute, clock.Now)
	second := lease.NewKeeper(store, "second", time.Minute, clock.Now)

	var paused, successor int64
	err := first.Hold(ctx, "settle:c1", func(h *lease.Held) error {
		paused = h.Token()
		if err := second.Hold(ctx, "settle:c1", func(*lease.Held) error { return errors.New("ran beside the holder") }); backstitch.ErrorCode(err) != backstitch.CodeConflict {
			t.Fatalf("second Hold while held = %v, want a conflict", err)
		}
		if err := h.Renew(ctx); err != nil {
			t.Fatalf("renew a held lease: %v", err)
		}
		clock.Advance(2 * time.Minute) // the holder pauses past its expiry
		if err := second.Hold(ctx, "settle:c1", func(s *lease.Held) error { successor = s.Token(); return nil }); err != nil {
			t.Fatalf("take over an expired lease: %v", err)
		}
		return h.Renew(ctx)
	})
	if backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("renewal after a takeover = %v, want a conflict", err)
	}
	if successor <= paused {
		t.Fatalf("successor's token %d is not above the paused holder's %d", successor, paused)
	}
	// Both released: the next holder need not wait for the expiry.
	if err := first.Hold(ctx, "settle:c1", func(*lease.Held) error { return nil }); err != nil {
		t.Fatalf("hold a released lease: %v", err)
	}
}
