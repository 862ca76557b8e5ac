package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Scan reads a few fields of every document of a collection, straight
// from FerretDB's SQLite tables, and hands fn their values in the order of paths (dotted, as
// "amount.amount"): int64 for integers and dates (milliseconds since the epoch, FerretDB's own
// encoding), float64, string, bool, map[string]any or []any for an object or array (numbers in
// them as json.Number), or nil where the field is missing or null. Order is the table's. The
// leading path is asked for twice and dropped, so that json_extract always answers an array.
//
// It is the bulk read FerretDB cannot do quickly: FerretDB v1.24 parses every document of the
// collection into its own types before it filters and projects (measured in bench/reconcile:
// ~0.5 ms per pledge, 97% of a reconciliation of 100,000 pledges), while SQLite's JSON functions
// pick the fields out of the stored text without building anything. Field names are checked
// against fieldPath and bound as parameters; only the table name, read from FerretDB's own
// catalogue, is spliced into the query (quoted). It reads FerretDB's storage
// format (one "_ferretdb_sjson" column of JSON per document, dates as epoch milliseconds), as
// IndexIDs relies on it; the store's tests check it returns what the same query through FerretDB
// returns. One SELECT is one snapshot (the files are in WAL mode), so it never sees half a write.
func (s *Server) Scan(ctx context.Context, database, collection string, paths []string, fn func([]any) error) error {
	args, err := extractArgs(collection, paths)
	if err != nil {
		return err
	}
	db, table, err := s.openTable(ctx, database, collection, "ro")
	if err != nil || table == "" {
		return err // no table: as FerretDB answers for a collection that does not exist yet
	}
	defer db.Close()
	// One json_extract of every path parses each document once. One ->> per path, or a WHERE
	// on a field, would look the parsed document up again for each, and that lookup compares
	// the whole text (it doubled the time): the caller filters instead.
	params := strings.Repeat(", ?", len(args))
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT json_extract(_ferretdb_sjson%s) FROM %q", params, table), args...)
	if err != nil {
		return fmt.Errorf("embedded store: scan %s: %w", collection, err)
	}
	defer rows.Close()
	return readRows(rows, collection, paths, fn)
}

// ScanEqual is Scan of the documents whose fields named in equal hold those strings (a
// campaign's pledges), read from an index and not from the documents: Scan of 100,000 pledges
// spent 4.5 s of CPU in SQLite's JSON parser (3.4 KB a pledge, FerretDB's schema included), for
// 200 bytes of fields each. The index (made by IndexScanEqual, or here on first use) holds, for
// every document, the equal fields and the text of the paths' values; SQLite writes it in the
// same transaction as each of FerretDB's writes of the document, so it cannot differ from the
// documents, and a table without it (a collection dropped and made anew) is answered by parsing
// every document, just as right, only slowly. Values and order are Scan's, except that only
// documents whose equal fields hold strings can match, as the server would match them.
func (s *Server) ScanEqual(ctx context.Context, database, collection string, equal map[string]string, paths []string, fn func([]any) error) error {
	q, err := newScanEqualQuery(collection, equal, paths)
	if err != nil {
		return err
	}
	db, table, release, err := s.readers.table(ctx, s.dir, database, collection)
	if err != nil || table == "" {
		return err
	}
	defer release()
	name, columns := q.index(table)
	if err := s.ensureIndex(ctx, db, database, collection, table, name, columns, ""); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, q.sql(table), q.values...)
	if err != nil {
		return fmt.Errorf("embedded store: scan %s: %w", collection, err)
	}
	defer rows.Close()
	return readRows(rows, collection, paths, fn)
}

// IndexScanEqual makes ScanEqual's index for these fields now, so that the first read does not
// pay for it (about 60 µs a document), and the writes that follow keep it up to date.
func (s *Server) IndexScanEqual(ctx context.Context, database, collection string, equal, paths []string) error {
	names := map[string]string{}
	for _, p := range equal {
		names[p] = ""
	}
	q, err := newScanEqualQuery(collection, names, paths)
	if err != nil {
		return err
	}
	db, table, release, err := s.readers.table(ctx, s.dir, database, collection)
	if err != nil || table == "" {
		return err // no table yet: the first ScanEqual makes the index
	}
	defer release()
	name, columns := q.index(table)
	if err := s.ensureIndex(ctx, db, database, collection, table, name, columns, ""); err != nil {
		return err
	}
	return s.dropOtherScanIndexes(ctx, db, database, collection, table, q.indexPrefix(table), name)
}

// dropOtherScanIndexes drops the indexes an earlier version made for the same equal fields with
// other paths (their name differs only in the paths' hash): SQLite would keep writing them with
// every write of a document, for reads nobody makes any more.
func (s *Server) dropOtherScanIndexes(ctx context.Context, ro *sql.DB, database, collection, table, prefix, keep string) error {
	rows, err := ro.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND substr(name, 1, ?) = ? AND name != ?",
		table, len(prefix), prefix, keep)
	if err != nil {
		return fmt.Errorf("embedded store: list indexes of %s: %w", collection, err)
	}
	var stale []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("embedded store: list indexes of %s: %w", collection, err)
		}
		// Only a hash may follow: another set of equal fields can share the prefix.
		if rest := name[len(prefix):]; len(rest) == 12 && strings.Trim(rest, "0123456789abcdef") == "" {
			stale = append(stale, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(stale) == 0 {
		return err
	}
	rw, rwTable, err := s.openTable(ctx, database, collection, "rw")
	if err != nil {
		return err
	}
	defer rw.Close()
	if rwTable != table {
		return errors.New("embedded store: collection " + collection + " changed while indexing it")
	}
	for _, name := range stale {
		if _, err := rw.ExecContext(ctx, fmt.Sprintf("DROP INDEX IF EXISTS %q", name)); err != nil {
			return fmt.Errorf("embedded store: drop index %s: %w", name, err)
		}
	}
	return nil
}

// scanEqualQuery is the SQL of one ScanEqual: paths spliced into it (checked against fieldPath),
// so that the query's expressions are the index's, and values bound.
type scanEqualQuery struct {
	equal   []string // paths compared with =, in name order
	values  []any
	extract string // the paths' values as one JSON array, the index's last column
}

func newScanEqualQuery(collection string, equal map[string]string, paths []string) (scanEqualQuery, error) {
	eq := slices.Sorted(maps.Keys(equal))
	if len(eq) == 0 {
		return scanEqualQuery{}, fmt.Errorf("embedded store: scan %s: no field to select by", collection)
	}
	values := make([]any, len(eq))
	for i, p := range eq {
		if !fieldPath.MatchString(p) {
			return scanEqualQuery{}, fmt.Errorf("embedded store: scan %s: bad field path %q", collection, p)
		}
		values[i] = equal[p]
	}
	args, err := extractArgs(collection, paths)
	if err != nil {
		return scanEqualQuery{}, err
	}
	lits := make([]string, len(args))
	for i, a := range args {
		lits[i] = "'" + a.(string) + "'"
	}
	// CAST because SQLite never takes the value of a function that may give JSON (a subtype)
	// from an index: without it, the query would parse every document again. CAST is not a
	// function, and text cast to TEXT is the same text.
	extract := "CAST(json_extract(_ferretdb_sjson, " + strings.Join(lits, ", ") + ") AS TEXT)"
	return scanEqualQuery{equal: eq, values: values, extract: extract}, nil
}

// index names the index after the equal paths and a digest of the extracted paths: a change to
// the paths makes a new index rather than reading an old one that lacks them.
func (q scanEqualQuery) index(table string) (name, columns string) {
	cols := make([]string, 0, len(q.equal)+1)
	for _, p := range q.equal {
		cols = append(cols, field(p))
	}
	cols = append(cols, q.extract)
	sum := sha256.Sum256([]byte(q.extract))
	return q.indexPrefix(table) + hex.EncodeToString(sum[:6]), strings.Join(cols, ", ")
}

// indexPrefix is the name of the query's index without the hash of its paths.
func (q scanEqualQuery) indexPrefix(table string) string {
	return table + "__scan_" + strings.ReplaceAll(strings.Join(q.equal, "__"), ".", "_") + "_"
}

func (q scanEqualQuery) sql(table string) string {
	where := make([]string, len(q.equal))
	for i, p := range q.equal {
		where[i] = field(p) + " = ?"
	}
	return fmt.Sprintf("SELECT %s FROM %q WHERE %s", q.extract, table, strings.Join(where, " AND "))
}

// ScanIDs is Scan of the documents with the given _id (strings) only, found through the index
// IndexIDs makes, in one query: the bulk read by _id that FerretDB can only answer by parsing
// every document of the collection (it looks up nothing but a single bare _id). Documents that
// do not exist are left out; order is the table's.
func (s *Server) ScanIDs(ctx context.Context, database, collection string, ids []string, paths []string, fn func([]any) error) error {
	if len(ids) == 0 {
		return nil
	}
	args, err := extractArgs(collection, paths)
	if err != nil {
		return err
	}
	db, table, release, err := s.readers.table(ctx, s.dir, database, collection)
	if err != nil || table == "" {
		return err
	}
	defer release()
	for _, id := range ids {
		// FerretDB keeps _id as its JSON text: the index is on that expression.
		text, err := json.Marshal(id)
		if err != nil {
			return fmt.Errorf("embedded store: scan %s: %w", collection, err)
		}
		args = append(args, string(text))
	}
	q := fmt.Sprintf("SELECT json_extract(_ferretdb_sjson%s) FROM %q WHERE _ferretdb_sjson->'$._id' IN (?%s)",
		strings.Repeat(", ?", len(paths)+1), table, strings.Repeat(", ?", len(ids)-1))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("embedded store: scan %s: %w", collection, err)
	}
	defer rows.Close()
	return readRows(rows, collection, paths, fn)
}

// extractArgs checks paths and makes them json_extract's arguments, the first one twice (see Scan).
func extractArgs(collection string, paths []string) ([]any, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("embedded store: scan %s: no fields", collection)
	}
	args := make([]any, 0, len(paths)+1)
	args = append(args, "$."+paths[0])
	for _, p := range paths {
		if !fieldPath.MatchString(p) {
			return nil, fmt.Errorf("embedded store: scan %s: bad field path %q", collection, p)
		}
		args = append(args, "$."+p)
	}
	return args, nil
}

// readRows decodes the json_extract arrays of rows and hands fn their values (see Scan).
func readRows(rows *sql.Rows, collection string, paths []string, fn func([]any) error) error {
	var (
		text []byte
		vals []any
		err  error
	)
	for rows.Next() {
		if err := rows.Scan(&text); err != nil {
			return fmt.Errorf("embedded store: scan %s: %w", collection, err)
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.UseNumber() // int64 stays exact
		vals = vals[:0]
		if err := dec.Decode(&vals); err != nil || len(vals) != len(paths)+1 {
			return fmt.Errorf("embedded store: scan %s: row %.80q: %v", collection, text, err)
		}
		vals = vals[1:]
		for i, v := range vals {
			if n, ok := v.(json.Number); ok {
				if vals[i], err = n.Int64(); err != nil {
					vals[i], err = n.Float64()
				}
				if err != nil {
					return fmt.Errorf("embedded store: scan %s: %s: %w", collection, paths[i], err)
				}
			}
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("embedded store: scan %s: %w", collection, err)
	}
	return nil
}

// openTable opens a database's SQLite file in mode ("ro" or "rw") and finds the table of a
// collection, "" (with the file closed) when the collection does not exist.
func (s *Server) openTable(ctx context.Context, database, collection, mode string) (*sql.DB, string, error) {
	path := filepath.Join(s.dir, database+".sqlite")
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode="+mode+"&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, "", fmt.Errorf("embedded store: open %s: %w", path, err)
	}
	var table string
	err = db.QueryRowContext(ctx, "SELECT table_name FROM _ferretdb_collections WHERE name = ?", collection).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		db.Close()
		return nil, "", nil
	}
	if err != nil {
		db.Close()
		return nil, "", fmt.Errorf("embedded store: find collection %s: %w", collection, err)
	}
	return db, table, nil
}

// fieldPath is what Scan accepts as a field: dotted names of our own documents.
var fieldPath = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$`)

// readers keeps a read-only handle on each database's file for ScanIDs, which compare-and-set
// writes call once each: opening the file (SQLite reads its whole schema) took three quarters of
// a one-pledge ScanIDs (bench/settle's CPU profile). A handle is opened again when the file at
// the path is no longer the one it has open (the database was dropped and made anew). At most
// maxReaders are kept: the service reads one database, tests one each, and a handle on a dropped
// database's file keeps the file open. A handle dropped while in use is closed by its last user.
type readers struct {
	mu sync.Mutex
	m  map[string]*reader
}

type reader struct {
	db      *sql.DB
	file    os.FileInfo
	users   int
	dropped bool
}

const maxReaders = 4

// table answers a handle on database's file, the table of collection in it ("" when the
// collection does not exist yet) and the release of the handle, to call when done with it.
func (r *readers) table(ctx context.Context, dir, database, collection string) (*sql.DB, string, func(), error) {
	path := filepath.Join(dir, database+".sqlite")
	file, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil, nil // no file yet: no collection either
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("embedded store: %w", err)
	}
	r.mu.Lock()
	rd := r.m[database]
	if rd == nil || !os.SameFile(rd.file, file) {
		db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro&_pragma=busy_timeout(10000)")
		if err != nil {
			r.mu.Unlock()
			return nil, "", nil, fmt.Errorf("embedded store: open %s: %w", path, err)
		}
		if rd != nil || len(r.m) >= maxReaders {
			r.dropAll()
		}
		if r.m == nil {
			r.m = map[string]*reader{}
		}
		rd = &reader{db: db, file: file}
		r.m[database] = rd
	}
	rd.users++
	r.mu.Unlock()
	release := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if rd.users--; rd.dropped && rd.users == 0 {
			rd.db.Close()
		}
	}
	var table string
	err = rd.db.QueryRowContext(ctx, "SELECT table_name FROM _ferretdb_collections WHERE name = ?", collection).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		release()
		return nil, "", nil, nil
	}
	if err != nil {
		release()
		return nil, "", nil, fmt.Errorf("embedded store: find collection %s: %w", collection, err)
	}
	return rd.db, table, release, nil
}

// close drops every handle; the server is closing.
func (r *readers) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropAll()
}

// dropAll forgets every handle, closing those not in use (their last user closes the others).
func (r *readers) dropAll() {
	for _, rd := range r.m {
		rd.dropped = true
		if rd.users == 0 {
			rd.db.Close()
		}
	}
	r.m = nil
}
