package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
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
	if len(paths) == 0 {
		return fmt.Errorf("embedded store: scan %s: no fields", collection)
	}
	for _, p := range paths {
		if !fieldPath.MatchString(p) {
			return fmt.Errorf("embedded store: scan %s: bad field path %q", collection, p)
		}
	}
	db, table, err := s.openTable(ctx, database, collection, "ro")
	if err != nil || table == "" {
		return err // no table: as FerretDB answers for a collection that does not exist yet
	}
	defer db.Close()
	// One json_extract of every path parses each document once. One ->> per path, or a WHERE
	// on a field, would look the parsed document up again for each, and that lookup compares
	// the whole text (it doubled the time): the caller filters instead.
	args := make([]any, 0, len(paths)+1)
	args = append(args, "$."+paths[0])
	for _, p := range paths {
		args = append(args, "$."+p)
	}
	params := strings.Repeat(", ?", len(args))
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT json_extract(_ferretdb_sjson%s) FROM %q", params, table), args...)
	if err != nil {
		return fmt.Errorf("embedded store: scan %s: %w", collection, err)
	}
	defer rows.Close()
	var (
		text []byte
		vals []any
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
