package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/notify"
)

var _ notify.ScheduleStore = (*Store)(nil)

// ExistingMessages answers which of ids the outbox holds, in one query.
func (s *Store) ExistingMessages(ctx context.Context, ids []string) (map[string]bool, error) {
	return s.existing(ctx, "outbox", ids)
}

// ScheduledDone answers which of keys were recorded done by MarkScheduledDone.
func (s *Store) ScheduledDone(ctx context.Context, keys []string) (map[string]bool, error) {
	return s.existing(ctx, "scheduled", keys)
}

// MarkScheduledDone records a scheduled job's key as done; recording it twice is recording it once.
func (s *Store) MarkScheduledDone(ctx context.Context, key string, now time.Time) error {
	_, err := s.db.Collection("scheduled").InsertOne(ctx, bson.M{"_id": key, "done_at": now})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return storeError("mark scheduled %s done: %w", key, err)
	}
	return nil
}

func (s *Store) existing(ctx context.Context, coll string, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cur, err := s.db.Collection(coll).Find(ctx, bson.M{"_id": bson.M{"$in": ids}}, nil)
	if err != nil {
		return nil, storeError("find in %s: %w", coll, err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("find in %s: %w", coll, err)
	}
	for _, d := range docs {
		out[d.ID] = true
	}
	return out, nil
}

// SetDailyDigest turns a designer's daily digest on or off.
func (s *Store) SetDailyDigest(ctx context.Context, userID string, on bool) error {
	res, err := s.db.Collection("users").UpdateOne(ctx, bson.M{"_id": userID}, bson.M{"$set": bson.M{"daily_digest_off": !on}})
	if err != nil {
		return storeError("set daily digest: %w", err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeNotFound, "User not found.")
	}
	return nil
}
