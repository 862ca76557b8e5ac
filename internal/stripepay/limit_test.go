package stripepay

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestPacerSpacesRequests(t *testing.T) {
	p := newPacer(200) // one slot every 5 ms
	start := time.Now()
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if err := p.wait(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 40 slots 5 ms apart: the last starts 195 ms after the first.
	if elapsed := time.Since(start); elapsed < 190*time.Millisecond {
		t.Fatalf("40 requests at 200/s took %v, want at least 190ms", elapsed)
	}
	if newPacer(0) != nil {
		t.Fatal("a zero rate must mean no pacing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newPacer(1)
	_ = slow.wait(context.Background())
	if err := slow.wait(ctx); err == nil {
		t.Fatal("a cancelled wait returned no error")
	}
}
