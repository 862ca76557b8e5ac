package embedded

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func mustStart(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ping(ctx context.Context, uri string) error {
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetServerSelectionTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	return c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
}

// listeningTCP lists the TCP addresses this process listens on, from the kernel's socket tables:
// the sockets in /proc/net/tcp{,6} in state LISTEN whose inode is one of this process's files.
func listeningTCP(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	ours := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, "socket:[") {
			ours[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			const listen = "0A"
			if len(fields) > 9 && fields[3] == listen && ours[fields[9]] {
				addrs = append(addrs, fields[1])
			}
		}
		f.Close()
	}
	return addrs
}

// lowercaseTempDir is a test folder whose path the driver can reach a socket in (see socketPath);
// t.TempDir's has the test's name in capitals.
func lowercaseTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "backstitch-embedded-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if dir != strings.ToLower(dir) {
		t.Skipf("TMPDIR %s has capitals", dir)
	}
	return dir
}

func TestStoreListensOnlyOnAPrivateUnixSocket(t *testing.T) {
	dir := filepath.Join(lowercaseTempDir(t), "data")
	// A folder someone made readable for everyone is made private: it holds the store's files.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	before := listeningTCP(t)
	s := mustStart(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ping(ctx, s.URI()); err != nil {
		t.Fatalf("the service's own client cannot reach the store at %s: %v", s.URI(), err)
	}
	if after := listeningTCP(t); len(after) != len(before) {
		t.Fatalf("the embedded store listens on TCP (any local user's MongoDB client could read it): before %v, after %v", before, after)
	}
	if !strings.HasPrefix(s.URI(), "mongodb://%2F") {
		t.Fatalf("URI %q is not a Unix socket", s.URI())
	}
	sock := filepath.Join(dir, socketName)
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s has mode %v, want a socket with 0600", sock, st.Mode())
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data folder mode %v (%v), want 0700", st.Mode(), err)
	}
}

func TestSecondOpenOfTheSameFolderFailsNamingTheHolder(t *testing.T) {
	dir := lowercaseTempDir(t)
	first, err := Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(dir)
	if err == nil {
		t.Fatal("a second store opened the same data folder while the first was running")
	}
	for _, want := range []string{dir, "pid " + strconv.Itoa(os.Getpid()), os.Args[0], "BACKSTITCH_DATA_DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The failed attempt must leave the running store as it was.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ping(ctx, first.URI()); err != nil {
		t.Fatalf("the first store stopped answering after a refused second open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed, the folder is free again, and the socket the first left behind is no obstacle.
	second := mustStart(t, dir)
	if err := ping(ctx, second.URI()); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSocketOfADeadProcessIsReplaced(t *testing.T) {
	dir := lowercaseTempDir(t)
	ln, err := net.Listen("unix", filepath.Join(dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	// A process killed with SIGKILL leaves its socket file: unlinking is skipped here the same way.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s := mustStart(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ping(ctx, s.URI()); err != nil {
		t.Fatal(err)
	}
}

func TestDataFoldersTheDriverCannotReachASocketInStillWork(t *testing.T) {
	for name, dir := range map[string]string{
		"too long":      filepath.Join(lowercaseTempDir(t), strings.Repeat("d", 60), strings.Repeat("e", 60)),
		"with capitals": t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) { testSocketOutsideDataFolder(t, dir) })
	}
}

func testSocketOutsideDataFolder(t *testing.T, dir string) {
	s := mustStart(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ping(ctx, s.URI()); err != nil {
		t.Fatal(fmt.Errorf("long path %d bytes: %w", len(dir), err))
	}
	sockDir := s.sockDir
	if sockDir == "" {
		t.Fatalf("expected the socket outside data folder %s", dir)
	}
	if st, err := os.Stat(sockDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("socket folder %s: %v %v, want 0700", sockDir, st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sockDir); !os.IsNotExist(err) {
		t.Fatalf("socket folder %s left behind: %v", sockDir, err)
	}
}

// Scan splices nothing a caller gives into its SQL: a field path that is not a plain dotted name
// is refused, and a collection that does not exist reads as empty, as FerretDB answers a query
// on it. (That Scan returns what FerretDB returns is checked in mongostore's tests.)
func TestScanRefusesOddPathsAndReadsMissingCollectionsAsEmpty(t *testing.T) {
	s := mustStart(t, lowercaseTempDir(t))
	ctx := context.Background()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()).SetMaxPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	if _, err := c.Database("d").Collection("pledges").InsertOne(ctx, bson.M{"_id": "plg_1", "amount": bson.M{"amount": int64(5000)}}); err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	collect := func(v []any) error { rows = append(rows, append([]any(nil), v...)); return nil }
	for _, bad := range []string{`_id') FROM x; --`, "amount.", "$.amount", "Amount", `amount["x"]`} {
		if err := s.Scan(ctx, "d", "pledges", []string{"_id", bad}, collect); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
	if err := s.Scan(ctx, "d", "nothing_here", []string{"_id"}, collect); err != nil || len(rows) != 0 {
		t.Fatalf("missing collection: %v, %v", rows, err)
	}
	if err := s.Scan(ctx, "d", "pledges", []string{"_id", "amount.amount", "note"}, collect); err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{"plg_1", int64(5000), nil}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows = %v, want %v", rows, want)
	}
}

// ScanIDs reads the asked documents only, leaves out ids that match none, splices nothing odd
// into its SQL, and reads a database dropped and made anew from its new file, not from the handle
// it keeps on the old one.
func TestScanIDsReadsTheAskedDocumentsOfTheCurrentFile(t *testing.T) {
	s := mustStart(t, lowercaseTempDir(t))
	ctx := context.Background()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()).SetMaxPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	pledges := c.Database("d").Collection("pledges")
	for i, id := range []string{"plg_1", "plg_2", "plg_3"} {
		if _, err := pledges.InsertOne(ctx, bson.M{"_id": id, "version": int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(ids ...string) map[string]any {
		got := map[string]any{}
		if err := s.ScanIDs(ctx, "d", "pledges", ids, []string{"_id", "version"}, func(v []any) error {
			got[v[0].(string)] = v[1]
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := read("plg_3", "plg_1", "plg_404"), map[string]any{"plg_1": int64(1), "plg_3": int64(3)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	if err := s.ScanIDs(ctx, "d", "pledges", []string{"plg_1"}, []string{`_id') FROM x; --`}, func([]any) error { return nil }); err == nil {
		t.Error("odd path accepted")
	}
	if err := c.Database("d").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read("plg_1"); len(got) != 0 {
		t.Fatalf("dropped database read as %v", got)
	}
	if _, err := pledges.InsertOne(ctx, bson.M{"_id": "plg_1", "version": int64(9)}); err != nil {
		t.Fatal(err)
	}
	if got, want := read("plg_1"), map[string]any{"plg_1": int64(9)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("database made anew read as %v, want %v", got, want)
	}
}

// DueIDs answers from an index on exactly the expressions it queries, never by reading the whole
// table: the plan SQLite makes for its query names the index (created on first use) and has no
// scan of the table. It returns the documents whose date is at or before the instant (to the
// millisecond) among those with the equal fields, skips documents without the field or with
// text there, and splices nothing odd into its SQL.
func TestDueIDsUsesItsIndexAndAnswersExactly(t *testing.T) {
	s := mustStart(t, lowercaseTempDir(t))
	ctx := context.Background()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()).SetMaxPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	docs := []any{
		bson.M{"_id": "due", "status": "pending", "hold": now.Add(-time.Hour)},
		bson.M{"_id": "due_at_the_ms", "status": "pending", "hold": now},
		bson.M{"_id": "a_ms_late", "status": "pending", "hold": now.Add(time.Millisecond)},
		bson.M{"_id": "other_status", "status": "paid", "hold": now.Add(-time.Hour)},
		bson.M{"_id": "no_hold", "status": "pending"},
		bson.M{"_id": "null_hold", "status": "pending", "hold": nil},
		bson.M{"_id": "text_hold", "status": "pending", "hold": "2000-01-01"},
		bson.M{"_id": "nested", "status": "pending", "p": bson.M{"since": now.Add(-time.Minute)}},
	}
	if _, err := c.Database("d").Collection("pledges").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		equal map[string]string
		path  string
		want  []string
	}{
		{map[string]string{"status": "pending"}, "hold", []string{"due", "due_at_the_ms"}},
		{map[string]string{"status": "paid"}, "hold", []string{"other_status"}},
		{nil, "hold", []string{"due", "due_at_the_ms", "other_status"}},
		{nil, "p.since", []string{"nested"}},
	} {
		got, err := s.DueIDs(ctx, "d", "pledges", c.equal, c.path, now, 100)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v %s: got %v, want %v", c.equal, c.path, got, c.want)
		}

		q, err := newDueQuery(c.equal, c.path)
		if err != nil {
			t.Fatal(err)
		}
		plan := explainDue(t, s, "d", "pledges", q)
		if !strings.Contains(plan, "USING INDEX") || strings.Contains(plan, "SCAN") {
			t.Errorf("%v %s: the query does not search its index:\n%s", c.equal, c.path, plan)
		}
	}
	if got, err := s.DueIDs(ctx, "d", "pledges", map[string]string{"status": "pending"}, "hold", now, 1); err != nil || len(got) != 1 {
		t.Errorf("limit 1: %v, %v", got, err)
	}
	for _, bad := range []string{`hold' IS NULL OR '1`, "hold.", "$.hold", "Hold", "_id"} {
		if _, err := s.DueIDs(ctx, "d", "pledges", nil, bad, now, 10); err == nil {
			t.Errorf("path %q accepted", bad)
		}
		if _, err := s.DueIDs(ctx, "d", "pledges", map[string]string{bad: "x"}, "hold", now, 10); err == nil {
			t.Errorf("equal path %q accepted", bad)
		}
	}
	if got, err := s.DueIDs(ctx, "d", "nothing_here", nil, "hold", now, 10); err != nil || len(got) != 0 {
		t.Errorf("missing collection: %v, %v", got, err)
	}
}

// explainDue is SQLite's plan for q, one line per step.
func explainDue(t *testing.T, s *Server, database, collection string, q dueQuery) string {
	t.Helper()
	db, table, err := s.openTable(context.Background(), database, collection, "ro")
	if err != nil || table == "" {
		t.Fatalf("open %s: %q, %v", collection, table, err)
	}
	defer db.Close()
	args := append(append([]any{}, q.values...), int64(0), 10)
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q.sql(table), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
