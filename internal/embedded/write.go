package embedded

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNoDocument is what ReplaceDocs answers for a batch one of whose documents is not stored.
var ErrNoDocument = errors.New("no document with this _id")

// ReplaceDocs replaces whole documents by their _id (strings) straight in the files, each batch
// all or nothing; it fails with ErrNoDocument, writing nothing of docs, when one of them is not
// stored. It is for a caller that holds the documents' locks (see Locks) and has just compared
// them: the store's compare-and-sets of pledges, two per deadline charge.
//
// FerretDB would run each document's replacement as a command and a transaction of its own,
// one at a time on the store's one connection, each paying a commit and its fsync
// (bench/settle: the pledge writes were nearly all of a charge's store time). Here the batches of
// every caller that arrives while one commits are written in the next one transaction: a group
// commit, each batch under a savepoint so that one refused batch leaves the others written. A
// caller returns only once its batch is committed or refused, whatever its context says meanwhile,
// so a write never lands after its caller let go of the documents' locks.
//
// The documents are stored in FerretDB's format (see bsonToSJSON), as its replacement stores them;
// the store's tests check the text is byte for byte FerretDB's own.
func (s *Server) ReplaceDocs(ctx context.Context, database, collection string, docs []bson.Raw) error {
	if len(docs) == 0 {
		return nil
	}
	w := &write{ctx: ctx, collection: collection, woke: make(chan struct{})}
	for _, doc := range docs {
		id, ok := doc.Lookup("_id").StringValueOK()
		if !ok {
			return fmt.Errorf("embedded store: replace in %s: a string _id is needed", collection)
		}
		// Its JSON text would name every _id with other invalid bytes in the same places
		// (U+FFFD for each), where FerretDB's replacement matches none.
		if !utf8.ValidString(id) {
			return fmt.Errorf("embedded store: replace in %s: _id %q is not UTF-8", collection, id)
		}
		text, err := bsonToSJSON(doc)
		if err != nil {
			return fmt.Errorf("embedded store: replace %s %q: %w", collection, id, err)
		}
		idText, _ := json.Marshal(id)
		w.docs = append(w.docs, sjsonDoc{id: string(idText), text: string(text)})
	}
	return s.writers.get(database).write(s.dir, database, w)
}

// BusyError is a write refused because another writer held the file longer than
// writeBusyTimeout: nothing of the batch was written, and trying again later may succeed.
type BusyError struct{ err error }

func (e *BusyError) Error() string { return e.err.Error() }
func (e *BusyError) Unwrap() error { return e.err }

// Busy marks the error as the store being busy, not refusing the write (the store's callers
// answer 503 with Retry-After, as for a server between primaries).
func (e *BusyError) Busy() bool { return true }

// writeBusyTimeout is how long a commit waits for another writer (FerretDB's own) to let go of
// the file, as FerretDB's connections wait.
var writeBusyTimeout = 10 * time.Second

// writers keeps one group-committing writer per database file.
type writers struct {
	mu sync.Mutex
	m  map[string]*writer
	// active is read-held by each leader while it commits and hands on (a writer let go of
	// included), and held by close to wait for them: the server releases the data folder after
	// close, so no write may land, or report success, later. A leader that takes it after close
	// finds closed set and writes nothing.
	active sync.RWMutex
	closed atomic.Bool
}

// get answers the database's writer. At most maxReaders are kept, as read handles are: the
// service writes one database, tests one each, and a handle on a dropped database's file keeps
// the file open. The others' idle handles are closed when a new one is needed; a writer still in
// use goes on, and at worst shares the file with a new writer for a while (SQLite serialises them).
func (ws *writers) get(database string) *writer {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = map[string]*writer{}
	}
	w := ws.m[database]
	if w != nil {
		return w
	}
	if len(ws.m) >= maxReaders {
		for name, other := range ws.m {
			other.mu.Lock()
			other.dropped = true
			if !other.leading && other.db != nil {
				other.db.Close()
				other.db = nil
			}
			other.mu.Unlock()
			delete(ws.m, name)
		}
	}
	w = &writer{all: ws}
	ws.m[database] = w
	return w
}

// close waits for the commits in flight and closes every writer's handle; the server is closing.
// A writer let go of closes its own handle when its last commit ends (see write).
func (ws *writers) close() {
	ws.closed.Store(true)
	ws.active.Lock()
	defer ws.active.Unlock()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range ws.m {
		w.mu.Lock()
		if w.db != nil {
			w.db.Close()
			w.db = nil
		}
		w.mu.Unlock()
	}
}

// writer commits the writes waiting for one database file. One of the callers at a time leads:
// it commits everything waiting, then hands the lead to the first caller that arrived meanwhile,
// so no caller writes for others longer than one commit past its own.
type writer struct {
	mu      sync.Mutex
	waiting []*write
	leading bool
	all     *writers
	dropped bool        // no longer in writers: its handle is closed once idle
	db      *sql.DB     // the leader's read-write handle, kept between commits
	file    os.FileInfo // the file db has open
}

// write is one caller's batch.
type write struct {
	ctx        context.Context
	collection string
	docs       []sjsonDoc
	err        error
	lead       bool
	woke       chan struct{}
}

type sjsonDoc struct{ id, text string }

func (w *writer) write(dir, database string, mine *write) error {
	w.mu.Lock()
	w.waiting = append(w.waiting, mine)
	if w.leading {
		w.mu.Unlock()
		<-mine.woke
		if !mine.lead {
			return mine.err
		}
		w.mu.Lock()
	}
	w.leading = true
	batch := w.waiting
	w.waiting = nil
	w.mu.Unlock()

	w.all.active.RLock()
	defer w.all.active.RUnlock()
	closed := w.all.closed.Load()
	if closed {
		for _, b := range batch {
			b.err = errors.New("embedded store: closed")
		}
	} else {
		w.commit(dir, database, batch)
	}

	w.mu.Lock()
	if len(w.waiting) > 0 {
		w.waiting[0].lead = true
		close(w.waiting[0].woke)
	} else {
		w.leading = false
		if (closed || w.dropped) && w.db != nil {
			w.db.Close()
			w.db = nil
		}
	}
	w.mu.Unlock()
	for _, b := range batch {
		if b != mine {
			close(b.woke)
		}
	}
	return mine.err
}

// commit writes batch in one transaction, setting each write's err.
func (w *writer) commit(dir, database string, batch []*write) {
	fail := func(err error) {
		if se, ok := errors.AsType[*sqlite.Error](err); ok && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED) {
			err = &BusyError{err}
		}
		for _, b := range batch {
			if b.err == nil {
				b.err = err
			}
		}
	}
	defer func() {
		// The transaction is rolled back (its deferred Rollback ran first): every write of the
		// batch failed, and the lead still passes on, so the callers waiting are not stuck.
		if r := recover(); r != nil {
			fail(fmt.Errorf("embedded store: write: %v", r))
		}
	}()
	for _, b := range batch {
		if err := b.ctx.Err(); err != nil {
			b.err = err // given up before its turn: written never
		}
	}
	db, err := w.handle(dir, database)
	if err != nil {
		fail(err)
		return
	}
	// Not the callers' contexts: one caller giving up must not interrupt the others' commit.
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("embedded store: write: %w", err))
		return
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	tables := map[string]*sql.Stmt{}
	for _, b := range batch {
		if b.err != nil {
			continue
		}
		stmt, ok := tables[b.collection]
		if !ok {
			var table string
			err := tx.QueryRowContext(ctx, "SELECT table_name FROM _ferretdb_collections WHERE name = ?", b.collection).Scan(&table)
			if errors.Is(err, sql.ErrNoRows) {
				b.err = fmt.Errorf("embedded store: replace in %s: %w", b.collection, ErrNoDocument)
				continue
			}
			if err != nil {
				fail(fmt.Errorf("embedded store: find collection %s: %w", b.collection, err))
				return
			}
			// What FerretDB's own replacement runs (backends/sqlite, UpdateAll).
			if stmt, err = tx.PrepareContext(ctx, fmt.Sprintf("UPDATE %q SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?", table)); err != nil {
				fail(fmt.Errorf("embedded store: write %s: %w", b.collection, err))
				return
			}
			tables[b.collection] = stmt
		}
		if b.err = b.apply(ctx, tx, stmt); b.err != nil && !errors.Is(b.err, ErrNoDocument) {
			fail(b.err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("embedded store: commit: %w", err))
	}
}

// apply writes one caller's batch under a savepoint, undone if one of its documents is missing.
func (b *write) apply(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT batch"); err != nil {
		return fmt.Errorf("embedded store: write %s: %w", b.collection, err)
	}
	for _, d := range b.docs {
		res, err := stmt.ExecContext(ctx, d.text, d.id)
		if err != nil {
			return fmt.Errorf("embedded store: write %s %s: %w", b.collection, d.id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			for _, undo := range []string{"ROLLBACK TO batch", "RELEASE batch"} {
				if _, err := tx.ExecContext(ctx, undo); err != nil {
					return fmt.Errorf("embedded store: write %s: %w", b.collection, err)
				}
			}
			return fmt.Errorf("embedded store: replace %s %s: %w", b.collection, d.id, ErrNoDocument)
		}
	}
	if _, err := tx.ExecContext(ctx, "RELEASE batch"); err != nil {
		return fmt.Errorf("embedded store: write %s: %w", b.collection, err)
	}
	return nil
}

// handle answers the leader's read-write handle on the database's file, opened again when the
// file at the path is no longer the one it has open (the database was dropped and made anew):
// a write to the old file would be lost without a word.
func (w *writer) handle(dir, database string) (*sql.DB, error) {
	path := filepath.Join(dir, database+".sqlite")
	file, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("embedded store: database %s: %w", database, ErrNoDocument)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	if w.db != nil && os.SameFile(w.file, file) {
		return w.db, nil
	}
	if w.db != nil {
		w.db.Close()
		w.db = nil
	}
	// Immediate: the transaction takes the write lock at BEGIN, waiting for FerretDB's writes
	// through the busy timeout, rather than failing when it meets one mid-way.
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=rw&_txlock=immediate&_pragma=busy_timeout("+strconv.FormatInt(writeBusyTimeout.Milliseconds(), 10)+")")
	if err != nil {
		return nil, fmt.Errorf("embedded store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	w.db, w.file = db, file
	return db, nil
}

// bsonToSJSON is FerretDB v1.24's sjson.Marshal of a document as its update stores it: _id
// first (in a nested document too: its validation would move it there), -0 stored as 0, and what its validation refuses refused (keys that start with $ or hold
// a dot, duplicate keys, infinities, arrays in arrays). Types the service never stores (regex,
// timestamp, decimal) are refused too, as sjsonToBSON refuses them. So are keys FerretDB would
// write unescaped where JSON needs an escape: it writes a document's own keys as they are.
func bsonToSJSON(doc bson.Raw) ([]byte, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 || elems[0].Key() != "_id" {
		return nil, fmt.Errorf("_id must come first")
	}
	schema, err := appendSchema(nil, elems)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"$s":`), schema...)
	for _, e := range elems {
		key := e.Key()
		if quoted, _ := json.Marshal(key); string(quoted) != `"`+key+`"` {
			return nil, fmt.Errorf("key %q needs escaping", key)
		}
		out = append(out, `,"`...)
		out = append(out, key...)
		out = append(out, `":`...)
		if out, err = appendSJSONText(out, e.Value()); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return append(out, '}'), nil
}

// appendSchema appends the "$s" of a document: {"p":{key: elem, …},"$k":[keys]}, {} when empty.
func appendSchema(dst []byte, elems []bson.RawElement) ([]byte, error) {
	if len(elems) == 0 {
		return append(dst, "{}"...), nil
	}
	keys := make([]string, len(elems))
	seen := make(map[string]bool, len(elems))
	dst = append(dst, `{"p":{`...)
	for i, e := range elems {
		key := e.Key()
		if !utf8.ValidString(key) || strings.HasPrefix(key, "$") || strings.Contains(key, ".") || seen[key] || key == "_id" && i > 0 {
			return nil, fmt.Errorf("key %q is refused", key)
		}
		seen[key], keys[i] = true, key
		if i > 0 {
			dst = append(dst, ',')
		}
		quoted, _ := json.Marshal(key)
		dst = append(append(dst, quoted...), ':')
		var err error
		if dst, err = appendElem(dst, e.Value(), false); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	quoted, _ := json.Marshal(keys)
	dst = append(append(dst, `},"$k":`...), quoted...)
	return append(dst, '}'), nil
}

// appendElem appends one value's schema entry.
func appendElem(dst []byte, v bson.RawValue, inArray bool) ([]byte, error) {
	switch v.Type {
	case bsontype.EmbeddedDocument:
		elems, err := v.Document().Elements()
		if err != nil {
			return nil, err
		}
		dst = append(dst, `{"t":"object","$s":`...)
		if dst, err = appendSchema(dst, elems); err != nil {
			return nil, err
		}
		return append(dst, '}'), nil
	case bsontype.Array:
		if inArray {
			return nil, fmt.Errorf("arrays in arrays are refused")
		}
		items, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		dst = append(dst, `{"t":"array","i":[`...)
		for i, item := range items {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendElem(dst, item, true); err != nil {
				return nil, err
			}
		}
		return append(dst, "]}"...), nil
	case bsontype.Binary:
		subtype, _ := v.Binary()
		return append(append(dst, `{"t":"binData","s":`...), strconv.Itoa(int(subtype))+"}"...), nil
	}
	name, ok := sjsonTypes[v.Type]
	if !ok {
		return nil, fmt.Errorf("type %s is not written to the files", v.Type)
	}
	return append(dst, `{"t":"`+name+`"}`...), nil
}

var sjsonTypes = map[bsontype.Type]string{
	bsontype.Double: "double", bsontype.String: "string", bsontype.ObjectID: "objectId", bsontype.Boolean: "bool",
	bsontype.DateTime: "date", bsontype.Null: "null", bsontype.Int32: "int", bsontype.Int64: "long",
}

// appendSJSONText appends one value as FerretDB stores it.
func appendSJSONText(dst []byte, v bson.RawValue) ([]byte, error) {
	var b []byte
	var err error
	switch v.Type {
	case bsontype.EmbeddedDocument:
		elems, err := v.Document().Elements()
		if err != nil {
			return nil, err
		}
		dst = append(dst, '{')
		for i, e := range elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			quoted, _ := json.Marshal(e.Key())
			dst = append(append(dst, quoted...), ':')
			if dst, err = appendSJSONText(dst, e.Value()); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case bsontype.Array:
		items, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		dst = append(dst, '[')
		for i, item := range items {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendSJSONText(dst, item); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case bsontype.Double:
		f := v.Double()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%v is refused", f)
		}
		if f == 0 {
			f = 0 // FerretDB's validation stores -0 as 0
		}
		b, err = json.Marshal(f)
	case bsontype.String:
		b, err = json.Marshal(v.StringValue())
	case bsontype.Binary:
		_, data := v.Binary()
		b, err = json.Marshal(data)
	case bsontype.ObjectID:
		id := v.ObjectID()
		b, err = json.Marshal(hex.EncodeToString(id[:]))
	case bsontype.Boolean:
		b, err = json.Marshal(v.Boolean())
	case bsontype.DateTime:
		b, err = json.Marshal(v.DateTime())
	case bsontype.Null:
		b = []byte("null")
	case bsontype.Int32:
		b, err = json.Marshal(v.Int32())
	case bsontype.Int64:
		b, err = json.Marshal(v.Int64())
	default:
		return nil, fmt.Errorf("type %s is not written to the files", v.Type)
	}
	return append(dst, b...), err
}
