package testenv

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/mongostore"
)

// queries records every query the tests send whose filter no index serves, so that Main can list
// them: on the embedded store every query is fast enough at test sizes, on MongoDB in production
// such a query scans a collection that grows with every pledge.
var queries = struct {
	mu        sync.Mutex
	indexed   map[string][]string
	unindexed map[string]int
}{indexed: mongostore.IndexedFields(), unindexed: map[string]int{}}

// queryMonitor sees every command a test store sends.
var queryMonitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
	for _, q := range queriesOf(e.CommandName, e.Command) {
		checkQuery(q)
	}
}}

// query is what decides whether an index serves a command: its collection, filter and sort.
type query struct {
	op, coll     string
	filter, sort bson.Raw
}

// queriesOf takes the filters out of a command; commands that read or write no documents by a
// filter (insert, createIndexes, ping, ...) have none.
func queriesOf(name string, cmd bson.Raw) []query {
	str := func(key string) string { s, _ := cmd.Lookup(key).StringValueOK(); return s }
	doc := func(v bson.RawValue) bson.Raw { d, _ := v.DocumentOK(); return d }
	each := func(list, key string) []query {
		arr, ok := cmd.Lookup(list).ArrayOK()
		if !ok {
			return nil
		}
		vals, _ := arr.Values()
		out := make([]query, 0, len(vals))
		for _, v := range vals {
			out = append(out, query{op: name, coll: str(name), filter: doc(doc(v).Lookup(key))})
		}
		return out
	}
	switch name {
	case "find":
		return []query{{op: name, coll: str(name), filter: doc(cmd.Lookup("filter")), sort: doc(cmd.Lookup("sort"))}}
	case "findAndModify":
		return []query{{op: name, coll: str(name), filter: doc(cmd.Lookup("query")), sort: doc(cmd.Lookup("sort"))}}
	case "count", "distinct":
		return []query{{op: name, coll: str(name), filter: doc(cmd.Lookup("query"))}}
	case "update":
		return each("updates", "q")
	case "delete":
		return each("deletes", "q")
	case "aggregate":
		arr, ok := cmd.Lookup("pipeline").ArrayOK()
		if !ok {
			return nil
		}
		first, err := arr.IndexErr(0)
		if err != nil {
			return nil
		}
		return []query{{op: name, coll: str(name), filter: doc(doc(first.Value()).Lookup("$match"))}}
	}
	return nil
}

// branches lists the fields each alternative of a filter constrains: one list for a plain
// filter, one per $or branch (MongoDB needs an index for every branch, or it scans).
func branches(filter bson.Raw) [][]string {
	elems, _ := filter.Elements()
	var base []string
	var alternatives [][]string
	for _, e := range elems {
		switch key := e.Key(); key {
		case "$or":
			arr, _ := e.Value().ArrayOK()
			vals, _ := arr.Values()
			for _, v := range vals {
				sub, _ := v.DocumentOK()
				alternatives = append(alternatives, branches(sub)...)
			}
		case "$and":
			arr, _ := e.Value().ArrayOK()
			vals, _ := arr.Values()
			for _, v := range vals {
				sub, _ := v.DocumentOK()
				for _, b := range branches(sub) {
					base = append(base, b...)
				}
			}
		default:
			base = append(base, key)
		}
	}
	if alternatives == nil {
		return [][]string{base}
	}
	out := make([][]string, 0, len(alternatives))
	for _, a := range alternatives {
		out = append(out, append(slices.Clone(base), a...))
	}
	return out
}

// checkQuery records q when no index serves it: each branch of its filter must constrain the
// first field of some index, or the query must be sorted by one (MongoDB then walks that index
// in order and stops at the limit). A query with no filter at all reads the whole collection on
// purpose (a repair over every campaign, a count in a test): no index would spare it that.
func checkQuery(q query) {
	filter, _ := q.filter.Elements()
	sortBy, _ := q.sort.Elements()
	if len(filter) == 0 && len(sortBy) == 0 {
		return
	}
	queries.mu.Lock()
	defer queries.mu.Unlock()
	first := queries.indexed[q.coll]
	if first == nil {
		first = []string{"_id"} // a collection without indexes of its own
	}
	if len(sortBy) > 0 && slices.Contains(first, sortBy[0].Key()) {
		return
	}
	for _, b := range branches(q.filter) {
		if !slices.ContainsFunc(b, func(f string) bool { return slices.Contains(first, f) }) {
			sorted := slices.Clone(b)
			sort.Strings(sorted)
			key := fmt.Sprintf("%s %s on {%s}", q.op, q.coll, strings.Join(sorted, ", "))
			if q.sort != nil {
				key += " sorted by " + q.sort.String()
			}
			queries.unindexed[key]++
		}
	}
}

// unindexedQueries lists what checkQuery recorded, with how often each was sent.
func unindexedQueries() []string {
	queries.mu.Lock()
	defer queries.mu.Unlock()
	out := make([]string, 0, len(queries.unindexed))
	for k, n := range queries.unindexed {
		out = append(out, fmt.Sprintf("%s (%d×)", k, n))
	}
	sort.Strings(out)
	return out
}
