package web

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// requestContext is the context every handler gets: the request's deadline
// (BACKSTITCH_REQUEST_TIMEOUT) and a logger carrying its id, as context.WithTimeout and
// zerolog's WithContext would give, except that each is made only when something asks for it.
// A cached public read asks for neither, and making both for every request (a context, a
// timer, a copy of the logger with a 500-byte buffer) was four fifths of that read's garbage,
// whose collections set its p99 (see bench/publicread).
//
// Deadline is always answered without a timer, which is all the MongoDB driver needs to bound
// its socket reads; the first call to Done makes the timer, as does anything that derives a
// cancellable context from this one, since the context package asks for Done.
type requestContext struct {
	parent   context.Context // Fiber's user context for the request
	deadline time.Time
	id       string
	base     *zerolog.Logger

	logOnce sync.Once
	log     *zerolog.Logger

	mu     sync.Mutex
	timed  context.Context // made at the first Done; its Done, Err and Value answer from then on
	cancel context.CancelFunc
	endErr error // set when the request has ended: the Err a context made afterwards must have
}

func newRequestContext(parent context.Context, timeout time.Duration, id string, base *zerolog.Logger) *requestContext {
	return &requestContext{parent: parent, deadline: time.Now().Add(timeout), id: id, base: base}
}

// end is the request's end, as the cancel function of context.WithTimeout: whatever still
// holds the context (a goroutine the handler started) sees it done.
func (r *requestContext) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endErr != nil {
		return
	}
	r.endErr = context.Canceled
	if !time.Now().Before(r.deadline) {
		r.endErr = context.DeadlineExceeded
	}
	if r.cancel != nil {
		r.cancel()
	}
}

// timer returns the context that carries the deadline's timer, made on first use.
func (r *requestContext) timer() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timed == nil {
		if r.endErr == context.Canceled {
			// Ended before its deadline: done now, and Err says cancelled, as before the call.
			r.timed, r.cancel = context.WithCancel(r.parent)
			r.cancel()
		} else {
			r.timed, r.cancel = context.WithDeadline(r.parent, r.deadline)
		}
	}
	return r.timed
}

func (r *requestContext) Deadline() (time.Time, bool) {
	if d, ok := r.parent.Deadline(); ok && d.Before(r.deadline) {
		return d, true
	}
	return r.deadline, true
}

func (r *requestContext) Done() <-chan struct{} { return r.timer().Done() }

func (r *requestContext) Err() error {
	r.mu.Lock()
	timed, endErr := r.timed, r.endErr
	r.mu.Unlock()
	switch {
	case timed != nil:
		return timed.Err()
	case endErr != nil:
		return endErr
	}
	if err := r.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(r.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (r *requestContext) Value(key any) any {
	if key == zerologKey {
		return r.logger()
	}
	r.mu.Lock()
	timed := r.timed
	r.mu.Unlock()
	if timed != nil {
		// Once the timer exists its context answers, so that the context package, deriving a
		// child, finds the cancelCtx whose Done this context returned and links the child to
		// it directly instead of watching it from a goroutine.
		return timed.Value(key)
	}
	return r.parent.Value(key)
}

// logger is the request's logger: the server's, with the request's id.
func (r *requestContext) logger() *zerolog.Logger {
	r.logOnce.Do(func() {
		l := r.base.With().Str("request_id", r.id).Logger()
		r.log = &l
	})
	return r.log
}

// zerologKey is the key zerolog.Ctx looks the logger up by. zerolog keeps it unexported, so it
// is read off the one lookup Ctx makes; TestRequestContextLogsWithTheRequestID fails if a
// zerolog release changes how Ctx finds its logger.
var zerologKey = func() any {
	var spy keySpy
	zerolog.Ctx(&spy)
	return spy.key
}()

type keySpy struct {
	context.Context
	key any
}

func (s *keySpy) Value(key any) any {
	s.key = key
	return nil
}
