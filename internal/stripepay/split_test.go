package stripepay

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeObjects is a Stripe list endpoint in miniature: objects in creation order, listed newest
// first in pages with a starting_after cursor and a created range, as Stripe pages them.
type fakeObjects struct {
	mu      sync.Mutex
	created []int64 // by position; the position is the object's id
	ranges  [][2]int64
}

func (f *fakeObjects) add(created int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, created)
	return len(f.created) - 1
}

func (f *fakeObjects) at(id int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created[id]
}

// page lists up to 3 objects of [from, to) older than the cursor (-1: from the newest).
func (f *fakeObjects) page(from, to int64, after int) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	top := len(f.created)
	if after >= 0 {
		top = after
	}
	var out []int
	for id := top - 1; id >= 0 && len(out) < 3; id-- {
		if c := f.created[id]; (from == openFrom || c >= from) && (to == openTo || c < to) {
			out = append(out, id)
		}
	}
	return out
}

func (f *fakeObjects) lister(during func()) rangeLister[int] {
	return func(ctx context.Context, from, to int64, visit visitFunc[int]) error {
		f.mu.Lock()
		f.ranges = append(f.ranges, [2]int64{from, to})
		f.mu.Unlock()
		for after := -1; ; {
			time.Sleep(20 * time.Microsecond) // a request's latency, which lets the other workers in
			page := f.page(from, to, after)
			if len(page) == 0 {
				return nil
			}
			again := false
			for _, id := range page {
				if during != nil {
					during()
				}
				handed, now, err := visit(f.at(id), func() (int, error) { return id, ctx.Err() })
				if err != nil {
					return err
				}
				if handed {
					after = id
				}
				if from = now; !handed {
					again = true
					break
				}
			}
			if !again {
				after = page[len(page)-1]
			}
		}
	}
}

// Every object is handed on exactly once however the listing is split: many objects in one
// second (split points fall on seconds that hold objects on both sides of a page), gaps of
// empty seconds, a floor far below, at or above the objects, and from 1 to 16 workers.
func TestSplitListingHandsOnEveryObjectOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 60 {
		f := &fakeObjects{}
		second := int64(1_000_000)
		for range 400 {
			// Three objects a second on average, so most split points hold objects, and now
			// and then a gap that a split can fall into.
			if r := rng.IntN(100); r == 0 {
				second += 500
			} else if r < 33 {
				second++
			}
			// Stripe lists newest first; now and then an object out of that order checks that
			// the split does not rely on it.
			if rng.IntN(50) == 0 {
				f.add(max(second-rng.Int64N(100), 1_000_000))
			} else {
				f.add(second)
			}
		}
		workers := 1 + trial%16
		floor := []int64{0, 1_000_000, second, second + 10}[trial%4]
		from, to := int64(openFrom), int64(openTo)
		if trial%3 == 0 {
			from, to = 1_000_000, second+1
		}
		seen := make([]int, len(f.created))
		var calls sync.Mutex // emit must never be called concurrently: TryLock fails if it is
		err := listSplit(context.Background(), workers, from, to, floor, f.lister(nil), func(id int) error {
			if !calls.TryLock() {
				return errors.New("emit called concurrently")
			}
			defer calls.Unlock()
			seen[id]++
			return nil
		})
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("trial %d (%d workers, floor %d): object %d (second %d) handed on %d times", trial, workers, floor, id, f.created[id], n)
			}
		}
		// A floor at or above the objects leaves an open-ended listing unsplit: slower, as exact.
		if splittable := from != openFrom || floor < f.created[0]; workers > 1 && splittable && len(f.ranges) < 2 {
			t.Errorf("trial %d: %d workers listed %d range(s): nothing was split", trial, workers, len(f.ranges))
		}
	}
}

// Objects created while the listing runs, in the newest second, are handed on at most once,
// and every object that was there before is handed on exactly once.
func TestSplitListingWithObjectsCreatedDuringTheRun(t *testing.T) {
	f := &fakeObjects{}
	for i := range 300 {
		f.add(int64(100 + i/7))
	}
	before := len(f.created)
	var mu sync.Mutex
	during := func() {
		mu.Lock()
		defer mu.Unlock()
		if len(f.created) < before+200 {
			f.add(int64(100 + (before+len(f.created))/7))
		}
	}
	seen := map[int]int{}
	if err := listSplit(context.Background(), 6, openFrom, openTo, 0, f.lister(during), func(id int) error { seen[id]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for id := range len(f.created) {
		if n := seen[id]; n > 1 || (id < before && n != 1) {
			t.Fatalf("object %d (second %d, made during the run: %t) handed on %d times", id, f.created[id], id >= before, n)
		}
	}
}

// An object in the second a range was split at belongs to the newer range only: the older
// range stops before it ([from, mid) is half-open) and the newer one hands it on.
func TestSplitBoundarySecondIsListedOnce(t *testing.T) {
	s := &split[int]{floor: 0, pending: &createdRange{from: openFrom, to: openTo, low: openTo}}
	s.cond = sync.NewCond(&s.mu)
	var got []int64
	s.emit = func(v int) error { got = append(got, int64(v)); return nil }
	load := func(c int64) func() (int, error) { return func() (int, error) { return int(c), nil } }

	owner, _, _ := s.next()
	for _, c := range []int64{20, 10} {
		if handed, _, err := s.visit(owner, c, load(c)); !handed || err != nil {
			t.Fatalf("visit %d: handed on %t, %v", c, handed, err)
		}
	}
	s.mu.Lock()
	taken := s.take()
	s.mu.Unlock()
	if taken == nil || taken.from != openFrom || taken.to != 5 || owner.from != 5 {
		t.Fatalf("split: taken %+v, owner %+v; want [open, 5) and [5, open)", taken, owner)
	}
	if handed, _, _ := s.visit(owner, 5, load(5)); !handed {
		t.Fatal("the owner left out the boundary second 5, which is its own")
	}
	if handed, from, _ := s.visit(owner, 4, load(4)); handed || from != 5 {
		t.Fatalf("the owner handed on second 4, which was taken (handed %t, from %d)", handed, from)
	}
	if handed, _, _ := s.visit(taken, 4, load(4)); !handed {
		t.Fatal("the taker left out second 4")
	}
	if want := []int64{20, 10, 5, 4}; !slices.Equal(got, want) {
		t.Fatalf("handed on %v, want %v", got, want)
	}
}

// A failing range stops the whole listing with its error, and no worker is left waiting.
func TestSplitListingStopsAtTheFirstError(t *testing.T) {
	f := &fakeObjects{}
	for i := range 500 {
		f.add(int64(i))
	}
	boom := errors.New("boom")
	n := 0
	err := listSplit(context.Background(), 4, openFrom, openTo, 0, f.lister(nil), func(int) error {
		if n++; n == 100 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if n != 100 {
		t.Fatalf("%d objects handed on, want the listing to stop at the failing 100th", n)
	}
}
