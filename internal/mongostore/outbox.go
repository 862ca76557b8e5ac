package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/notify"
)

var _ notify.Store = (*Store)(nil)

func (s *Store) outbox() *mongo.Collection { return s.db.Collection("outbox") }

// EnqueueMessage inserts m; the message of a change already written (a retry's) stays as it is.
func (s *Store) EnqueueMessage(ctx context.Context, m notify.Message) error {
	if _, err := s.outbox().InsertOne(ctx, m); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("enqueue message %s: %w", m.ID, err)
	}
	return nil
}

// EnqueueMessages inserts a batch unordered: messages already there (a resumed fan-out's) stay as
// they are and the others are written.
func (s *Store) EnqueueMessages(ctx context.Context, ms []notify.Message) error {
	if len(ms) == 0 {
		return nil
	}
	docs := make([]any, len(ms))
	for i, m := range ms {
		docs[i] = m
	}
	_, err := s.outbox().InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return fmt.Errorf("enqueue %d messages: %w", len(ms), err)
	}
	return nil
}

// ClaimMessages takes up to limit of the earliest due queued messages: one query finds them, one
// conditional update claims those still due (per document atomic: two relays asking at once get
// different messages), and a last read returns the ones this claim got. Finding and sorting the
// queue once per batch rather than once per message is what lets a 1,000-backer update go out
// in seconds on the embedded store, which sorts in memory.
func (s *Store) ClaimMessages(ctx context.Context, claim string, now, until time.Time, limit int) ([]notify.Message, error) {
	for {
		out, found, err := s.claimMessages(ctx, claim, now, until, limit)
		// Every message found was taken by another relay between the two requests: they are
		// no longer due, so looking again finds others, or none.
		if err != nil || len(out) > 0 || found == 0 {
			return out, err
		}
	}
}

func (s *Store) claimMessages(ctx context.Context, claim string, now, until time.Time, limit int) ([]notify.Message, int, error) {
	due := bson.M{"status": notify.StatusQueued, "due_at": bson.M{"$lte": now}}
	cur, err := s.outbox().Find(ctx, due, options.Find().SetSort(bson.D{{Key: "status", Value: 1}, {Key: "due_at", Value: 1}}).
		SetLimit(int64(limit)).SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return nil, 0, fmt.Errorf("find due messages: %w", err)
	}
	var found []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &found); err != nil {
		return nil, 0, fmt.Errorf("find due messages: %w", err)
	}
	if len(found) == 0 {
		return nil, 0, nil
	}
	ids := make(bson.A, len(found))
	for i, f := range found {
		ids[i] = f.ID
	}
	_, err = s.outbox().UpdateMany(ctx, bson.M{"_id": bson.M{"$in": ids}, "status": notify.StatusQueued, "due_at": bson.M{"$lte": now}},
		bson.M{"$set": bson.M{"due_at": until, "claim": claim}, "$inc": bson.M{"attempts": 1}})
	if err != nil {
		return nil, 0, fmt.Errorf("claim messages: %w", err)
	}
	cur, err = s.outbox().Find(ctx, bson.M{"_id": bson.M{"$in": ids}, "claim": claim, "status": notify.StatusQueued},
		options.Find().SetSort(bson.D{{Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, 0, fmt.Errorf("read claimed messages: %w", err)
	}
	out := []notify.Message{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, 0, fmt.Errorf("read claimed messages: %w", err)
	}
	return out, len(found), nil
}

// ReleaseMessages hands back messages this claim still holds, due at now, as if never claimed.
func (s *Store) ReleaseMessages(ctx context.Context, ids []string, claim string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.outbox().UpdateMany(ctx, bson.M{"_id": bson.M{"$in": ids}, "claim": claim, "status": notify.StatusQueued},
		bson.M{"$set": bson.M{"due_at": now}, "$inc": bson.M{"attempts": -1}})
	if err != nil {
		return fmt.Errorf("release %d messages: %w", len(ids), err)
	}
	return nil
}

// MarkMessageSent records a message as sent whoever holds its claim now: it was delivered.
func (s *Store) MarkMessageSent(ctx context.Context, id string, now time.Time, forget []string) error {
	unset := bson.M{"claim": "", "links": ""}
	for _, k := range forget {
		unset["data."+k] = ""
	}
	filter := bson.M{"_id": id, "status": notify.StatusQueued}
	if s.locks != nil {
		// On the embedded store a filter on more than _id reads the whole outbox, once per
		// message sent (a 1,000-backer update read it a thousand times). Checked under the lock
		// and written by _id alone. Recording a failure or a retry does
		// not take the lock: should another relay, whose claim began later, give up on the
		// message between the check and the write, the message is recorded sent, which it was.
		defer s.lock("outbox/" + id)()
		ctx = s.underLock(ctx)
		var cur struct {
			Status notify.Status `bson:"status"`
		}
		err := s.outbox().FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"status": 1})).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && cur.Status != notify.StatusQueued) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("record message %s sent: %w", id, err)
		}
		filter = bson.M{"_id": id}
	}
	_, err := s.outbox().UpdateOne(ctx, filter, bson.M{"$set": bson.M{"status": notify.StatusSent, "sent_at": now}, "$unset": unset})
	if err != nil {
		return fmt.Errorf("record message %s sent: %w", id, err)
	}
	return nil
}

// RetryMessage reschedules a message its caller still holds.
func (s *Store) RetryMessage(ctx context.Context, id, claim string, due time.Time, why string) error {
	_, err := s.outbox().UpdateOne(ctx, bson.M{"_id": id, "claim": claim, "status": notify.StatusQueued},
		bson.M{"$set": bson.M{"due_at": due, "last_error": why}})
	if err != nil {
		return fmt.Errorf("reschedule message %s: %w", id, err)
	}
	return nil
}

// FailMessage gives up on a message its caller still holds.
func (s *Store) FailMessage(ctx context.Context, id, claim, why string) error {
	_, err := s.outbox().UpdateOne(ctx, bson.M{"_id": id, "claim": claim, "status": notify.StatusQueued},
		bson.M{"$set": bson.M{"status": notify.StatusFailed, "last_error": why}})
	if err != nil {
		return fmt.Errorf("record message %s failed: %w", id, err)
	}
	return nil
}

// RecentMessages lists the latest messages, newest first.
func (s *Store) RecentMessages(ctx context.Context, limit int) ([]notify.Message, error) {
	cur, err := s.outbox().Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	var out []notify.Message
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}

// FindMessage finds one message by id.
func (s *Store) FindMessage(ctx context.Context, id string) (notify.Message, error) {
	var m notify.Message
	err := s.outbox().FindOne(ctx, bson.M{"_id": id}).Decode(&m)
	return m, notFound(err, "Message")
}
