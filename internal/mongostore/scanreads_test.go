package mongostore_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
)

// On the embedded store FindPledge and CampaignGateClosed read the store's files, not through
// FerretDB, whose one connection every command waits for (two of the four commands of each
// pledge). They must answer what FerretDB answers (every field of a full pledge, a bare one, a
// missing one), send FerretDB nothing, and see each write as soon as it is acknowledged: the
// gate's argument (gates.go) and every read-after-write of a pledge depend on it, so a reader
// that kept an old snapshot open between reads would fail the loop below.
func TestPledgeAndGateReadFromTheFilesEqualTheServersAnswer(t *testing.T) {
	opts := testenv.StoreOptions(t)
	if opts.Scanner == nil {
		t.Skip("the scanner exists only on the embedded store opened as the service opens it")
	}
	var mu sync.Mutex
	reads := 0
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
		if e.CommandName == "find" && (coll == "pledges" || coll == "campaign_gates") {
			mu.Lock()
			reads++
			mu.Unlock()
		}
	}}
	scanned := testenv.MustStoreAt(t, opts)
	opts.Scanner, opts.Monitor = nil, nil
	served, err := mongostore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = served.Close(context.Background()) })
	ctx := context.Background()
	// The gates' collection exists before any gate closes, so that the embedded store's _id
	// index (embedded.Server.IndexIDs, made when the store opens) is on it: without it each
	// pledge's gate read would parse every gate.
	if colls, err := scanned.CollectionNames(ctx); err != nil || !slices.Contains(colls, "campaign_gates") {
		t.Errorf("campaign_gates not created with the store (%v, %v)", colls, err)
	}

	var full pledge.Pledge
	fillAll(reflect.ValueOf(&full).Elem(), 0)
	full.ID, full.CampaignID, full.Status = "plg_full<&>é", "cam_gated", pledge.StatusActive
	bare := pledge.Pledge{ID: "plg_bare", CampaignID: "cam_gated", Status: pledge.StatusPending}
	for _, p := range []pledge.Pledge{full, bare} {
		if err := scanned.CreatePledge(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := scanned.FindPledge(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := served.FindPledge(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read from the files:\n%+v\nFerretDB's answer:\n%+v", got, want)
		}
	}
	for _, id := range []string{"plg_missing", "", "plg_\xff", `plg_bare" OR 1=1`, "PLG_BARE"} {
		if _, err := scanned.FindPledge(ctx, id); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
			t.Errorf("pledge %q from the files: %v, want not_found", id, err)
		}
		if _, err := served.FindPledge(ctx, id); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
			t.Errorf("pledge %q from FerretDB: %v, want not_found", id, err)
		}
	}

	// Each write, acknowledged, is seen by the next read from the files.
	prev := bare
	for i := range 30 {
		next := prev
		next.Note = string(rune('a' + i))
		written, err := scanned.ReplacePledge(ctx, prev, next)
		if err != nil {
			t.Fatal(err)
		}
		got, err := scanned.FindPledge(ctx, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != written.Version || got.Note != next.Note {
			t.Fatalf("write %d: read version %d note %q, want %d %q", i, got.Version, got.Note, written.Version, next.Note)
		}
		prev = got
	}
	for i, campaign := range []string{"cam_gated", "cam_other", "cam_'); --"} {
		if closed, err := scanned.CampaignGateClosed(ctx, campaign); err != nil || closed {
			t.Fatalf("gate of %s before closing: closed %v, %v", campaign, closed, err)
		}
		if err := scanned.CloseCampaignGate(ctx, campaign, time.Now()); err != nil {
			t.Fatal(err)
		}
		if closed, err := scanned.CampaignGateClosed(ctx, campaign); err != nil || !closed {
			t.Fatalf("gate of %s just closed: closed %v, %v", campaign, closed, err)
		}
		if served, err := served.CampaignGateClosed(ctx, campaign); err != nil || !served {
			t.Fatalf("gate of %s from FerretDB: closed %v, %v", campaign, served, err)
		}
		if closed, err := scanned.CampaignGateClosed(ctx, "cam_never_"+string(rune('a'+i))); err != nil || closed {
			t.Fatalf("a gate never closed reads closed: %v, %v", closed, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if reads != 0 {
		t.Errorf("the reads sent FerretDB %d finds, want none", reads)
	}
}
