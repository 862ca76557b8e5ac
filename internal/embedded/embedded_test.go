package embedded

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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
	s, c := startConnected(t)
	ctx := context.Background()
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
	s, c := startConnected(t)
	ctx := context.Background()
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
	s, c := startConnected(t)
	ctx := context.Background()
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
		plan := explain(t, s, "d", "pledges", q.sql, append(append([]any{}, q.values...), int64(0), 10))
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

// explain is SQLite's plan for the query sql makes for the collection's table, one line per step.
func explain(t *testing.T, s *Server, database, collection string, sql func(table string) string, args []any) string {
	t.Helper()
	db, table, err := s.openTable(context.Background(), database, collection, "ro")
	if err != nil || table == "" {
		t.Fatalf("open %s: %q, %v", collection, table, err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+sql(table), args...)
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

// PageIDs must answer each page exactly as the server's own query does (same filter, _id order,
// limit), over several campaigns and states, ids and values an attacker might choose (quotes,
// SQL and JSON syntax, case, bytes past ASCII in every UTF-8 length) and documents whose fields
// are of other types or missing; and it must search its index, never scan the table.
func TestPageIDsUsesItsIndexAndAnswersExactly(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("pledges")
	campaigns := []string{"cam_a", "cam_b", `cam_'); DROP TABLE x; --`, `cam_"$.status"`, "CAM_A", "cam_é"}
	statuses := []string{"active", "pending", "collected", `act'ive`, "Active"}
	ids := []string{"a", "A", "b", "z", "_", "~", "0", "9", "a'b", `a"b`, "a\\b", "a%", "a_", "é", "ß", "€", "😀", "\u007f", "aa", "ab",
		"plg_0001", "plg_001", "plg_01", `') OR 1=1 --`, "$.status", "Z\u00e9", "z\u00e9"}
	var docs []any
	for i, id := range ids {
		for j, cam := range campaigns {
			docs = append(docs, bson.M{"_id": fmt.Sprintf("%s|%d", id, j), "campaign_id": cam, "status": statuses[(i+j)%len(statuses)]})
		}
		docs = append(docs, bson.M{"_id": id, "campaign_id": campaigns[i%len(campaigns)], "status": statuses[i%len(statuses)]})
	}
	docs = append(docs,
		bson.M{"_id": "no_status", "campaign_id": "cam_a"},
		bson.M{"_id": "number_status", "campaign_id": "cam_a", "status": int64(1)},
		bson.M{"_id": "null_campaign", "campaign_id": nil, "status": "active"},
	)
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	served := func(cam string, in []string, after string, limit int) []string {
		t.Helper()
		q := bson.M{"campaign_id": cam, "status": bson.M{"$in": in}}
		if after != "" {
			q["_id"] = bson.M{"$gt": after}
		}
		cur, err := coll.Find(ctx, q, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).SetProjection(bson.M{"_id": 1}))
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID any `bson:"_id"`
		}
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, d := range got {
			id, ok := d.ID.(string)
			if !ok {
				t.Fatalf("the server listed _id %v among %s's pledges", d.ID, cam)
			}
			out = append(out, id)
		}
		return out
	}
	pages := 0
	for _, cam := range campaigns {
		for _, in := range [][]string{{"active"}, {"active", "pending"}, statuses, {"pending", `act'ive`, "nothing", "pending"}} {
			for _, limit := range []int{1, 3, 1000} {
				after, seen := "", 0
				for {
					want := served(cam, in, after, limit)
					got, err := s.PageIDs(ctx, "d", "pledges", map[string]string{"campaign_id": cam}, "status", in, after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%q %q after %q limit %d: got %q, the server says %q", cam, in, after, limit, got, want)
					}
					pages++
					seen += len(got)
					if len(got) < limit {
						break
					}
					after = got[len(got)-1]
				}
				if seen == 0 && !slices.Contains(in, "nothing") {
					t.Errorf("%q %q: no pledges at all, the comparison proves nothing", cam, in)
				}
			}
		}
	}
	t.Logf("%d pages equal the server's", pages)
	if got, err := s.PageIDs(ctx, "d", "pledges", map[string]string{"campaign_id": "cam_a"}, "status", []string{"active"}, "\U0010ffff", 10); err != nil || len(got) != 0 {
		t.Errorf("after the last possible id: %q, %v", got, err)
	}
	if got, err := s.PageIDs(ctx, "d", "pledges", map[string]string{"campaign_id": "cam_a"}, "status", nil, "", 10); err != nil || len(got) != 0 {
		t.Errorf("no states: %q, %v", got, err)
	}

	for _, in := range [][]string{{"active"}, statuses, {"pending", "active", "pending"}} {
		q, err := newPageQuery(map[string]string{"campaign_id": "cam_a"}, "status", in)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(t, s, "d", "pledges", q.sql, q.args("a", 10))
		// Each state's range is searched in the index's order; the only sorts are of the
		// subqueries' rows (at most limit each) for the merge.
		table, index := "", ""
		if m := regexp.MustCompile(`SEARCH (\S+) USING INDEX (\S+) \(<expr>=\? AND <expr>=\? AND <expr>>\?\)`).FindStringSubmatch(plan); m != nil {
			table, index = m[1], m[2]
		}
		lines := strings.Split(plan, "\n")
		searches := 0
		for i, l := range lines {
			if table != "" && l == "SEARCH "+table+" USING INDEX "+index+" (<expr>=? AND <expr>=? AND <expr>>?)" {
				searches++
			}
			if strings.Contains(l, "TEMP B-TREE") && (i == 0 || !strings.HasPrefix(lines[i-1], "SCAN (subquery-")) ||
				table != "" && strings.Contains(l, "SCAN "+table) {
				t.Errorf("%q: the query sorts or scans the table:\n%s", in, plan)
			}
		}
		if !strings.HasSuffix(index, "__page_campaign_id__status___id") || searches != len(q.in) {
			t.Errorf("%q: the query does not search its index once for each state:\n%s", in, plan)
		}
	}
	for _, bad := range []string{`status' IS NULL OR '1`, "status.", "$.status", "Status", "_id"} {
		if _, err := s.PageIDs(ctx, "d", "pledges", nil, bad, []string{"active"}, "", 10); err == nil {
			t.Errorf("path %q accepted", bad)
		}
		if _, err := s.PageIDs(ctx, "d", "pledges", map[string]string{bad: "x"}, "status", []string{"active"}, "", 10); err == nil {
			t.Errorf("equal path %q accepted", bad)
		}
	}
	if got, err := s.PageIDs(ctx, "d", "nothing_here", nil, "status", []string{"active"}, "", 10); err != nil || len(got) != 0 {
		t.Errorf("missing collection: %v, %v", got, err)
	}
}

// startConnected starts a store in a fresh folder and connects a driver to it with one
// connection, as the service does; both end with the test.
func startConnected(t *testing.T) (*Server, *mongo.Client) {
	t.Helper()
	s := mustStart(t, lowercaseTempDir(t))
	c, err := mongo.Connect(context.Background(), options.Client().ApplyURI(s.URI()).SetMaxPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return s, c
}

// ScanEqual answers what Scan answers for the documents whose fields hold the asked strings (the
// server's equality: a number or a missing field never matches), before and after documents
// change, and without parsing any document: the program SQLite runs for its query calls no
// function at all, its values come out of the index. Odd paths and hostile values are refused or
// bound, never spliced into the SQL.
func TestScanEqualReadsItsIndexNotTheDocuments(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("pledges")
	paths := []string{"_id", "campaign_id", "amount.amount", "amount.currency", "dispute", "dispute.id", "note"}
	if err := s.ScanEqual(ctx, "d", "pledges", map[string]string{"campaign_id": "cam_a"}, paths, func([]any) error {
		t.Error("a row from a collection that does not exist")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	campaigns := []string{"cam_a", "cam_b", `cam_'); DROP TABLE x; --`, `cam_"$.x"`, "CAM_A", "cam_é", ""}
	var docs []any
	for i, cam := range campaigns {
		for j := range 3 {
			docs = append(docs, bson.M{"_id": fmt.Sprintf("p%d_%d", i, j), "campaign_id": cam,
				"amount":  bson.M{"amount": int64(1)<<53 + int64(i*10+j), "currency": "CHF"},
				"dispute": bson.M{"id": fmt.Sprintf(`dp_"%d"`, j), "status": "won"}, "note": []any{"x", int64(j)}})
		}
	}
	docs = append(docs,
		bson.M{"_id": "no_campaign", "amount": bson.M{"amount": int64(1)}},
		bson.M{"_id": "number_campaign", "campaign_id": int64(7)},
		bson.M{"_id": "null_campaign", "campaign_id": nil},
		bson.M{"_id": "bare", "campaign_id": "cam_a"},
	)
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexScanEqual(ctx, "d", "pledges", []string{"campaign_id"}, paths); err != nil {
		t.Fatal(err)
	}
	rows := func(read func(fn func([]any) error) error) []string {
		t.Helper()
		var out []string
		if err := read(func(v []any) error { out = append(out, fmt.Sprintf("%#v", v)); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	compare := func(when string) {
		t.Helper()
		for _, cam := range append(campaigns, "cam_none", "7") {
			got := rows(func(fn func([]any) error) error {
				return s.ScanEqual(ctx, "d", "pledges", map[string]string{"campaign_id": cam}, paths, fn)
			})
			want := rows(func(fn func([]any) error) error {
				return s.Scan(ctx, "d", "pledges", paths, func(v []any) error {
					if id, ok := v[1].(string); ok && id == cam {
						return fn(v)
					}
					return nil
				})
			})
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, campaign %q: ScanEqual read\n %v\nScan reads\n %v", when, cam, got, want)
			}
			if cam == "cam_a" && len(want) != 4 {
				t.Errorf("%s: %d documents of cam_a, want 4: the comparison proves little", when, len(want))
			}
		}
	}
	compare("as inserted")
	if _, err := coll.UpdateOne(ctx, bson.M{"_id": "p0_0"}, bson.M{"$set": bson.M{"amount.amount": int64(-5)}, "$unset": bson.M{"dispute": ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.M{"_id": "p1_0"}, bson.M{"$set": bson.M{"campaign_id": "cam_a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.M{"_id": "p0_1"}); err != nil {
		t.Fatal(err)
	}
	compare("after an update, a move to another campaign and a delete")

	q, err := newScanEqualQuery("pledges", map[string]string{"campaign_id": "cam_a"}, paths)
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(t, s, "d", "pledges", q.sql, q.values)
	if !strings.Contains(plan, "USING INDEX") || strings.Contains(plan, "SCAN") {
		t.Errorf("the query does not search its index:\n%s", plan)
	}
	if calls := functionCalls(t, s, "d", "pledges", q.sql(tableOf(t, s, "d", "pledges")), q.values); len(calls) > 0 {
		t.Errorf("the query computes %v for each document instead of reading the index", calls)
	}

	for _, bad := range []string{`_id') FROM x; --`, "amount.", "$.amount", "Amount"} {
		if err := s.ScanEqual(ctx, "d", "pledges", map[string]string{"campaign_id": "x"}, []string{"_id", bad}, func([]any) error { return nil }); err == nil {
			t.Errorf("path %q accepted", bad)
		}
		if err := s.ScanEqual(ctx, "d", "pledges", map[string]string{bad: "x"}, paths, func([]any) error { return nil }); err == nil {
			t.Errorf("equal path %q accepted", bad)
		}
	}
	if err := s.ScanEqual(ctx, "d", "pledges", nil, paths, func([]any) error { return nil }); err == nil {
		t.Error("no equal field accepted: that is Scan")
	}
}

func tableOf(t *testing.T, s *Server, database, collection string) string {
	t.Helper()
	db, table, err := s.openTable(context.Background(), database, collection, "ro")
	if err != nil || table == "" {
		t.Fatalf("open %s: %q, %v", collection, table, err)
	}
	db.Close()
	return table
}

// functionCalls lists the SQL functions the program SQLite compiles for query calls (its
// Function opcodes), by name.
func functionCalls(t *testing.T, s *Server, database, collection, query string, args []any) []string {
	t.Helper()
	db, _, err := s.openTable(context.Background(), database, collection, "ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for rows.Next() {
		v := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		// addr, opcode, p1, p2, p3, p4, ...
		if op := fmt.Sprint(v[1]); strings.HasPrefix(op, "Function") || strings.HasPrefix(op, "PureFunc") {
			calls = append(calls, fmt.Sprint(v[5]))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// An index made for other paths (an earlier version's ledger fields) is dropped when the store
// makes the current one, so SQLite stops writing it with every pledge; an index of other equal
// fields that shares its name's start stays.
func TestIndexScanEqualDropsTheIndexOfOtherPaths(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	if _, err := c.Database("d").Collection("pledges").InsertOne(ctx, bson.M{"_id": "p1", "campaign_id": "cam_a", "status": "active", "amount": int64(5)}); err != nil {
		t.Fatal(err)
	}
	indexes := func() []string {
		t.Helper()
		db, table, err := s.openTable(ctx, "d", "pledges", "ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE '%__scan_%' ORDER BY name", table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		return names
	}
	if err := s.IndexScanEqual(ctx, "d", "pledges", []string{"campaign_id", "status"}, []string{"_id"}); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexScanEqual(ctx, "d", "pledges", []string{"campaign_id"}, []string{"_id", "status"}); err != nil {
		t.Fatal(err)
	}
	before := indexes()
	if len(before) != 2 {
		t.Fatalf("indexes %v, want two", before)
	}
	if err := s.IndexScanEqual(ctx, "d", "pledges", []string{"campaign_id"}, []string{"_id", "amount"}); err != nil {
		t.Fatal(err)
	}
	after := indexes()
	if len(after) != 2 || slices.Contains(after, before[0]) == slices.Contains(after, before[1]) {
		t.Fatalf("indexes before %v, after %v: want the one of campaign_id with other paths replaced, the one of campaign_id and status kept", before, after)
	}
	var got []any
	if err := s.ScanEqual(ctx, "d", "pledges", map[string]string{"campaign_id": "cam_a"}, []string{"_id", "amount"}, func(v []any) error { got = v; return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []any{"p1", int64(5)}) {
		t.Errorf("read %#v after the drop", got)
	}
}
