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

// TestSentMessagesAreRecordedByIDOnTheEmbeddedStore: on the embedded store a write whose filter
// says more than _id reads every message in the outbox, so sending slowed down with every message
// ever written. Recording a message sent must send only bare-_id writes there, and a second
// relay's record of it (its claim ran out) must change nothing.
func TestSentMessagesAreRecordedByIDOnTheEmbeddedStore(t *testing.T) {
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
	m := notify.Message{ID: "msg_plg_a.confirmed", Kind: notify.PledgeConfirmed, To: "b@example.com", Lang: "en",
		Data: map[string]string{"manage_url": "link"}, Status: notify.StatusQueued, DueAt: now, CreatedAt: now}
	if err := s.EnqueueMessage(ctx, m); err != nil {
		t.Fatal(err)
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

	// The claim is one update for a whole batch, but each message is then recorded sent, a
	// thousand times for a thousand backers: by _id alone, and only once.
	sentAt := now.Add(time.Hour)
	if got, err := s.ClaimMessages(ctx, "claim-1", sentAt, sentAt.Add(time.Minute), 10); err != nil || len(got) != 1 {
		t.Fatalf("claimed %d (%v), want the message", len(got), err)
	}
	mu.Lock()
	filters = nil
	mu.Unlock()
	for i := range 2 { // the second is a relay that sent it too, after the claim ran out
		if err := s.MarkMessageSent(ctx, m.ID, sentAt.Add(time.Duration(i)*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.FindMessage(ctx, m.ID)
	if err != nil || m.Status != notify.StatusSent || m.SentAt == nil || !m.SentAt.Equal(sentAt) {
		t.Fatalf("after sending: %+v (%v), want sent at %s, as the first relay recorded it", m, err, sentAt)
	}
	byIDOnly("recording it sent")
}
