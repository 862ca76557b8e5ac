package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DueIDs returns the _id (a string) of at most limit documents of a collection whose date at
// path is at or before `before` and whose fields named in equal hold those strings: the question
// a background job asks every few seconds ("which holds ran out?", "which retries are due?").
//
// FerretDB v1.24 answers any filter but a bare _id by reading and parsing every document of the
// collection (measured in the soak: the pledge sweep took 1 s after minutes, 2.9 s after
// 15 minutes, holding the store's only connection meanwhile). DueIDs instead asks SQLite, from
// an index on exactly the expressions it queries (the equal fields in name order, then path),
// created the first time it is needed. The index is partial (only documents that have path),
// so it stays as small as the set of documents the job may ever want, and SQLite keeps it up to
// date on FerretDB's own writes. It only reads (the index aside): callers read each document by
// _id through FerretDB and decide on what FerretDB returns. Dates are FerretDB's epoch
// milliseconds; a value of another type at path never compares as at or before a date
// (SQLite orders numbers before text), so only dates and numbers can be returned, and the
// caller's check on the document sorts out the numbers.
func (s *Server) DueIDs(ctx context.Context, database, collection string, equal map[string]string, path string, before time.Time, limit int) ([]string, error) {
	q, err := newDueQuery(equal, path)
	if err != nil {
		return nil, fmt.Errorf("embedded store: due %s: %w", collection, err)
	}
	db, table, err := s.openTable(ctx, database, collection, "ro")
	if err != nil || table == "" {
		return nil, err // no table: no documents yet
	}
	defer db.Close()
	name, columns, where := q.index(table)
	if err := s.ensureIndex(ctx, db, database, collection, table, name, columns, where); err != nil {
		return nil, err
	}
	args := make([]any, 0, len(q.values)+2)
	args = append(args, q.values...)
	args = append(args, before.UnixMilli(), limit)
	rows, err := db.QueryContext(ctx, q.sql(table), args...)
	if err == nil {
		var ids []string
		if ids, err = idsOf(rows); err == nil {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("embedded store: due %s: %w", collection, err)
}

// dueQuery is the SQL of one DueIDs question. Field paths are checked against fieldPath and
// spliced into the SQL: SQLite matches an index to a query only when their expressions are the
// same text, and a bound parameter is not. Values are bound.
type dueQuery struct {
	equal  []string // paths compared with =, in name order
	values []any
	path   string
}

func newDueQuery(equal map[string]string, path string) (dueQuery, error) {
	paths, values, err := equalTerms(equal, path)
	return dueQuery{equal: paths, values: values, path: path}, err
}

// equalTerms are the paths of equal in name order (as an index lists them) and their values,
// once every path, path included, is checked fit to splice into SQL.
func equalTerms(equal map[string]string, path string) (paths []string, values []any, err error) {
	for p := range equal {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range slices.Concat(paths, []string{path}) {
		if !fieldPath.MatchString(p) || p == "_id" {
			return nil, nil, fmt.Errorf("bad field path %q", p)
		}
	}
	for _, p := range paths {
		values = append(values, equal[p])
	}
	return paths, values, nil
}

// idsOf reads the one column of _ids a query selected.
func idsOf(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// field is the SQL value of a path in FerretDB's JSON column (->> gives numbers as numbers).
func field(path string) string { return `_ferretdb_sjson->>'$.` + path + `'` }

// index is the index's name in the table and its definition.
func (q dueQuery) index(table string) (name, columns, where string) {
	paths := slices.Concat(q.equal, []string{q.path})
	cols := make([]string, 0, len(paths))
	for _, p := range paths {
		cols = append(cols, field(p))
	}
	name = table + "__due_" + strings.ReplaceAll(strings.Join(paths, "__"), ".", "_")
	return name, strings.Join(cols, ", "), field(q.path) + " IS NOT NULL"
}

// sql selects the ids; "path <= ?" implies the index's "path IS NOT NULL", which is what lets
// SQLite use the partial index.
func (q dueQuery) sql(table string) string {
	var where []string
	for _, p := range q.equal {
		where = append(where, field(p)+" = ?")
	}
	where = append(where, field(q.path)+" <= ?")
	return fmt.Sprintf(`SELECT %s FROM %q WHERE %s LIMIT ?`, field("_id"), table, strings.Join(where, " AND "))
}

// ensureIndex creates the index name on the table's columns (partial if where is not empty)
// unless the file has it. It asks the file each time (one lookup in the schema) rather than
// remembering: a collection dropped and created again is a new table without it, and a scan
// would answer just as right, only slowly.
func (s *Server) ensureIndex(ctx context.Context, ro *sql.DB, database, collection, table, name, columns, where string) error {
	var n int
	if err := ro.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", name).Scan(&n); err != nil {
		return fmt.Errorf("embedded store: look up index %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	rw, rwTable, err := s.openTable(ctx, database, collection, "rw")
	if err != nil {
		return err
	}
	if rwTable != table {
		if rw != nil {
			rw.Close()
		}
		return errors.New("embedded store: collection " + collection + " changed while indexing it")
	}
	defer rw.Close()
	create := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s)`, name, table, columns)
	if where != "" {
		create += " WHERE " + where
	}
	if _, err := rw.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("embedded store: create index %s: %w", name, err)
	}
	return nil
}
