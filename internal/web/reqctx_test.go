package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/testenv/logbuf"
)

type ctxKey string

func TestRequestContextLogsWithTheRequestID(t *testing.T) {
	var buf bytes.Buffer
	base := zerolog.New(&buf).With().Str("service", "test").Logger()
	ctx := newRequestContext(context.Background(), time.Minute, "req-42", &base)
	defer ctx.end()

	zerolog.Ctx(ctx).Info().Msg("hello")
	// A logger derived from the request's, as handlers do, keeps the id too.
	sub := zerolog.Ctx(ctx).With().Str("pledge", "p1").Logger()
	zerolog.Ctx(sub.WithContext(ctx)).Info().Msg("again")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %q", buf.String())
	}
	for _, line := range lines {
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatal(err)
		}
		if got["request_id"] != "req-42" || got["service"] != "test" {
			t.Errorf("log line %s lacks the request id or the server's fields", line)
		}
	}
	if zerolog.Ctx(ctx) != zerolog.Ctx(ctx) {
		t.Error("each lookup made a new logger")
	}
}

func TestRequestContextPassesParentValues(t *testing.T) {
	base := zerolog.Nop()
	parent := context.WithValue(context.Background(), ctxKey("k"), "v")
	ctx := newRequestContext(parent, time.Minute, "id", &base)
	defer ctx.end()
	if ctx.Value(ctxKey("k")) != "v" {
		t.Error("parent's value lost before the timer exists")
	}
	if v := context.WithValue(ctx, ctxKey("other"), 1); v.Value(ctxKey("k")) != "v" || zerolog.Ctx(v) != zerolog.Ctx(ctx) {
		t.Error("a value context over the request's lost the parent's value or the logger")
	}
}

func TestRequestContextDeadline(t *testing.T) {
	base := zerolog.Nop()
	start := time.Now()
	ctx := newRequestContext(context.Background(), 50*time.Millisecond, "id", &base)
	defer ctx.end()
	d, ok := ctx.Deadline()
	if !ok || d.Before(start.Add(50*time.Millisecond)) || d.After(time.Now().Add(50*time.Millisecond)) {
		t.Fatalf("deadline %v, %v; want 50 ms from the start", d, ok)
	}
	if ctx.Err() != nil {
		t.Fatalf("err before the deadline: %v", ctx.Err())
	}
	// Nobody asked for Done: the deadline still counts.
	time.Sleep(time.Until(d) + 5*time.Millisecond)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err after the deadline without a timer: %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("Done asked after the deadline is not closed")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("err after Done: %v", ctx.Err())
	}
}

func TestRequestContextDoneClosesAtTheDeadline(t *testing.T) {
	base := zerolog.Nop()
	parent, stop := context.WithCancel(context.WithValue(context.Background(), ctxKey("k"), "v"))
	defer stop()
	ctx := newRequestContext(parent, 50*time.Millisecond, "id", &base)
	defer ctx.end()
	child, cancel := context.WithCancel(ctx) // asks for Done: the timer starts
	defer cancel()
	if ctx.Value(ctxKey("k")) != "v" {
		t.Error("parent's value lost once the timer exists")
	}
	select {
	case <-child.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a child of the request is not done at its deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("errs %v, %v; want the deadline's", ctx.Err(), child.Err())
	}
}

func TestRequestContextEndsWithTheRequest(t *testing.T) {
	base := zerolog.Nop()
	ctx := newRequestContext(context.Background(), time.Minute, "id", &base)
	before, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx.end()
	for name, c := range map[string]context.Context{"request": ctx, "child made before the end": before} {
		select {
		case <-c.Done():
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: not done when the request ended", name)
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("%s: err %v, want cancelled", name, c.Err())
		}
	}

	// Done asked only after the end: done at once, and still "cancelled", not "deadline".
	late := newRequestContext(context.Background(), time.Minute, "id", &base)
	late.end()
	if !errors.Is(late.Err(), context.Canceled) {
		t.Fatalf("err after the end, before Done: %v", late.Err())
	}
	after, cancel2 := context.WithCancel(late)
	defer cancel2()
	select {
	case <-after.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a child made after the end is not done")
	}
	if !errors.Is(late.Err(), context.Canceled) {
		t.Fatalf("err after Done: %v", late.Err())
	}
}

func TestRequestContextFollowsItsParent(t *testing.T) {
	base := zerolog.Nop()
	parent, stop := context.WithCancel(context.Background())
	ctx := newRequestContext(parent, time.Minute, "id", &base)
	defer ctx.end()
	stop()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("err with the parent cancelled, no timer: %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("not done with the parent cancelled")
	}
	// A parent's earlier deadline wins.
	soon, stop2 := context.WithTimeout(context.Background(), time.Second)
	defer stop2()
	want, _ := soon.Deadline()
	if d, _ := newRequestContext(soon, time.Hour, "id", &base).Deadline(); !d.Equal(want) {
		t.Errorf("deadline %v, want the parent's %v", d, want)
	}
}

// The request's context is shared with whatever goroutines a handler starts; run with -race.
func TestRequestContextConcurrentUse(t *testing.T) {
	var buf logbuf.Buffer
	base := zerolog.New(&buf)
	for range 50 {
		ctx := newRequestContext(context.Background(), time.Minute, "id", &base)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				switch i {
				case 0:
					<-ctx.Done()
				case 1:
					for ctx.Err() == nil {
						time.Sleep(time.Microsecond)
					}
				case 2:
					zerolog.Ctx(ctx).Info().Msg("x")
				case 3:
					child, cancel := context.WithCancel(ctx)
					<-child.Done()
					cancel()
				}
			})
		}
		time.Sleep(time.Millisecond)
		ctx.end()
		wg.Wait()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("err %v", ctx.Err())
		}
	}
}

// A request that never asks for its logger or its timer costs one allocation: the point of
// requestContext. Whoever makes either eager again sees this fail.
func TestRequestContextCostsOneAllocationUnlessAsked(t *testing.T) {
	base := zerolog.Nop()
	allocs := testing.AllocsPerRun(200, func() {
		ctx := newRequestContext(context.Background(), time.Minute, "id", &base)
		_, _ = ctx.Deadline()
		_ = ctx.Err()
		ctx.end()
	})
	if allocs > 1 {
		t.Errorf("%.0f allocations per unasked request context, want 1", allocs)
	}
}
