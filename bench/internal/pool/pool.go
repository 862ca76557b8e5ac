// Package pool runs a benchmark's operations over a fixed number of concurrent workers.
package pool

import (
	"sync"
	"sync/atomic"
	"time"
)

// Run calls op for i from 0 to n-1 on conc workers, each taking the next i when its last call
// returns, and answers the rate achieved (operations a second). The first error stops the
// worker that met it and is returned; the others finish what is left.
func Run(n, conc int, op func(i int) error) (float64, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), firstErr
}
