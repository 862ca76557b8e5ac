package mongostore_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
)

// On the embedded store the sweeper's and dunning's questions are answered from indexes on
// FerretDB's files, then each pledge is read through FerretDB (see findDuePledges). What they
// act on must be exactly what the server's query answers: every branch of each $or, each
// boundary to the millisecond (at the instant is due, a millisecond later is not), pledges in
// other states, pledges without the fields, and one in several branches (listed once). The
// answers are compared field by field with the same store opened without the Scanner.
func TestDuePledgesFromIndexesEqualTheServersAnswer(t *testing.T) {
	indexed, served := scannedAndServed(t)
	ctx := context.Background()

	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC).Add(789 * time.Microsecond) // between milliseconds
	stale := now.Add(-time.Hour)
	failedBefore, chargingBefore := now.Add(-7*24*time.Hour), now.Add(-5*time.Minute)
	ms := now.Truncate(time.Millisecond)
	at := func(t time.Time) *time.Time { return &t }
	base := func(id string, status pledge.Status) pledge.Pledge {
		return pledge.Pledge{ID: id, CampaignID: "cam_a", Status: status, Amount: money.Money{Amount: 2500, Currency: "CHF"},
			HoldExpiresAt: now.Add(time.Hour), CreatedAt: ms.Add(-48 * time.Hour), UpdatedAt: ms, History: []pledge.HistoryEntry{}}
	}
	with := func(p pledge.Pledge, f func(*pledge.Pledge)) pledge.Pledge { f(&p); return p }
	pledges := []pledge.Pledge{
		with(base("plg_hold_out", pledge.StatusPending), func(p *pledge.Pledge) { p.HoldExpiresAt = ms.Add(-time.Minute) }),
		with(base("plg_hold_at_now", pledge.StatusPending), func(p *pledge.Pledge) { p.HoldExpiresAt = ms }),
		with(base("plg_hold_ms_later", pledge.StatusPending), func(p *pledge.Pledge) { p.HoldExpiresAt = ms.Add(time.Millisecond) }),
		with(base("plg_hold_out_paid", pledge.StatusActive), func(p *pledge.Pledge) { p.HoldExpiresAt = ms.Add(-time.Minute) }),
		with(base("plg_pending_stale", pledge.StatusActive), func(p *pledge.Pledge) {
			p.Pending = &pledge.Pending{Seq: "s1", Since: stale.Truncate(time.Millisecond), At: ms}
		}),
		with(base("plg_pending_fresh", pledge.StatusActive), func(p *pledge.Pledge) {
			p.Pending = &pledge.Pending{Seq: "s2", Since: stale.Add(time.Millisecond), At: ms}
		}),
		with(base("plg_owed_stale", pledge.StatusCancelled), func(p *pledge.Pledge) {
			p.Owed = []backstitch.Notice{{ID: "k1", Kind: "pledge_cancelled"}}
			p.OwedSince = at(stale.Add(-time.Minute))
		}),
		with(base("plg_owed_fresh", pledge.StatusCancelled), func(p *pledge.Pledge) {
			p.Owed = []backstitch.Notice{{ID: "k2", Kind: "pledge_cancelled"}}
			p.OwedSince = at(ms)
		}),
		// In all three branches of the sweep: listed once.
		with(base("plg_all_three", pledge.StatusPending), func(p *pledge.Pledge) {
			p.HoldExpiresAt = ms.Add(-2 * time.Hour)
			p.Pending = &pledge.Pending{Seq: "s3", Since: stale.Add(-time.Hour), At: ms}
			p.Owed = []backstitch.Notice{{ID: "k3", Kind: "pledge_received"}}
			p.OwedSince = at(stale.Add(-time.Hour))
		}),
		with(base("plg_retry_due", pledge.StatusPaymentFailed), func(p *pledge.Pledge) {
			p.FirstFailedAt, p.NextRetryAt = at(ms.Add(-24*time.Hour)), at(ms)
		}),
		with(base("plg_retry_later", pledge.StatusPaymentFailed), func(p *pledge.Pledge) {
			p.FirstFailedAt, p.NextRetryAt = at(ms.Add(-24*time.Hour)), at(ms.Add(time.Millisecond))
		}),
		with(base("plg_window_closed", pledge.StatusPaymentFailed), func(p *pledge.Pledge) {
			p.FirstFailedAt, p.NextRetryAt = at(failedBefore.Truncate(time.Millisecond)), at(ms.Add(time.Hour))
		}),
		with(base("plg_failed_no_dates", pledge.StatusPaymentFailed), func(p *pledge.Pledge) {}),
		with(base("plg_retry_due_but_paid", pledge.StatusCollected), func(p *pledge.Pledge) {
			p.FirstFailedAt, p.NextRetryAt = at(ms.Add(-24*time.Hour)), at(ms.Add(-time.Hour))
		}),
		with(base("plg_charging_stuck", pledge.StatusCharging), func(p *pledge.Pledge) { p.UpdatedAt = chargingBefore.Truncate(time.Millisecond) }),
		with(base("plg_charging_now", pledge.StatusCharging), func(p *pledge.Pledge) {
			p.UpdatedAt = chargingBefore.Truncate(time.Millisecond).Add(time.Millisecond)
		}),
		with(base("plg_old_active", pledge.StatusActive), func(p *pledge.Pledge) { p.UpdatedAt = ms.Add(-30 * 24 * time.Hour) }),
	}
	for _, p := range pledges {
		if err := indexed.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	byID := func(ps []pledge.Pledge) []pledge.Pledge {
		slices.SortFunc(ps, func(a, b pledge.Pledge) int { return strings.Compare(a.ID, b.ID) })
		return ps
	}
	ids := func(ps []pledge.Pledge) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.ID)
		}
		return strings.Join(s, " ")
	}
	sweep := func(s *mongostore.Store, limit int) []pledge.Pledge {
		t.Helper()
		ps, err := s.FindPledgesToSweep(ctx, now, stale, limit)
		if err != nil {
			t.Fatal(err)
		}
		return byID(ps)
	}
	dunning := func(s *mongostore.Store, limit int) []pledge.Pledge {
		t.Helper()
		ps, err := s.FindPledgesForDunning(ctx, now, failedBefore, chargingBefore, limit)
		if err != nil {
			t.Fatal(err)
		}
		return byID(ps)
	}
	check := func(name string, got, want []pledge.Pledge, wantIDs string) {
		t.Helper()
		if ids(want) != wantIDs {
			t.Fatalf("%s: the server's answer is %q, want %q", name, ids(want), wantIDs)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the indexes' answer differs from the server's:\n got  %s\n want %s", name, ids(got), ids(want))
		}
	}
	check("sweep", sweep(indexed, 500), sweep(served, 500), "plg_all_three plg_hold_at_now plg_hold_out plg_owed_stale plg_pending_stale")
	check("dunning", dunning(indexed, 200), dunning(served, 200), "plg_charging_stuck plg_retry_due plg_window_closed")
	if n := len(sweep(indexed, 2)); n != 2 {
		t.Errorf("sweep with limit 2 found %d", n)
	}

	// A pledge changed after it was indexed is judged as it is now: no longer pending, its hold
	// no longer counts; newly failed, it is due.
	p, err := indexed.FindPledge(ctx, "plg_hold_out")
	if err != nil {
		t.Fatal(err)
	}
	next := p
	next.Status = pledge.StatusActive
	if _, err := indexed.ReplacePledge(ctx, p, next); err != nil {
		t.Fatal(err)
	}
	p, err = indexed.FindPledge(ctx, "plg_old_active")
	if err != nil {
		t.Fatal(err)
	}
	next = p
	next.Status, next.FirstFailedAt, next.NextRetryAt = pledge.StatusPaymentFailed, at(ms), at(ms.Add(-time.Second))
	if _, err := indexed.ReplacePledge(ctx, p, next); err != nil {
		t.Fatal(err)
	}
	check("sweep after changes", sweep(indexed, 500), sweep(served, 500), "plg_all_three plg_hold_at_now plg_owed_stale plg_pending_stale")
	check("dunning after changes", dunning(indexed, 200), dunning(served, 200), "plg_charging_stuck plg_old_active plg_retry_due plg_window_closed")
}

// BenchmarkDuePledges times the sweeper's and dunning's questions at BENCH_PLEDGES pledges
// (3,000 unless set; a few of them due), asked of FerretDB (server) and answered from the
// indexes (indexes), and a pledge write with the indexes in place, whose upkeep it pays:
//
//	go test ./internal/mongostore -run '^$' -bench DuePledges -benchtime 20x
func BenchmarkDuePledges(b *testing.B) {
	indexed, served := scannedAndServed(b)
	ctx := context.Background()

	n := 3000
	if v := os.Getenv("BENCH_PLEDGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	pledgeAt := func(i int) pledge.Pledge {
		p := pledge.Pledge{ID: fmt.Sprintf("plg_%06d", i), CampaignID: fmt.Sprintf("cam_%d", i%10), Status: pledge.StatusActive,
			Amount: money.Money{Amount: 2500, Currency: "CHF"}, Backer: pledge.Backer{Email: fmt.Sprintf("b%d@example.org", i), Name: "A Backer"},
			Note: strings.Repeat("a note ", 20), HoldExpiresAt: now.Add(-time.Hour), CreatedAt: now, UpdatedAt: now,
			History: []pledge.HistoryEntry{{From: pledge.StatusPending, To: pledge.StatusActive, Actor: "backer", Reason: "card saved", At: now}}}
		switch i % 100 {
		case 1:
			p.Status = pledge.StatusPending // a hold run out
		case 2:
			p.Status, p.FirstFailedAt, p.NextRetryAt = pledge.StatusPaymentFailed, &now, &now // a retry due
		}
		return p
	}
	for i := range n {
		if err := indexed.CreatePledge(ctx, pledgeAt(i)); err != nil {
			b.Fatal(err)
		}
	}
	// Each write of a pledge also updates the indexes (created by the first question asked).
	next := n
	create := func(name string) {
		b.Run("create/"+name, func(b *testing.B) {
			for range b.N {
				p := pledgeAt(next)
				p.ID, p.Status, p.FirstFailedAt, p.NextRetryAt = fmt.Sprintf("plg_new_%06d", next), pledge.StatusActive, nil, nil
				next++
				if err := indexed.CreatePledge(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	create("before-indexes")
	for _, s := range []struct {
		name  string
		store *mongostore.Store
	}{{"server", served}, {"indexes", indexed}} {
		b.Run("sweep/"+s.name, func(b *testing.B) {
			for range b.N {
				if ps, err := s.store.FindPledgesToSweep(ctx, now, now.Add(-time.Hour), 500); err != nil || len(ps) != n/100 {
					b.Fatalf("%d found, %v", len(ps), err)
				}
			}
		})
		b.Run("dunning/"+s.name, func(b *testing.B) {
			for range b.N {
				if ps, err := s.store.FindPledgesForDunning(ctx, now, now.Add(-7*24*time.Hour), now.Add(-5*time.Minute), 200); err != nil || len(ps) != n/100 {
					b.Fatalf("%d found, %v", len(ps), err)
				}
			}
		})
	}
	create("after-indexes")
}

// On the embedded store PurgeExpired finds expired records from an index and deletes them one
// by one (see purgeExpiredByIndex): it must delete exactly what the server's DeleteMany on
// expires_at ≤ now deletes, in every expiring collection: at the instant yes, a millisecond
// later no, no date or a string there never.
func TestPurgeFromIndexesDeletesWhatTheServerWould(t *testing.T) {
	indexed, served := scannedAndServed(t)
	ctx := context.Background()

	now := time.Date(2030, 4, 1, 9, 0, 0, 0, time.UTC).Add(456 * time.Microsecond)
	ms := now.Truncate(time.Millisecond)
	records := []any{
		bson.M{"_id": "long_gone", "expires_at": ms.Add(-24 * time.Hour)},
		bson.M{"_id": "at_now", "expires_at": ms},
		bson.M{"_id": "a_ms_later", "expires_at": ms.Add(time.Millisecond)},
		bson.M{"_id": "tomorrow", "expires_at": ms.Add(24 * time.Hour)},
		bson.M{"_id": "no_expiry"},
		bson.M{"_id": "text_expiry", "expires_at": "2000-01-01"},
	}
	ids := func(c *mongo.Collection, filter bson.M) []string {
		t.Helper()
		cur, err := c.Find(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range docs {
			out = append(out, d.ID)
		}
		slices.Sort(out)
		return out
	}
	var want int64
	remaining := map[string][]string{}
	for _, coll := range mongostore.Expiring {
		c := served.Collection(coll)
		if _, err := c.InsertMany(ctx, records); err != nil {
			t.Fatal(err)
		}
		expired := ids(c, bson.M{"expires_at": bson.M{"$lte": now}})
		if strings.Join(expired, " ") != "at_now long_gone" {
			t.Fatalf("%s: the server finds %v expired", coll, expired)
		}
		want += int64(len(expired))
		remaining[coll] = ids(c, bson.M{"expires_at": bson.M{"$not": bson.M{"$lte": now}}})
	}
	n, err := indexed.PurgeExpired(ctx, now)
	if err != nil || n != want {
		t.Fatalf("purged %d, %v; want %d", n, err, want)
	}
	for _, coll := range mongostore.Expiring {
		if got := ids(served.Collection(coll), bson.M{}); !slices.Equal(got, remaining[coll]) {
			t.Errorf("%s: %v left, want %v", coll, got, remaining[coll])
		}
	}
	if n, err := indexed.PurgeExpired(ctx, now); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v", n, err)
	}
}

// BenchmarkPurgeExpired times PurgeExpired among 3,000 live idempotency keys and as many
// responses with 30 expired ones each time, by FerretDB's DeleteMany (server) and from the
// indexes (indexes):
//
//	go test ./internal/mongostore -run '^$' -bench PurgeExpired -benchtime 20x
func BenchmarkPurgeExpired(b *testing.B) {
	indexed, served := scannedAndServed(b)
	ctx := context.Background()
	now := time.Now().UTC()
	record := func(id string, expires time.Time) bson.M {
		return bson.M{"_id": id, "request_hash": strings.Repeat("h", 64), "locked_until": now, "created_at": now, "expires_at": expires}
	}
	for _, coll := range []string{"idempotency_keys", "idempotency_responses"} {
		var live []any
		for i := range 3000 {
			live = append(live, record(fmt.Sprintf("live_%06d", i), now.Add(24*time.Hour)))
		}
		if _, err := served.Collection(coll).InsertMany(ctx, live); err != nil {
			b.Fatal(err)
		}
	}
	next := 0
	for _, s := range []struct {
		name  string
		store *mongostore.Store
	}{{"server", served}, {"indexes", indexed}} {
		b.Run(s.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				var old []any
				for range 30 {
					old = append(old, record(fmt.Sprintf("old_%06d", next), now.Add(-time.Hour)))
					next++
				}
				if _, err := served.Collection("idempotency_keys").InsertMany(ctx, old); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if n, err := s.store.PurgeExpired(ctx, now); err != nil || n != 30 {
					b.Fatalf("purged %d, %v", n, err)
				}
			}
		})
	}
}
