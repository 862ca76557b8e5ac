package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/update"
)

var (
	_ update.Store        = (*Store)(nil)
	_ notify.UpdateStore  = (*Store)(nil)
	_ pledge.RecoverStore = (*Store)(nil)
)

func (s *Store) updates() *mongo.Collection { return s.db.Collection("updates") }

// CreateUpdate stores a new update.
func (s *Store) CreateUpdate(ctx context.Context, u update.Update) error {
	if _, err := s.updates().InsertOne(ctx, u); err != nil {
		return storeError("create update: %w", err)
	}
	return nil
}

// FindUpdates lists a campaign's updates, newest first.
func (s *Store) FindUpdates(ctx context.Context, campaignID string, publicOnly bool, limit int) ([]update.Update, error) {
	q := bson.M{"campaign_id": campaignID}
	if publicOnly {
		q["visibility"] = update.Public
	}
	cur, err := s.updates().Find(ctx, q, options.Find().SetSort(bson.D{{Key: "campaign_id", Value: 1}, {Key: "created_at", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("find updates of %s: %w", campaignID, err)
	}
	out := []update.Update{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find updates of %s: %w", campaignID, err)
	}
	return out, nil
}

// ClaimUpdateFanOut takes an update whose messages are not all written and that nobody holds (or
// whose holder's claim ran out), in one conditional update.
func (s *Store) ClaimUpdateFanOut(ctx context.Context, claim string, now, until time.Time) (update.Update, error) {
	var u update.Update
	err := s.updates().FindOneAndUpdate(ctx,
		bson.M{"fanout.done": false, "fanout.claim_until": bson.M{"$lte": now}},
		bson.M{"$set": bson.M{"fanout.claim": claim, "fanout.claim_until": until}},
		options.FindOneAndUpdate().SetSort(bson.D{{Key: "fanout.done", Value: 1}, {Key: "fanout.claim_until", Value: 1}}).SetReturnDocument(options.After)).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return u, backstitch.Errorf(backstitch.CodeNotFound, "No update is waiting to be sent.")
	}
	if err != nil {
		return u, storeError("claim an update's fan-out: %w", err)
	}
	return u, nil
}

// AdvanceUpdateFanOut records a batch written, if claim still holds the update: a holder that
// lost it (it paused past its claim) learns so here and stops.
func (s *Store) AdvanceUpdateFanOut(ctx context.Context, id, claim string, f update.FanOut) error {
	set := bson.M{"fanout.cursor": f.Cursor, "fanout.written": f.Written, "fanout.done": f.Done, "fanout.claim_until": f.ClaimUntil}
	res, err := s.updates().UpdateOne(ctx, bson.M{"_id": id, "fanout.claim": claim, "fanout.done": false}, bson.M{"$set": set})
	if err != nil {
		return storeError("advance the fan-out of %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeConflict, "Another instance took over sending this update.")
	}
	return nil
}

func (s *Store) unsubscriptions() *mongo.Collection { return s.db.Collection("unsubscriptions") }

// Unsubscribe records that the address with this key wants no more updates of the campaign;
// asking twice changes nothing.
func (s *Store) Unsubscribe(ctx context.Context, campaignID, emailKey string, now time.Time) error {
	_, err := s.unsubscriptions().UpdateOne(ctx, bson.M{"_id": campaignID + ":" + emailKey},
		bson.M{"$setOnInsert": bson.M{"campaign_id": campaignID, "email_key": emailKey, "at": now}}, options.Update().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return storeError("unsubscribe from %s: %w", campaignID, err)
	}
	return nil
}

// Unsubscribed lists the keys of the addresses that left a campaign's updates.
func (s *Store) Unsubscribed(ctx context.Context, campaignID string) (map[string]bool, error) {
	cur, err := s.unsubscriptions().Find(ctx, bson.M{"campaign_id": campaignID}, options.Find().SetProjection(bson.M{"email_key": 1}))
	if err != nil {
		return nil, storeError("find unsubscriptions of %s: %w", campaignID, err)
	}
	var docs []struct {
		Key string `bson:"email_key"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("find unsubscriptions of %s: %w", campaignID, err)
	}
	out := make(map[string]bool, len(docs))
	for _, d := range docs {
		out[d.Key] = true
	}
	return out, nil
}

// FindPledgesByEmail lists the pledges of a backer's address, newest first.
func (s *Store) FindPledgesByEmail(ctx context.Context, email string, limit int) ([]pledge.Pledge, error) {
	cur, err := s.db.Collection("pledges").Find(ctx, bson.M{"backer.email": email},
		options.Find().SetSort(bson.D{{Key: "backer.email", Value: 1}, {Key: "created_at", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("find pledges by email: %w", err)
	}
	out := []pledge.Pledge{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find pledges by email: %w", err)
	}
	return out, nil
}

// CreateManageKey stores a manage key (by its hash).
func (s *Store) CreateManageKey(ctx context.Context, k pledge.ManageKey) error {
	if _, err := s.db.Collection("manage_keys").InsertOne(ctx, k); err != nil {
		return storeError("create manage key: %w", err)
	}
	return nil
}

// FindManageKey finds a manage key by its hash.
func (s *Store) FindManageKey(ctx context.Context, hash string) (pledge.ManageKey, error) {
	var k pledge.ManageKey
	err := s.db.Collection("manage_keys").FindOne(ctx, bson.M{"_id": hash}).Decode(&k)
	return k, notFound(err, "Manage key")
}
