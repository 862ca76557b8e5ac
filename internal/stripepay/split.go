package stripepay

import (
	"context"
	"errors"
	"math"
	"sync"
)

// A listing of many objects is split into ranges of `created` listed side by side, because one
// Stripe listing is a chain of requests each waiting for the previous one's cursor (100,000
// charges are 1,000 pages). Stripe's `created` is in whole seconds and its filters take whole
// seconds, so ranges are half-open [from, to) in seconds: every second belongs to exactly one
// range, objects created in the same second included, and each range is paged with Stripe's own
// cursor, so every object is handed on exactly once.
//
// Where the objects lie in time is not known beforehand (a campaign's charges can sit in the
// minutes after its deadline, months after its creation), so the ranges are not fixed: a worker
// with nothing to do takes the older half of what another worker has left to list. That worker
// then stops at the first object older than the split, which the taker lists instead.

// Bounds of a range that Stripe is not asked to apply.
const (
	openFrom = math.MinInt64
	openTo   = math.MaxInt64
)

// visitFunc is called for each object a range lists: created is its creation second and load
// turns it into what is handed on (load may make requests of its own, so it is called without
// holding the split's lock). When another range has taken the object's second, the object is
// not handed on, and the lister, when from rose since its request, asks again for [from, to)
// after the last object it handed on:
// Stripe lists newest first, so everything older is the other range's, but the request no
// longer has to rely on that order.
type visitFunc[T any] func(created int64, load func() (T, error)) (handed bool, from int64, err error)

// rangeLister lists the objects created in [from, to) (openFrom, openTo: no bound), calling
// visit for each, as visitFunc says.
type rangeLister[T any] func(ctx context.Context, from, to int64, visit visitFunc[T]) error

// errStopped ends a range because another one failed; that one's error is the listing's.
var errStopped = errors.New("stripepay: listing stopped")

// createdRange is one worker's part of a split listing.
type createdRange struct {
	// from rises when another worker takes the older part of what is left.
	from, to int64
	// low is the oldest creation second handed on (to while none): what is left to list is
	// [from, low], the rest of second low included (and, were Stripe's order not by creation,
	// newer seconds, which stay in the range too).
	low    int64
	handed bool // whether anything was handed on
}

// split is the shared state of one split listing.
type split[T any] struct {
	mu   sync.Mutex
	cond *sync.Cond
	// floor is where splitting an open-ended oldest range starts from: a hint, not a bound.
	floor   int64
	pending *createdRange // the whole listing, until a worker starts it
	active  []*createdRange
	waiting int
	err     error
	emit    func(T) error
}

// listSplit lists [from, to) with up to workers ranges side by side and hands every object to
// emit, one call at a time (emit needs no lock of its own). Objects come in no particular order.
// floor is where the oldest objects are expected when from is open; older ones are still listed.
func listSplit[T any](ctx context.Context, workers int, from, to, floor int64, list rangeLister[T], emit func(T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &split[T]{floor: floor, emit: emit, pending: &createdRange{from: from, to: to, low: to}}
	s.cond = sync.NewCond(&s.mu)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for r, from, to := s.next(); r != nil; r, from, to = s.next() {
				err := list(ctx, from, to, func(created int64, load func() (T, error)) (bool, int64, error) {
					return s.visit(r, created, load)
				})
				if err != nil {
					cancel()
				}
				s.finish(r, err)
			}
		})
	}
	wg.Wait()
	return s.err
}

// next gives a worker a range to list, with its bounds as they are now (a split may raise from
// at any time after): the whole listing first, then the older half of what the busiest range
// has left. It waits while nothing can be split yet, and returns nil once everything is listed
// or a worker failed.
func (s *split[T]) next() (r *createdRange, from, to int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.err != nil {
			return nil, 0, 0
		}
		r := s.pending
		s.pending = nil
		if r == nil {
			r = s.take()
		}
		if r != nil {
			s.active = append(s.active, r)
			return r, r.from, r.to
		}
		if len(s.active) == 0 {
			return nil, 0, 0
		}
		s.waiting++
		s.cond.Wait()
		s.waiting--
	}
}

// take splits the range with the widest part left to list, of those that handed something on,
// or returns nil when none is at least two seconds wide (a second cannot be split: Stripe's filters are in seconds). The new
// range [from, mid) and the rest [mid, low] are both non-empty in seconds.
func (s *split[T]) take() *createdRange {
	var widest *createdRange
	var widestFrom int64
	for _, r := range s.active {
		if !r.handed {
			// Nothing listed yet: where its objects lie is unknown, and halving an empty
			// range again and again would ask Stripe about every second of it.
			continue
		}
		from := r.from
		if from == openFrom {
			from = s.floor
		}
		if r.low-from >= 2 && (widest == nil || r.low-from > widest.low-widestFrom) {
			widest, widestFrom = r, from
		}
	}
	if widest == nil {
		return nil
	}
	mid := widestFrom + (widest.low-widestFrom+1)/2
	taken := &createdRange{from: widest.from, to: mid, low: mid}
	widest.from = mid
	return taken
}

// visit hands on one object of r unless r's older part, where the object lies, was taken.
func (s *split[T]) visit(r *createdRange, created int64, load func() (T, error)) (bool, int64, error) {
	s.mu.Lock()
	from, failed := r.from, s.err != nil
	s.mu.Unlock()
	if failed {
		return false, from, errStopped
	}
	if created < from {
		return false, from, nil
	}
	v, err := load()
	if err != nil {
		return false, from, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked again: a split may have taken this object's second while it was loaded. Splits
	// only take seconds below low, and low is the oldest second handed on, so no object handed
	// on is ever in a taken range.
	if s.err != nil {
		return false, r.from, errStopped
	}
	if created < r.from {
		return false, r.from, nil
	}
	if err := s.emit(v); err != nil {
		return false, r.from, err
	}
	r.low, r.handed = min(r.low, created), true
	if s.waiting > 0 {
		s.cond.Broadcast()
	}
	return true, r.from, nil
}

// finish retires a listed range, keeping the first error.
func (s *split[T]) finish(r *createdRange, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.err == nil && !errors.Is(err, errStopped) {
		s.err = err
	}
	for i, a := range s.active {
		if a == r {
			s.active = append(s.active[:i], s.active[i+1:]...)
			break
		}
	}
	s.cond.Broadcast()
}
