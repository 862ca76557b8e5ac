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
		c.Visit(fmt.Sprint("cam_", i%100), pledge.Source{Ref: fmt.Sprint("r", i)})
	}
	// The 50 visits past maxKeys went to 50 campaigns, each with its own Overflow key.
	if n := len(c.counts); n != maxKeys+50 {
		t.Errorf("%d keys held, want %d", n, maxKeys+50)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range st.added {
		total += n
	}
	var overflow int64
	for k, n := range st.added {
		if k.Source == Overflow {
			overflow += n
		}
	}
	if total != maxKeys+50 || overflow != 50 {
		t.Errorf("total %d, overflow %d", total, overflow)
	}
}

// Flushed keys become store documents, so one campaign's distinct sources per day stay bounded
// across flushes too, while the sources already seen keep counting under their own name.
func TestInventedRefsAcrossFlushesStayBounded(t *testing.T) {
	st := &failingStore{added: map[Key]int64{}}
	c := NewCounter(st, clock)
	insta := pledge.Source{Ref: "instagram"}
	c.Visit("cam_1", insta)
	for flush := range 5 {
		for i := range maxSourcesPerDay {
			c.Visit("cam_1", pledge.Source{Ref: fmt.Sprint("f", flush, "r", i)})
		}
		c.Visit("cam_1", insta)
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(st.added); n != maxSourcesPerDay+1 {
		t.Errorf("%d documents for one campaign and day, want %d", n, maxSourcesPerDay+1)
	}
	day := "2026-11-02"
	if got := st.added[Key{CampaignID: "cam_1", Day: day, Source: insta}]; got != 6 {
		t.Errorf("instagram visits %d, want 6", got)
	}
	if got := st.added[Key{CampaignID: "cam_1", Day: day, Source: Overflow}]; got != 5*maxSourcesPerDay-(maxSourcesPerDay-1) {
		t.Errorf("overflow visits %d", got)
	}
}
