package visits

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
)

// failingStore refuses writes while down and keeps what it was given otherwise.
type failingStore struct {
	down  bool
	added map[Key]int64
}

func (s *failingStore) AddVisits(_ context.Context, counts []Count) error {
	if s.down {
		return errors.New("store unreachable")
	}
	for _, c := range counts {
		s.added[c.Key] += c.Visits
	}
	return nil
}

func clock() time.Time { return time.Date(2026, 11, 2, 23, 0, 0, 0, time.UTC) }

// A flush that fails keeps its counts for the next one: an outage delays visits, never loses
// them, and visits counted meanwhile add up.
func TestFailedFlushKeepsCounts(t *testing.T) {
	st := &failingStore{down: true, added: map[Key]int64{}}
	c := NewCounter(st, clock)
	insta := pledge.Source{Ref: "instagram"}
	c.Visit("cam_1", insta)
	c.Visit("cam_1", insta)
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("flush to a store that is down succeeded")
	}
	c.Visit("cam_1", insta)
	c.Visit("cam_1", pledge.Source{})
	st.down = false
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.added[Key{CampaignID: "cam_1", Day: "2026-11-02", Source: insta}]; got != 3 {
		t.Errorf("instagram visits %d, want 3", got)
	}
	if got := st.added[Key{CampaignID: "cam_1", Day: "2026-11-02"}]; got != 1 {
		t.Errorf("direct visits %d, want 1", got)
	}
	if c.Pending() != 0 {
		t.Errorf("%d visits still pending after a good flush", c.Pending())
	}
}

// Invented refs cannot grow memory without bound: past maxKeys waiting keys, new sources are
// counted under Overflow, and no visit is dropped.
func TestInventedRefsFoldIntoOverflow(t *testing.T) {
	st := &failingStore{added: map[Key]int64{}}
	c := NewCounter(st, clock)
	for i := range maxKeys + 50 {
		c.Visit("cam_1", pledge.Source{Ref: fmt.Sprint("r", i)})
	}
	if n := len(c.counts); n != maxKeys+1 {
		t.Errorf("%d keys held, want %d", n, maxKeys+1)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range st.added {
		total += n
	}
	if total != maxKeys+50 || st.added[Key{CampaignID: "cam_1", Day: "2026-11-02", Source: Overflow}] != 50 {
		t.Errorf("total %d, overflow %d", total, st.added[Key{CampaignID: "cam_1", Day: "2026-11-02", Source: Overflow}])
	}
}
