package mongostore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/testenv"
)

// TestHeldMessagesAreWrittenByIDOnTheEmbeddedStore: a pledge's confirmation is held when the
// pledge is made and released when it is confirmed. On the embedded store a write whose filter
// says more than _id reads every message in the outbox, so pledging slowed down with every pledge
// ever made (2,000 pledges: 68/s). Holding, renewing and releasing must send only bare-_id writes
// there, and still never bring a released message back to held.
func TestHeldMessagesAreWrittenByIDOnTheEmbeddedStore(t *testing.T) {
	if testenv.MongoDBMode(t) {
		t.Skip("about the embedded store's per-document locks")
	}
	opts := testenv.StoreOptions(t)
	if opts.Locks == nil {
		t.Skip("about the embedded store's per-document locks")
	}
	var mu sync.Mutex
	var filters []bson.Raw
	opts.Monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); coll != "outbox" || e.CommandName != "update" {
			return
		}
		updates, _ := e.Command.Lookup("updates").Array().Values()
		mu.Lock()
		defer mu.Unlock()
		for _, u := range updates {
			filters = append(filters, u.Document().Lookup("q").Document())
		}
	}}
	s := testenv.MustStoreAt(t, opts)
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	held := func(link string) notify.Message {
		return notify.Message{ID: "msg_plg_a.confirmed", Kind: notify.PledgeConfirmed, To: "b@example.com", Lang: "en",
			Data: map[string]string{"manage_url": link}, Status: notify.StatusHeld, DueAt: now, CreatedAt: now}
	}
	if ok, err := s.HoldMessage(ctx, held("first")); err != nil || !ok {
		t.Fatalf("first hold: %v %v", ok, err)
	}
	if ok, err := s.HoldMessage(ctx, held("second")); err != nil || ok {
		t.Fatalf("second hold of the same id: %v %v, want false and the first left as it is", ok, err)
	}
	m, err := s.FindMessage(ctx, "msg_plg_a.confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != notify.StatusHeld || m.Data["manage_url"] != "first" {
		t.Fatalf("held twice: %+v, want held with the first link", m)
	}
	if err := s.RenewHeldMessage(ctx, held("second")); err != nil { // a retried pledge's new link
		t.Fatal(err)
	}
	m, err = s.FindMessage(ctx, "msg_plg_a.confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != notify.StatusHeld || m.Data["manage_url"] != "second" || !m.CreatedAt.Equal(now) {
		t.Fatalf("renewed: %+v, want held with the second link", m)
	}
	if err := s.ReleaseMessage(ctx, m.ID, map[string]string{"amount": "CHF 90.00"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.HoldMessage(ctx, held("third")); err != nil || ok {
		t.Fatalf("hold after the release: %v %v", ok, err)
	}
	if err := s.RenewHeldMessage(ctx, held("fourth")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseMessage(ctx, m.ID, map[string]string{"amount": "CHF 1.00"}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m, err = s.FindMessage(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != notify.StatusQueued || m.Data["manage_url"] != "second" || m.Data["amount"] != "CHF 90.00" || !m.DueAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after release: %+v, want queued once with the second link and the first release's data", m)
	}
	byIDOnly := func(what string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(filters) == 0 {
			t.Fatalf("%s: no outbox update seen", what)
		}
		for _, f := range filters {
			if elems, _ := f.Elements(); len(elems) != 1 || elems[0].Key() != "_id" {
				t.Errorf("%s: outbox update filtered by %s: on the embedded store that reads every message", what, f)
			}
		}
		filters = nil
	}
	byIDOnly("holding and releasing")

	// Sending it: the claim is one update for a whole batch, but each message is then recorded
	// sent, a thousand times for a thousand backers: by _id alone, and only once.
	sentAt := now.Add(time.Hour)
	if got, err := s.ClaimMessages(ctx, "claim-1", sentAt, sentAt.Add(time.Minute), 10); err != nil || len(got) != 1 {
		t.Fatalf("claimed %d (%v), want the message", len(got), err)
	}
	mu.Lock()
	filters = nil
	mu.Unlock()
	for range 2 { // the second is a relay that sent it too, after the claim ran out
		if err := s.MarkMessageSent(ctx, m.ID, sentAt, nil); err != nil {
			t.Fatal(err)
		}
	}
	if m, err = s.FindMessage(ctx, m.ID); err != nil || m.Status != notify.StatusSent || m.SentAt == nil || !m.SentAt.Equal(sentAt) {
		t.Fatalf("after sending: %+v (%v), want sent at %s", m, err, sentAt)
	}
	byIDOnly("recording it sent")
}
