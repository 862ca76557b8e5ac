// Package embedded runs a MongoDB-compatible server (FerretDB on SQLite) inside the process, so the
// service and its tests start with no database installed. It is the only package that imports
// FerretDB: a production build that always sets MONGODB_URI could drop it by removing this package.
package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses, for IndexIDs
)

// Server is a running embedded store.
type Server struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan error
	locks  keyLocks
}

// Locks serialises compare-and-set writes to one document among everything that uses this
// server. FerretDB v1.24 pushes no filter but a bare _id down to SQLite, so a conditional update
// ({_id, version, status}) reads and parses every document of the collection. A store opened on
// the embedded server can instead read the document by _id, compare in Go and write it back by
// _id while holding the document's lock: the same atomicity, since the data folder belongs to
// this one process and every connection to it passes through here.
func (s *Server) Locks() interface {
	Lock(key string) (unlock func())
} {
	return &s.locks
}

// keyLocks is a set of mutexes by key, created on demand and dropped when unused.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// Lock locks key and returns its unlock.
func (k *keyLocks) Lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// Start opens (or creates) the SQLite files under dir and listens on a random loopback port.
// FerretDB's own logging is discarded: it is loud, and the service logs what matters itself.
func Start(dir string) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store: data folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create data folder %q: %w", abs, err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(abs) + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{dir: abs, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- f.Run(ctx) }()
	s.uri = f.MongoDBURI()
	return s, nil
}

// URI is the connection string for the official driver. Callers must open it with a pool of one
// connection: FerretDB v1 loses concurrent updates of one document otherwise (see docs/DESIGN notes).
func (s *Server) URI() string { return s.uri }

// Close stops the listener and closes the SQLite files.
func (s *Server) Close() error {
	s.cancel()
	if err := <-s.done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("embedded store: %w", err)
	}
	return nil
}

// IndexIDs makes lookups and updates by _id use an index in every collection of a database.
//
// FerretDB v1.24 indexes _id as _ferretdb_sjson->"_id" but queries and updates by
// _ferretdb_sjson->'$._id', an expression SQLite does not match to that index: every find,
// update and replace by _id scans the whole table and parses each document (measured: an update
// by _id took 0.2 ms at 10 documents, 8 ms at 3,000; settling 500 pledges took 50 s). An index
// on the very expression FerretDB uses turns those scans into index searches. Call it after the
// collections exist (the store creates them with its indexes at start); it is idempotent.
func (s *Server) IndexIDs(ctx context.Context, database string) error {
	path := filepath.Join(s.dir, database+".sqlite")
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("embedded store: open %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM _ferretdb_collections")
	if err != nil {
		return fmt.Errorf("embedded store: list collections of %s: %w", database, err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return fmt.Errorf("embedded store: list collections of %s: %w", database, err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("embedded store: list collections of %s: %w", database, err)
	}
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, t+"__id_path", t)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("embedded store: index _id of %s: %w", t, err)
		}
	}
	return nil
}
