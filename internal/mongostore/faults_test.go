package mongostore_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
)

// mustProxiedStore opens a fresh database through a fault-injecting proxy, in whichever store
// mode the suite runs (the write path differs: per-document locks, or MongoDB's conditional
// update). Operations wait at most a second for a server, so "down" answers quickly.
func mustProxiedStore(t *testing.T) (*mongostore.Store, *testenv.Proxy) {
	t.Helper()
	proxy, opts := testenv.MustProxy(t, testenv.StoreOptions(t))
	opts.ServerSelectionTimeout = time.Second
	return testenv.MustStoreAt(t, opts), proxy
}

// mustProxiedServerWrites is mustProxiedStore whose pledge writes go through the server in the
// embedded mode too: as the service opens it, they go to the store's files (Options.Writer),
// where no connection can drop, and these tests are of the server's write path.
func mustProxiedServerWrites(t *testing.T) (*mongostore.Store, *testenv.Proxy) {
	t.Helper()
	proxy, opts := testenv.MustProxy(t, testenv.StoreOptions(t))
	opts.ServerSelectionTimeout, opts.Writer = time.Second, nil
	return testenv.MustStoreAt(t, opts), proxy
}

func writesTo(coll string) func(testenv.Command) bool {
	return func(c testenv.Command) bool {
		return c.Collection == coll && (c.Name == "update" || c.Name == "findAndModify" || c.Name == "insert")
	}
}

// A pledge write whose connection drops, before or after the primary applied it, is repeated
// or recognised: the caller gets the pledge it wrote, stored once (version moved by one), never
// a conflict with itself nor an internal error.
func TestPledgeWriteSurvivesADroppedConnection(t *testing.T) {
	for _, fault := range []testenv.Fault{testenv.DropRequest, testenv.DropReply} {
		s, proxy := mustProxiedServerWrites(t)
		ctx := context.Background()
		p := pledge.Pledge{ID: "plg_drop", CampaignID: "cam_x", Status: pledge.StatusPending, Amount: money.Money{Amount: 5000, Currency: "CHF"}}
		if err := s.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
		read, err := s.FindPledge(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		proxy.Fail(writesTo("pledges"), fault)
		next := read.MoveTo(pledge.StatusActive, "backer", "confirmed", time.Now())
		got, err := s.FencedReplacePledge(ctx, read, next, 3)
		if err != nil {
			t.Fatalf("fault %d: %v", fault, err)
		}
		if proxy.Pending() != 0 {
			t.Fatalf("fault %d never struck: the test did not test anything", fault)
		}
		stored, err := s.FindPledge(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Version != read.Version+1 || got.Version != stored.Version || stored.Status != pledge.StatusActive || len(stored.History) != len(read.History)+1 {
			t.Fatalf("fault %d: stored version %d status %s with %d history entries, want version %d, active, %d entries",
				fault, stored.Version, stored.Status, len(stored.History), read.Version+1, len(read.History)+1)
		}
	}
}

// A write that lost its answer is not mistaken for ours when someone else wrote the same
// version: the caller is told of the conflict.
func TestLostPledgeWriteIsNotConfusedWithAnothers(t *testing.T) {
	s, proxy := mustProxiedServerWrites(t)
	ctx := context.Background()
	p := pledge.Pledge{ID: "plg_other", CampaignID: "cam_x", Status: pledge.StatusPending, Amount: money.Money{Amount: 5000, Currency: "CHF"}}
	if err := s.CreatePledge(ctx, p); err != nil {
		t.Fatal(err)
	}
	read, _ := s.FindPledge(ctx, p.ID)
	if _, err := s.ReplacePledge(ctx, read, read.MoveTo(pledge.StatusCancelled, "backer", "cancelled", time.Now())); err != nil {
		t.Fatal(err)
	}
	proxy.Fail(writesTo("pledges"), testenv.DropRequest)
	_, err := s.ReplacePledge(ctx, read, read.MoveTo(pledge.StatusActive, "webhook", "confirmed", time.Now()))
	if backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("a stale write after a dropped connection: %v, want conflict", err)
	}
	if testenv.StoreOptions(t).Locks == nil && proxy.Pending() != 0 {
		t.Fatal("the fault never struck: the test did not test anything")
	}
	if stored, _ := s.FindPledge(ctx, p.ID); stored.Status != pledge.StatusCancelled {
		t.Fatalf("status %s, want cancelled", stored.Status)
	}
}

// While no server answers, the store says unavailable with a Retry-After (the web layer's 503),
// not an internal error; when one answers again, the same call succeeds. On the embedded store
// as the service opens it, a pledge's compare-and-set reads and writes its files, not through the
// server, so it goes on: the write lands, a read answers it, and a pledge's insert (which goes
// through the server) is what is unavailable.
func TestStoreDownIsUnavailableThenRecovers(t *testing.T) {
	proxy, opts := testenv.MustProxy(t, testenv.StoreOptions(t))
	opts.ServerSelectionTimeout = time.Second
	s := testenv.MustStoreAt(t, opts)
	ctx := context.Background()
	p := pledge.Pledge{ID: "plg_down", CampaignID: "cam_x", Status: pledge.StatusPending, Amount: money.Money{Amount: 5000, Currency: "CHF"}}
	if err := s.CreatePledge(ctx, p); err != nil {
		t.Fatal(err)
	}
	read, _ := s.FindPledge(ctx, p.ID)
	proxy.Down()
	next := read.MoveTo(pledge.StatusActive, "backer", "confirmed", time.Now())
	write := func() error {
		_, err := s.ReplacePledge(ctx, read, next)
		return err
	}
	if opts.Writer != nil {
		if err := write(); err != nil {
			t.Fatalf("write to the files while the server is down: %v", err)
		}
		if got, err := s.FindPledge(ctx, p.ID); err != nil || got.Version != read.Version+1 || got.Status != pledge.StatusActive {
			t.Fatalf("read from the files while the server is down: %v version %d %s, want version %d active", err, got.Version, got.Status, read.Version+1)
		}
		other := p
		other.ID = "plg_down_2"
		write = func() error { return s.CreatePledge(ctx, other) }
	}
	err := write()
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok || e.Code != backstitch.CodeUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("write while down: %v, want unavailable with a retry delay", err)
	}
	got, err := s.FindPledge(ctx, p.ID)
	switch {
	case opts.Scanner == nil && backstitch.ErrorCode(err) != backstitch.CodeUnavailable:
		t.Fatalf("read while down: %v, want unavailable", err)
	case opts.Scanner != nil && opts.Writer == nil && (err != nil || got.Version != read.Version || got.Status != read.Status):
		t.Fatalf("read from the files while the server is down: %v version %d %s, want version %d %s", err, got.Version, got.Status, read.Version, read.Status)
	}
	proxy.Up()
	if err := write(); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
}

// A lease renewal whose answer is lost is still a renewal (the holder keeps its token), and a
// grant whose answer is lost is recognised as the caller's own; in neither case does anyone else
// get the lease while it runs, and the fencing token grows by one per grant.
func TestLeaseSurvivesDroppedConnections(t *testing.T) {
	s, proxy := mustProxiedStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	first, err := s.AcquireLease(ctx, "settle:cam_x", "a", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Fail(writesTo("leases"), testenv.DropReply)
	renewed, err := s.RenewLease(ctx, first, time.Minute, now.Add(50*time.Second))
	if err != nil || proxy.Pending() != 0 {
		t.Fatalf("renewal with a lost answer: %v (fault pending: %d)", err, proxy.Pending())
	}
	if renewed.Token != first.Token {
		t.Fatalf("token %d after renewal, want %d", renewed.Token, first.Token)
	}
	// The first term has run out; the renewal keeps b away.
	if _, err := s.AcquireLease(ctx, "settle:cam_x", "b", time.Minute, now.Add(70*time.Second)); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("b took a renewed lease: %v", err)
	}
	// After the renewed term, b's grant loses its answer: b still holds it, with the next token,
	// and a's renewal is refused.
	proxy.Fail(func(c testenv.Command) bool { return c.Collection == "leases" && c.Name == "findAndModify" }, testenv.DropReply)
	second, err := s.AcquireLease(ctx, "settle:cam_x", "b", time.Minute, now.Add(2*time.Minute))
	if err != nil || proxy.Pending() != 0 {
		t.Fatalf("grant with a lost answer: %v (fault pending: %d)", err, proxy.Pending())
	}
	if second.Owner != "b" || second.Token != first.Token+1 {
		t.Fatalf("grant %+v, want owner b with token %d", second, first.Token+1)
	}
	if _, err := s.RenewLease(ctx, renewed, time.Minute, now.Add(2*time.Minute)); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("a renewed a lease b holds: %v", err)
	}
	if _, err := s.AcquireLease(ctx, "settle:cam_x", "c", time.Minute, now.Add(2*time.Minute+time.Second)); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("c took b's lease: %v", err)
	}
}

// The embedded FerretDB has no TTL indexes (it refuses expireAfterSeconds), so the store keeps
// sweeping there; MongoDB gets TTL indexes, created at start.
func TestExpiryByServerOrSweeper(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	onMongoDB := os.Getenv("MONGODB_URI") != ""
	if s.ServerExpires() != onMongoDB {
		t.Fatalf("ServerExpires %v on MongoDB=%v", s.ServerExpires(), onMongoDB)
	}
	if !onMongoDB {
		return
	}
	for _, coll := range []string{"sessions", "rate_limits", "idempotency_keys", "idempotency_responses"} {
		specs, err := s.IndexSpecifications(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, spec := range specs {
			found = found || (spec.Name == "expires_at_1" && spec.ExpireAfterSeconds != nil && *spec.ExpireAfterSeconds == 0)
		}
		if !found {
			t.Errorf("%s has no TTL index on expires_at", coll)
		}
	}
}

// On a store with Locks, a command sent under a pledge's lock runs to its answer even when its
// caller gives up meanwhile: the lock is let go only once the server has answered, so a command
// the server goes on with can never land over the next holder's write. A caller gone before it
// holds the lock sends nothing (a settler that lost its lease writes nothing more). On MongoDB,
// with no lock to outlive, the driver gives up with its caller.
func TestLockedWritesOutliveTheirCallersContext(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var mu sync.Mutex
	var cancelOnSend context.CancelFunc
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		if e.CommandName == "findAndModify" && cancelOnSend != nil {
			cancelOnSend() // the caller gives up as its command leaves
		}
	}}
	s := testenv.MustStoreAt(t, opts)
	p := pledge.Pledge{ID: "plg_gone", CampaignID: "cam_x", Status: pledge.StatusPending, Amount: money.Money{Amount: 5000, Currency: "CHF"}}
	if err := s.CreatePledge(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	read, err := s.FindPledge(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.ReplacePledge(gone, read, read.MoveTo(pledge.StatusCancelled, "backer", "cancelled", time.Now())); !errors.Is(err, context.Canceled) {
		t.Fatalf("write for a caller gone before it started: %v, want context.Canceled", err)
	}
	leaving, cancel := context.WithCancel(context.Background())
	defer cancel()
	mu.Lock()
	cancelOnSend = cancel
	mu.Unlock()
	_, countErr := s.CountConfirmAttempt(leaving, p.ID)
	if leaving.Err() == nil {
		t.Fatal("the caller never gave up: the test did not test anything")
	}
	stored, err := s.FindPledge(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != pledge.StatusPending {
		t.Fatalf("status %s after a write for a caller gone, want pending", stored.Status)
	}
	if opts.Locks == nil {
		if !errors.Is(countErr, context.Canceled) {
			t.Fatalf("count for a caller that gave up, without locks: %v, want context.Canceled", countErr)
		}
		return
	}
	if countErr != nil || stored.ConfirmAttempts != 1 {
		t.Fatalf("count under the lock for a caller that gave up on the way: %v, %d confirm attempts; want it answered and counted", countErr, stored.ConfirmAttempts)
	}
}
