package embedded

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// storedText is a document's text in the file, as FerretDB keeps it.
func storedText(t *testing.T, s *Server, database, collection, id string) string {
	t.Helper()
	db, table, err := s.openTable(context.Background(), database, collection, "ro")
	if err != nil || table == "" {
		t.Fatalf("open %s.%s: %v (table %q)", database, collection, err, table)
	}
	defer db.Close()
	idText, _ := json.Marshal(id)
	var text string
	if err := db.QueryRow(fmt.Sprintf("SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?", table), string(idText)).Scan(&text); err != nil {
		t.Fatalf("read %s %q: %v", collection, id, err)
	}
	return text
}

func mustRaw(t *testing.T, d any) bson.Raw {
	t.Helper()
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// ReplaceDocs stores, byte for byte, the text FerretDB's own replacement stores for the same
// document (each of storedTypes, -0 in nested documents and arrays included), and FerretDB
// answers it as it answers its own.
func TestReplaceDocsStoresWhatFerretDBStores(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	ferret, direct := c.Database("d").Collection("ferret"), c.Database("d").Collection("direct")
	for _, d := range storedTypes() {
		id := d[0].Value.(string)
		for _, coll := range []string{"ferret", "direct"} {
			if _, err := c.Database("d").Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "old", Value: true}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ferret.ReplaceOne(ctx, bson.M{"_id": id}, d); err != nil {
			t.Fatal(err)
		}
		if err := s.ReplaceDocs(ctx, "d", "direct", []bson.Raw{mustRaw(t, d)}); err != nil {
			t.Fatal(err)
		}
		if got, want := storedText(t, s, "d", "direct", id), storedText(t, s, "d", "ferret", id); got != want {
			t.Errorf("%q stored as\n %s\nFerretDB stores\n %s", id, got, want)
		}
		got, err := direct.FindOne(ctx, bson.M{"_id": id}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		want, err := ferret.FindOne(ctx, bson.M{"_id": id}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%q answered as\n %s\nFerretDB's own\n %s", id, got, want)
		}
	}
}

// What FerretDB refuses to store, or the service never stores, is refused before anything is
// written, and so is a document without a string _id first.
func TestReplaceDocsRefusesWhatFerretDBRefuses(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int32(1)}}); err != nil {
		t.Fatal(err)
	}
	before := storedText(t, s, "d", "docs", "x")
	dup := bson.Raw(bsonDoc(t, [][2]any{{"_id", "x"}, {"k", 1}, {"k", 2}}))
	for name, doc := range map[string]bson.Raw{
		"dollar key":      mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "$set", Value: 1}}),
		"dotted key":      mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "a.b", Value: 1}}),
		"nested dollar":   mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "o", Value: bson.D{{Key: "$x", Value: 1}}}}),
		"duplicate key":   dup,
		"infinity":        mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "f", Value: math.Inf(1)}}),
		"NaN":             mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "f", Value: math.NaN()}}),
		"array in array":  mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "a", Value: bson.A{bson.A{1}}}}),
		"regex":           mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "r", Value: primitive.Regex{Pattern: "a"}}}),
		"timestamp":       mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "ts", Value: primitive.Timestamp{T: 1}}}),
		"decimal":         mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "m", Value: primitive.NewDecimal128(1, 1)}}),
		"no _id":          mustRaw(t, bson.D{{Key: "v", Value: 2}}),
		"_id not first":   mustRaw(t, bson.D{{Key: "v", Value: 2}, {Key: "_id", Value: "x"}}),
		"nested _id late": mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "o", Value: bson.D{{Key: "a", Value: 1}, {Key: "_id", Value: 1}}}}),
		"number _id":      mustRaw(t, bson.D{{Key: "_id", Value: 1}}),
		"key to escape":   mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: `a"b`, Value: 1}}),
		"HTML key":        mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "<b>", Value: 1}}),
	} {
		if err := s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{doc}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := storedText(t, s, "d", "docs", "x"); got != before {
		t.Errorf("refused writes changed the document: %s", got)
	}
}

// A write names its document by its _id exactly, as FerretDB's replacement does: an _id that is
// not UTF-8 is refused rather than written over another document whose _id has other invalid
// bytes in the same places (their JSON text is the same, U+FFFD for each), which FerretDB's
// replacement leaves alone.
func TestReplaceDocsRefusesAnIDThatIsNotUTF8(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a\xff"}, {Key: "v", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	before := storedText(t, s, "d", "docs", "a\xff")
	doc := mustRaw(t, bson.D{{Key: "_id", Value: "a\xfe"}, {Key: "v", Value: int64(1)}})
	if _, err := coll.ReplaceOne(ctx, bson.M{"_id": "a\xfe"}, doc); err != nil {
		t.Fatal(err)
	}
	if got := storedText(t, s, "d", "docs", "a\xff"); got != before {
		t.Fatalf("FerretDB's own replacement wrote the other document: %s", got)
	}
	if err := s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{doc}); err == nil {
		t.Error("an _id that is not UTF-8 accepted")
	}
	if got := storedText(t, s, "d", "docs", "a\xff"); got != before {
		t.Errorf("another document written: %s", got)
	}
}

// bsonDoc builds a document the driver would not marshal, such as one with a key twice.
func bsonDoc(t *testing.T, elems [][2]any) []byte {
	t.Helper()
	var doc bson.D
	raw := []byte{}
	for _, e := range elems {
		doc = bson.D{{Key: e[0].(string), Value: e[1]}}
		b := mustRaw(t, doc)
		raw = append(raw, b[4:len(b)-1]...)
	}
	out := make([]byte, 4, len(raw)+5)
	out = append(out, raw...)
	out = append(out, 0)
	n := len(out)
	out[0], out[1], out[2], out[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return out
}

// Batches written at once, while FerretDB itself writes to the same file, are each all or
// nothing: every batch lands but the one naming a document that is not stored, which leaves its
// other document as it was; a batch whose caller gave up before its turn is not written; and
// FerretDB's own writes meanwhile are neither lost nor refused.
func TestReplaceDocsWritesConcurrentBatchesEachAllOrNothing(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("docs")
	const batches = 60
	for i := range 2 * batches {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprint("doc", i)}, {Key: "v", Value: int64(0)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "counter"}, {Key: "n", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	doc := func(id string, v int64) bson.Raw {
		return mustRaw(t, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: v}})
	}
	const missing, gaveUp = 7, 9
	var wg sync.WaitGroup
	errs := make([]error, batches)
	for i := range batches {
		wg.Go(func() {
			second := fmt.Sprint("doc", batches+i)
			if i == missing {
				second = "doc_missing"
			}
			ctx := ctx
			if i == gaveUp {
				cancelled, cancel := context.WithCancel(ctx)
				cancel()
				ctx = cancelled
			}
			errs[i] = s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{doc(fmt.Sprint("doc", i), int64(i+1)), doc(second, int64(i+1))})
		})
	}
	const incs = 100
	wg.Go(func() {
		for range incs {
			if _, err := coll.UpdateOne(ctx, bson.M{"_id": "counter"}, bson.M{"$inc": bson.M{"n": int64(1)}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == missing && !errors.Is(err, ErrNoDocument):
			t.Errorf("batch with a missing document: %v, want ErrNoDocument", err)
		case i == gaveUp && !errors.Is(err, context.Canceled):
			t.Errorf("batch given up: %v, want context.Canceled", err)
		case i != missing && i != gaveUp && err != nil:
			t.Errorf("batch %d: %v", i, err)
		}
	}
	for i := range batches {
		want := int64(i + 1)
		if i == missing || i == gaveUp {
			want = 0
		}
		for _, id := range []string{fmt.Sprint("doc", i), fmt.Sprint("doc", batches+i)} {
			var got struct{ V int64 }
			if err := coll.FindOne(ctx, bson.M{"_id": id}).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.V != want {
				t.Errorf("%s: v %d, want %d", id, got.V, want)
			}
		}
	}
	var counter struct{ N int64 }
	if err := coll.FindOne(ctx, bson.M{"_id": "counter"}).Decode(&counter); err != nil {
		t.Fatal(err)
	}
	if counter.N != incs {
		t.Errorf("FerretDB's own $inc applied %d times, want %d", counter.N, incs)
	}
}

// A write after the database was dropped and made anew lands in the new file, where FerretDB
// reads it; one to a collection or database that does not exist is ErrNoDocument.
func TestReplaceDocsWritesTheCurrentFile(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("docs")
	write := func(v int64) error {
		return s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: v}})})
	}
	read := func() int64 {
		var got struct{ V int64 }
		if err := coll.FindOne(ctx, bson.M{"_id": "x"}).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got.V
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	if err := write(1); err != nil || read() != 1 {
		t.Fatalf("first write: %v, read %d", err, read())
	}
	if err := c.Database("d").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write(2); !errors.Is(err, ErrNoDocument) {
		t.Errorf("write to a dropped database: %v, want ErrNoDocument", err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	if err := write(3); err != nil || read() != 3 {
		t.Fatalf("write to the database made anew: %v, read %d", err, read())
	}
	if err := s.ReplaceDocs(ctx, "d", "none", []bson.Raw{mustRaw(t, bson.D{{Key: "_id", Value: "x"}})}); !errors.Is(err, ErrNoDocument) {
		t.Errorf("write to a missing collection: %v, want ErrNoDocument", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := write(4); err == nil {
		t.Error("write after Close accepted")
	}
}

// Writing to many databases, each dropped afterwards (as the tests' databases are), keeps no
// handle on more than a few dropped files, and a database written again after its writer was let
// go is written as before.
func TestReplaceDocsKeepsFewHandles(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	write := func(database string, v int64) {
		t.Helper()
		coll := c.Database(database).Collection("docs")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil && v == 1 {
			t.Fatal(err)
		}
		if err := s.ReplaceDocs(ctx, database, "docs", []bson.Raw{mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: v}})}); err != nil {
			t.Fatal(err)
		}
		var got struct{ V int64 }
		if err := coll.FindOne(ctx, bson.M{"_id": "x"}).Decode(&got); err != nil || got.V != v {
			t.Fatalf("%s: read %d (%v), want %d", database, got.V, err, v)
		}
	}
	write("keep", 1)
	const dropped = 12
	for i := range dropped {
		name := fmt.Sprint("gone", i)
		write(name, 1)
		if err := c.Database(name).Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	write("keep", 2)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	open := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, s.dir) && strings.HasSuffix(target, "(deleted)") {
			open++
		}
	}
	if open > 3*maxReaders {
		t.Errorf("%d handles on dropped files after writing to %d dropped databases", open, dropped)
	}
}

// After Close nothing is written, to a database written before or to one never written: the
// folder's lock is released, and another process may hold the files.
func TestReplaceDocsAfterCloseWritesNothing(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	for _, database := range []string{"seen", "unseen"} {
		if _, err := c.Database(database).Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil {
			t.Fatal(err)
		}
	}
	doc := mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(1)}})
	if err := s.ReplaceDocs(ctx, "seen", "docs", []bson.Raw{doc}); err != nil {
		t.Fatal(err)
	}
	before := storedText(t, s, "unseen", "docs", "x")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, database := range []string{"seen", "unseen"} {
		if err := s.ReplaceDocs(ctx, database, "docs", []bson.Raw{doc}); err == nil {
			t.Errorf("write to %s after Close accepted", database)
		}
	}
	if got := storedText(t, s, "unseen", "docs", "x"); got != before {
		t.Errorf("written after Close: %s", got)
	}
}

// Close returns only once a commit in flight is over: a write that reports success had landed
// in the file when Close returned, while the server still held the data folder. Here the commit waits for another connection's
// write lock while Close is called, its writer kept or let go of meanwhile (writes to more
// databases than writers are kept).
func TestCloseWaitsForTheCommitInFlight(t *testing.T) {
	for _, letGo := range []bool{false, true} {
		t.Run(fmt.Sprint("let go ", letGo), func(t *testing.T) { closeDuringCommit(t, letGo) })
	}
}

func closeDuringCommit(t *testing.T, letGo bool) {
	s, c := startConnected(t)
	ctx := context.Background()
	doc := mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(1)}})
	databases := []string{"d"}
	if letGo {
		for i := range maxReaders {
			databases = append(databases, fmt.Sprint("other", i))
		}
	}
	for _, database := range databases {
		if _, err := c.Database(database).Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Disconnect(ctx); err != nil { // else Close waits for the client's connection
		t.Fatal(err)
	}
	held := holdWriteLock(t, s, "d")
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() { writeErr = s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{doc}) })
	time.Sleep(200 * time.Millisecond) // the write waits for the lock held
	for _, database := range databases[1:] {
		if err := s.ReplaceDocs(ctx, database, "docs", []bson.Raw{doc}); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	var atClose string // the document in the file when Close returned
	var readErr error
	wg.Go(func() {
		defer close(closed)
		_ = s.Close()
		db, table, err := s.openTable(ctx, "d", "docs", "ro")
		if err != nil {
			readErr = err
			return
		}
		defer db.Close()
		readErr = db.QueryRowContext(ctx, fmt.Sprintf("SELECT _ferretdb_sjson->>'$.v' FROM %q", table)).Scan(&atClose)
	})
	select {
	case <-closed:
	case <-time.After(500 * time.Millisecond):
	}
	if err := held.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if writeErr == nil && atClose != "1" {
		t.Errorf("the write reported success, but v was %s in the file when Close returned", atClose)
	}
}

// A write that waited writeBusyTimeout for another writer to let go of the file is a BusyError,
// which says Busy (the store answers 503 with Retry-After), and wrote nothing; once the file is
// free the same write lands.
func TestReplaceDocsWaitingTooLongIsBusy(t *testing.T) {
	defer func(was time.Duration) { writeBusyTimeout = was }(writeBusyTimeout)
	writeBusyTimeout = 100 * time.Millisecond
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	held := holdWriteLock(t, s, "d")
	doc := mustRaw(t, bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: int64(1)}})
	err := s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{doc})
	busy, ok := errors.AsType[interface {
		error
		Busy() bool
	}](err)
	if !ok || !busy.Busy() {
		t.Fatalf("write while the file is held: %v, want a busy error", err)
	}
	if err := held.Rollback(); err != nil {
		t.Fatal(err)
	}
	var got struct{ V int64 }
	if err := coll.FindOne(ctx, bson.M{"_id": "x"}).Decode(&got); err != nil || got.V != 0 {
		t.Fatalf("read %d (%v) after the busy write, want 0", got.V, err)
	}
	if err := s.ReplaceDocs(ctx, "d", "docs", []bson.Raw{doc}); err != nil {
		t.Fatalf("write once the file is free: %v", err)
	}
	if err := coll.FindOne(ctx, bson.M{"_id": "x"}).Decode(&got); err != nil || got.V != 1 {
		t.Fatalf("read %d (%v), want 1", got.V, err)
	}
}

// holdWriteLock takes the database file's write lock on a connection of its own, as a FerretDB
// write in progress does, until the transaction it answers ends (at the latest when the test ends).
func holdWriteLock(t *testing.T, s *Server, database string) *sql.Tx {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(s.dir, database+".sqlite"))+"?mode=rw&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	held, err := other.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Rollback() })
	return held
}
