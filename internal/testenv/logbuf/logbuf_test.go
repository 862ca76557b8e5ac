package logbuf

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Lines written from many goroutines while another reads all arrive whole; run with -race.
func TestBufferTakesConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "line %d-%d\n", g, i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for g := range 8 {
		for i := range 100 {
			if want := fmt.Sprintf("line %d-%d", g, i); !seen[want] {
				t.Fatalf("line %q lost or torn", want)
			}
		}
	}
}
