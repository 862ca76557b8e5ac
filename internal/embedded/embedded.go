// Package embedded runs a MongoDB-compatible server (FerretDB on SQLite) inside the process, so the
// service and its tests start with no database installed. It is the only package that imports
// FerretDB; the service starts it only from internal/app/offline.go, which the production build
// (-tags production) leaves out.
package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses, for IndexIDs
)

// Server is a running embedded store.
type Server struct {
	uri     string
	dir     string
	sockDir string
	lock    *os.File
	cancel  context.CancelFunc
	done    chan error
	locks   keyLocks
	readers readers
	writers writers

	closeOnce sync.Once
	closeErr  error
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

// Start opens (or creates) the SQLite files under dir and listens on a Unix socket in it.
//
// Nothing listens on TCP: a loopback port would answer any local MongoDB client, which could read
// every account's password hash and every backer's email. The socket is 0600 in a folder made
// 0700, so only this user can connect (the SQLite files beside it are protected the same way).
// The folder is locked for as long as the server runs: a second process on the same files (a
// second service, `admin create` or `repair` beside a live one) would break the per-document
// locks below and FerretDB's own assumptions, so it is refused, naming the holder.
// FerretDB's own logging is discarded: it is loud, and the service logs what matters itself.
func Start(dir string) (_ *Server, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store: data folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create data folder %q: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: make data folder %q private: %w", abs, err)
	}
	lock, err := lockFolder(abs)
	if err != nil {
		return nil, err
	}
	var sockDir string
	defer func() {
		if err != nil {
			if sockDir != "" {
				_ = os.RemoveAll(sockDir)
			}
			_ = lock.Close()
		}
	}()
	sock, sockDir, err := socketPath(abs)
	if err != nil {
		return nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: sock},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(abs) + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	// FerretDB accepts connections only once Run starts, and the folder is already private, so
	// no one else can connect before this; 0600 states the intent on the socket itself.
	if err := os.Chmod(sock, 0o600); err != nil {
		return nil, fmt.Errorf("embedded store: restrict socket %s: %w", sock, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{dir: abs, sockDir: sockDir, lock: lock, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- f.Run(ctx) }()
	s.uri = f.MongoDBURI()
	return s, nil
}

// socketName is the embedded store's socket in the data folder.
const socketName = "mongodb.sock"

// maxSocketPath is what fits in sockaddr_un's sun_path (108 bytes on Linux, with its NUL).
const maxSocketPath = 107

// socketPath places the socket in the data folder when the driver can reach it there, else in a
// private temporary folder (returned as sockDir, removed on Close). The driver can't when the
// path is too long for a socket address, or when it has capitals: mongo-driver lowercases every
// address, socket paths included (address.Address.String). A socket file left by a process that
// died is removed: the folder's lock proves no one is using it.
func socketPath(dir string) (sock, sockDir string, err error) {
	sock = filepath.Join(dir, socketName)
	if reachableSocket(sock) {
		if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("embedded store: remove stale socket %s: %w", sock, err)
		}
		return sock, "", nil
	}
	if sockDir, err = os.MkdirTemp("", "backstitch-store-"); err != nil {
		return "", "", fmt.Errorf("embedded store: folder for the socket: %w", err)
	}
	sock = filepath.Join(sockDir, socketName)
	if !reachableSocket(sock) {
		_ = os.RemoveAll(sockDir)
		return "", "", fmt.Errorf("embedded store: neither %s nor %s can hold the socket (at most %d bytes, no capitals): set TMPDIR to a short lowercase path",
			dir, sockDir, maxSocketPath)
	}
	return sock, sockDir, nil
}

func reachableSocket(path string) bool {
	return len(path) <= maxSocketPath && path == strings.ToLower(path)
}

// lockName is the lock file in the data folder; it holds the pid and command line of its holder.
const lockName = "backstitch.lock"

// lockFolder takes an exclusive lock on the data folder, or says who holds it. flock locks
// belong to the open file, so the kernel releases them when the holder exits, however it exits.
func lockFolder(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded store: open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 4096))
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("embedded store: data folder %s is in use by %s; stop it first, or set BACKSTITCH_DATA_DIR to another folder",
				dir, describeHolder(string(holder)))
		}
		return nil, fmt.Errorf("embedded store: lock data folder %s: %w", dir, err)
	}
	holder := fmt.Sprintf("pid %d: %s\n", os.Getpid(), strings.Join(os.Args, " "))
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(holder), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded store: write lock file %s: %w", path, err)
	}
	return f, nil
}

// describeHolder turns the lock file's content into words for the error message; the holder may
// have been writing it at that very moment, so an empty one is still a holder.
func describeHolder(content string) string {
	content = strings.TrimSpace(content)
	if content == "" {
		return "another process"
	}
	return "another process (" + content + ")"
}

// URI is the connection string for the official driver. Callers must open it with a pool of one
// connection: FerretDB v1 loses concurrent updates of one document otherwise (see docs/DESIGN notes).
func (s *Server) URI() string { return s.uri }

// Close stops the listener, closes the SQLite files and releases the data folder's lock. Later
// calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.readers.close()
		s.writers.close()
		s.cancel()
		err := <-s.done
		if s.sockDir != "" {
			_ = os.RemoveAll(s.sockDir)
		}
		// Unlocked only after FerretDB has closed the files, so the next holder never shares them.
		_ = s.lock.Close()
		if err != nil && !errors.Is(err, context.Canceled) {
			s.closeErr = fmt.Errorf("embedded store: %w", err)
		}
	})
	return s.closeErr
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
