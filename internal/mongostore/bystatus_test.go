package mongostore_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
)

// On the embedded store a campaign's pledges by state are listed from an index on FerretDB's
// files, then each is read through FerretDB (see findPledgesByStatusFromIndex). Every page must
// be exactly the server's: over several campaigns and states, ids and campaign ids an attacker
// might choose, short pages, the backers' 51 (limit+1) and the settler's 1000, walked to the
// end. The answers are compared field by field with the same store opened without the Scanner.
func TestPledgesByStatusFromIndexEqualTheServersAnswer(t *testing.T) {
	indexed, served := scannedAndServed(t)
	ctx := context.Background()
	campaigns := []string{"cam_a", "cam_b", "CAM_A", `cam_'); DROP TABLE pledges; --`, `cam_"$.status"`, "cam_é😀"}
	ids := []string{"plg_a", "plg_A", "plg_z", "plg__", "plg_~", "plg_0", "plg_a'b", `plg_a"b`, `plg_a\b`, "plg_a%",
		"plg_é", "plg_ß", "plg_€", "plg_😀", "plg_\u007f", "plg_0001", "plg_001", `plg_') OR 1=1 --`, "plg_$.status", "plg_Zé"}
	all := []pledge.Status{pledge.StatusPending, pledge.StatusActive, pledge.StatusCharging, pledge.StatusCollected,
		pledge.StatusPaymentFailed, pledge.StatusCancelled, pledge.StatusRefunded, pledge.StatusPartiallyRefunded, pledge.StatusDisputed, pledge.StatusDisputeLost}
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	for i, id := range ids {
		for j, cam := range campaigns {
			for k := range 2 {
				p := pledge.Pledge{ID: fmt.Sprintf("%s|%d|%d", id, j, k), CampaignID: cam, Status: all[(i*2+j+k)%len(all)],
					Amount: money.Money{Amount: int64(100 + n), Currency: "CHF"}, HoldExpiresAt: now, CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}}
				if err := indexed.CreatePledge(ctx, p); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
	list := func(s *mongostore.Store, cam string, in []pledge.Status, after string, limit int) []pledge.Pledge {
		t.Helper()
		ps, err := s.FindPledgesByStatus(ctx, cam, in, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	pages := 0
	for _, cam := range campaigns {
		for _, in := range [][]pledge.Status{{pledge.StatusActive}, {pledge.StatusActive, pledge.StatusCharging}, pledge.BackerStatuses, all} {
			for _, limit := range []int{3, 51, 1000} {
				after, seen := "", 0
				for {
					got, want := list(indexed, cam, in, after, limit), list(served, cam, in, after, limit)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%q %v after %q limit %d:\n got  %s\n want %s", cam, in, after, limit, pledgeIDs(got), pledgeIDs(want))
					}
					pages++
					seen += len(got)
					if len(got) < limit {
						break
					}
					after = got[len(got)-1].ID
				}
				if seen == 0 {
					t.Fatalf("%q %v: no pledges, the comparison proves nothing", cam, in)
				}
			}
		}
	}
	if got := list(indexed, "cam_nobody", all, "", 10); len(got) != 0 {
		t.Errorf("a campaign without pledges: %s", pledgeIDs(got))
	}
	if got, want := list(indexed, "cam_a", all, "", 0), list(served, "cam_a", all, "", 0); !reflect.DeepEqual(got, want) || len(got) == 0 {
		t.Errorf("limit 0 (all): got %d, the server %d", len(got), len(want))
	}
	t.Logf("%d pledges, %d pages equal the server's", n, pages)
}

// A pledge that changes state between the index's answer and its read is left out, and the
// page is still filled from the pledges after it: the backers' pages and the settler take a
// short page for the end of the list.
func TestPledgesByStatusFromIndexLeaveOutPledgesChangedMeanwhile(t *testing.T) {
	opts := testenv.StoreOptions(t)
	if opts.Scanner == nil {
		t.Skip("the scanner exists only on the embedded store opened as the service opens it")
	}
	racing := &racingScanner{Scanner: opts.Scanner}
	opts.Scanner = racing
	indexed := testenv.MustStoreAt(t, opts)
	ctx := context.Background()
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		p := pledge.Pledge{ID: fmt.Sprintf("plg_%02d", i), CampaignID: "cam_a", Status: pledge.StatusActive,
			Amount: money.Money{Amount: 2500, Currency: "CHF"}, HoldExpiresAt: now, CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}}
		if err := indexed.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Right after the index lists a page, plg_01 starts being charged and plg_02 is cancelled.
	racing.after = func() {
		racing.after = nil
		for id, change := range map[string]func(*pledge.Pledge){
			"plg_01": func(p *pledge.Pledge) { p.Status = pledge.StatusCharging },
			"plg_02": func(p *pledge.Pledge) { p.Status = pledge.StatusCancelled },
		} {
			p, err := indexed.FindPledge(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			next := p
			change(&next)
			if _, err := indexed.ReplacePledge(ctx, p, next); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := indexed.FindPledgesByStatus(ctx, "cam_a", []pledge.Status{pledge.StatusActive}, "plg_00", 4)
	if err != nil {
		t.Fatal(err)
	}
	if ids := pledgeIDs(got); ids != "plg_03 plg_04 plg_05 plg_06" {
		t.Errorf("got %s, want the four active pledges after plg_00", ids)
	}
	if racing.calls != 2 {
		t.Errorf("the index was asked %d times, want 2 (a page, then the two pledges left out)", racing.calls)
	}
}

// racingScanner runs after once the index has answered a PageIDs.
type racingScanner struct {
	mongostore.Scanner
	after func()
	calls int
}

func (r *racingScanner) PageIDs(ctx context.Context, database, collection string, equal map[string]string, path string, values []string, after string, limit int) ([]string, error) {
	r.calls++
	ids, err := r.Scanner.PageIDs(ctx, database, collection, equal, path, values, after, limit)
	if r.after != nil {
		r.after()
	}
	return ids, err
}

func pledgeIDs(ps []pledge.Pledge) string {
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return strings.Join(ids, " ")
}

// On the embedded store the pledges of a page are read whole straight from FerretDB's files
// (embedded.Server.ScanDocs decodes its storage format), not one FerretDB find each. They must
// be exactly what FerretDB answers, for every field a pledge has: here every field of the type,
// found by reflection (so a field added later is checked too), is set to something other than
// its zero value, nested ones and lists included, next to a pledge left nearly empty (nil
// pointers, no lists, the zero time).
func TestPledgesReadFromTheFilesEqualTheServersAnswer(t *testing.T) {
	indexed, served := scannedAndServed(t)
	ctx := context.Background()
	var full pledge.Pledge
	fillAll(reflect.ValueOf(&full).Elem(), 0)
	full.ID, full.CampaignID, full.Status = "plg_full", "cam_full", pledge.StatusActive
	bare := pledge.Pledge{ID: "plg_bare", CampaignID: "cam_full", Status: pledge.StatusActive}
	for _, p := range []pledge.Pledge{full, bare} {
		if err := indexed.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := indexed.FindPledgesByStatus(ctx, "cam_full", []pledge.Status{pledge.StatusActive}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want, err := served.FindPledgesByStatus(ctx, "cam_full", []pledge.Status{pledge.StatusActive}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 || !reflect.DeepEqual(got, want) {
		t.Fatalf("read from the files:\n%+v\nFerretDB's answer:\n%+v", got, want)
	}
	if got[1].ID != "plg_full" || got[1].Backer == (pledge.Pledge{}).Backer || len(got[1].History) != 2 || got[1].Dispute == nil {
		t.Fatalf("the full pledge was not stored full: %+v", got[1])
	}
}

// fillAll sets every settable field under v to a value other than its zero value (pointers,
// maps and slices get one or two filled elements), with text that needs escaping.
func fillAll(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2031, 2, 3, 4, 5, 6, 789_000_000, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), depth+1)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{0, 1, 0x7f, 0xff})
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillAll(v.Index(i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(k, depth+1)
		fillAll(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString(`é"\😀'` + v.Type().Name())
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(-1234567)
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float64, reflect.Float32:
		v.SetFloat(0.125)
	}
}
