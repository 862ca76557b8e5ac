// Package profile starts the CPU profile the benchmarks offer with -cpuprofile, and counts the
// store commands an operation costs.
package profile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/mongostore"
)

// Start writes a CPU profile to path until the returned stop is called; with an empty path it
// does nothing. A failure to start ends the benchmark, naming the file.
func Start(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
		os.Exit(1)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// WriteAllocs writes a profile of every allocation since the process began (go tool pprof
// -sample_index=alloc_space) to path; with an empty path it does nothing.
func WriteAllocs(path string) {
	if path == "" {
		return
	}
	// The profile counts allocations as of the last completed collection: without this one,
	// whatever the run allocated since then (all of it, if it made little garbage) is missing.
	runtime.GC()
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: allocation profile:", err)
	}
}

// Commands counts the commands a store sends, by command and collection, and the time the store
// took to answer them, so a benchmark can say how many round trips one operation costs and which
// of them cost the most. Start and Report bracket the part being measured.
type Commands struct {
	mu      sync.Mutex
	on      bool
	names   map[int64]string
	counts  map[string]int
	elapsed map[string]time.Duration
}

// Monitor is the driver hook to pass as mongostore.Options.Monitor.
func (c *Commands) Monitor() *event.CommandMonitor {
	done := func(id int64, d time.Duration) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if name, ok := c.names[id]; ok {
			c.elapsed[name] += d
			delete(c.names, id)
		}
	}
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if !c.on {
				return
			}
			coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
			name := e.CommandName + " " + coll + filterKeys(e.Command) + statements(e.Command)
			c.counts[name]++
			c.names[e.RequestID] = name
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) { done(e.RequestID, e.Duration) },
		Failed:    func(_ context.Context, e *event.CommandFailedEvent) { done(e.RequestID, e.Duration) },
	}
}

// Writer wraps a store's Writer so its writes to the files are counted with the commands, named
// "replace <collection> (files)" with "[n]" for a batch of n: each call is one batch of a group
// commit, so they cost less than the FerretDB command they stand in for.
func (c *Commands) Writer(w mongostore.Writer) mongostore.Writer { return countedWriter{c, w} }

type countedWriter struct {
	c *Commands
	w mongostore.Writer
}

func (cw countedWriter) ReplaceDocs(ctx context.Context, database, collection string, docs []bson.Raw) error {
	start := time.Now()
	err := cw.w.ReplaceDocs(ctx, database, collection, docs)
	name := "replace " + collection + " (files)"
	if len(docs) > 1 {
		name += fmt.Sprintf(" [%d]", len(docs))
	}
	cw.c.mu.Lock()
	defer cw.c.mu.Unlock()
	if cw.c.on {
		cw.c.counts[name]++
		cw.c.elapsed[name] += time.Since(start)
	}
	return err
}

// filterKeys names the top-level fields a find or findAndModify filters on ("{_id}",
// "{$or}"): on the embedded store only a filter on _id is answered from an index, any other reads
// the whole collection, so "find pledges" by _id and by intent cost differently.
func filterKeys(cmd bson.Raw) string {
	filter, ok := cmd.Lookup("filter").DocumentOK()
	if !ok {
		if filter, ok = cmd.Lookup("query").DocumentOK(); !ok {
			return ""
		}
	}
	elems, err := filter.Elements()
	if err != nil {
		return ""
	}
	keys := make([]string, 0, len(elems))
	for _, el := range elems {
		keys = append(keys, el.Key())
	}
	return " {" + strings.Join(keys, ",") + "}"
}

// statements names how many statements a write command carries when it is more than one
// ("[25]"): each is its own transaction on the embedded store, so a batch of 25 costs about 25
// single writes and is told apart from them.
func statements(cmd bson.Raw) string {
	for _, key := range []string{"updates", "deletes", "documents"} {
		if arr, ok := cmd.Lookup(key).ArrayOK(); ok {
			if vals, err := arr.Values(); err == nil && len(vals) > 1 {
				return fmt.Sprintf(" [%d]", len(vals))
			}
		}
	}
	return ""
}

// Start begins counting.
func (c *Commands) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on, c.names, c.counts, c.elapsed = true, map[int64]string{}, map[string]int{}, map[string]time.Duration{}
}

// Report stops counting and writes the commands sent per operation, with the mean time each
// took (from the driver's send to the answer, queueing for the one connection excluded), most
// frequent first.
func (c *Commands) Report(out io.Writer, ops int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	keys := slices.SortedFunc(maps.Keys(c.counts), func(a, b string) int { return cmp.Or(c.counts[b]-c.counts[a], strings.Compare(a, b)) })
	total, spent := 0, time.Duration(0)
	for _, k := range keys {
		total, spent = total+c.counts[k], spent+c.elapsed[k]
	}
	fmt.Fprintf(out, "store commands (and batches written to the files) per operation: %.2f, %.2f ms of store time\n", float64(total)/float64(ops), ms(spent)/float64(ops))
	for _, k := range keys {
		fmt.Fprintf(out, "  %6.2f  %-48s %6.2f ms each\n", float64(c.counts[k])/float64(ops), k, ms(c.elapsed[k])/float64(c.counts[k]))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteHeap writes a heap profile (what is live as of the last GC, and what was allocated) to
// path, so two points of a run can be compared with go tool pprof -base; a failure is reported
// and the run goes on.
func WriteHeap(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
	}
}
