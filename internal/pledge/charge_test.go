package pledge

import (
	"testing"
	"time"
)

func TestDunningSchedule(t *testing.T) {
	d := Dunning{Retries: []time.Duration{24 * time.Hour, 72 * time.Hour, 144 * time.Hour}, Window: 168 * time.Hour}
	first := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Duration
		want time.Duration // 0: no retry left
	}{
		{0, 24 * time.Hour},
		{24*time.Hour - time.Nanosecond, 24 * time.Hour},
		{24 * time.Hour, 72 * time.Hour},
		{100 * time.Hour, 144 * time.Hour},
		{144 * time.Hour, 0},
	} {
		got := d.nextRetry(first, first.Add(tc.now))
		switch {
		case tc.want == 0 && got != nil:
			t.Errorf("at +%v: retry at %v, want none", tc.now, got)
		case tc.want != 0 && (got == nil || !got.Equal(first.Add(tc.want))):
			t.Errorf("at +%v: retry at %v, want +%v", tc.now, got, tc.want)
		}
	}
	if got := (Dunning{Retries: []time.Duration{200 * time.Hour}, Window: 168 * time.Hour}).nextRetry(first, first); got != nil {
		t.Errorf("a retry after the window was scheduled: %v", got)
	}
}

func TestStatusSets(t *testing.T) {
	for _, s := range []Status{StatusActive, StatusCharging, StatusCollected, StatusPaymentFailed, StatusPartiallyRefunded, StatusDisputed} {
		if !s.Counted() || !s.HoldsUnit() {
			t.Errorf("%s should count and hold its unit", s)
		}
	}
	for _, s := range []Status{StatusCancelled, StatusExpired, StatusDropped, StatusVoid, StatusRefunded, StatusDisputeLost} {
		if s.Counted() || s.HoldsUnit() {
			t.Errorf("%s should neither count nor hold a unit", s)
		}
	}
	if !StatusPending.HoldsUnit() || StatusPending.Counted() {
		t.Error("a pending pledge holds its unit but does not count yet")
	}
}
