// Package testenv gives integration tests real parts: a MongoDB-compatible store (the embedded
// FerretDB, or the server named by MONGODB_URI) with a fresh database per test, dropped afterwards.
package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/mongostore"
)

var shared struct {
	once   sync.Once
	server *embedded.Server
	dir    string
	err    error
}

// Main runs a package's tests and then stops the embedded store they shared, after running the
// given clean-ups (a shared browser, say). Call it from TestMain. It fails the package if the
// tests sent a query that no index serves (see mongostore's indexes), listing each: on MongoDB
// such a query scans its whole collection.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	if missing := unindexedQueries(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "queries without an index (add one in internal/mongostore/store.go, indexes):\n  %s\n",
			strings.Join(missing, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	if shared.server != nil {
		_ = shared.server.Close()
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// StoreModeEnv selects how tests open the embedded store: unset (or "embedded") as the service
// opens it, with per-document locks, bulk reads from its files and only the unique indexes;
// "mongodb-mode" as the service opens a MongoDB server, with none of these (every index is made),
// so every write is the conditional update and every read the query that production MongoDB runs. Only the pool stays at one connection, FerretDB's own
// limit (more connections lose concurrent updates of a document).
const StoreModeEnv = "BACKSTITCH_TEST_STORE"

// MongoDBMode reports whether tests open the embedded store as a MongoDB server (see StoreModeEnv).
// An unknown value fails the test rather than silently running the other mode.
func MongoDBMode(tb testing.TB) bool {
	tb.Helper()
	switch v := os.Getenv(StoreModeEnv); v {
	case "", "embedded":
		return false
	case "mongodb-mode":
		return true
	default:
		tb.Fatalf("%s=%q: want embedded or mongodb-mode", StoreModeEnv, v)
		return false
	}
}

// StoreOptions returns how to reach a brand-new database for one test: on MONGODB_URI when set,
// else on the package's embedded store (started on first use), opened as StoreModeEnv says.
func StoreOptions(tb testing.TB) mongostore.Options {
	tb.Helper()
	name := strings.ReplaceAll(backstitch.NewID("test"), "_", "")
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		return mongostore.Options{URI: uri, Database: name, Monitor: queryMonitor}
	}
	mongoMode := MongoDBMode(tb)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "backstitch-test-store-")
		if shared.err == nil {
			shared.server, shared.err = embedded.Start(shared.dir)
		}
	})
	if shared.err != nil {
		tb.Fatalf("start embedded store: %v", shared.err)
	}
	opts := mongostore.Options{URI: shared.server.URI(), Database: name, SingleConnection: true, Monitor: queryMonitor}
	if !mongoMode {
		opts.Locks, opts.Scanner, opts.Writer, opts.ConstraintIndexesOnly = shared.server.Locks(), shared.server, shared.server, true
	}
	return opts
}

// MustStore opens a fresh database for this test and drops it when the test ends.
func MustStore(tb testing.TB) *mongostore.Store {
	tb.Helper()
	return MustStoreAt(tb, StoreOptions(tb))
}

// MustStoreAt opens the database opts names (from StoreOptions, so that another process can be
// pointed at it too) and drops it when the test ends.
func MustStoreAt(tb testing.TB, opts mongostore.Options) *mongostore.Store {
	tb.Helper()
	s, err := mongostore.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	// The _id index is FerretDB's, not a MongoDB feature, but without it every test in
	// MongoDB mode would scan whole tables: it changes speed, never which documents match.
	if opts.SingleConnection && shared.server != nil {
		if err := shared.server.IndexIDs(context.Background(), opts.Database); err != nil {
			tb.Fatalf("index embedded store: %v", err)
		}
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		if err := s.Drop(ctx); err != nil {
			tb.Errorf("drop test database %s: %v", opts.Database, err)
		}
		_ = s.Close(ctx)
	})
	return s
}
