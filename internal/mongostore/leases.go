package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// AcquireLease grants the lease to owner if nobody holds it or the holder's time ran out. It
// answers a conflict error when someone else holds it.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (backstitch.Lease, error) {
	coll := s.db.Collection("leases")
	l := backstitch.Lease{Name: name, Owner: owner, Token: 1, ExpiresAt: now.Add(ttl)}
	if _, err := coll.InsertOne(ctx, l); err == nil {
		return l, nil
	} else if !mongo.IsDuplicateKeyError(err) {
		return backstitch.Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	var got backstitch.Lease
	err := coll.FindOneAndUpdate(ctx,
		bson.M{"_id": name, "expires_at": bson.M{"$lte": now}},
		bson.M{"$set": bson.M{"owner": owner, "expires_at": now.Add(ttl)}, "$inc": bson.M{"token": int64(1)}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return backstitch.Lease{}, backstitch.Errorf(backstitch.CodeConflict, "Lease %s is held by another instance.", name)
	}
	if err != nil {
		return backstitch.Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return got, nil
}

// RenewLease extends a lease its holder still has (same token, not expired).
func (s *Store) RenewLease(ctx context.Context, l backstitch.Lease, ttl time.Duration, now time.Time) (backstitch.Lease, error) {
	res, err := s.db.Collection("leases").UpdateOne(ctx,
		bson.M{"_id": l.Name, "token": l.Token, "expires_at": bson.M{"$gt": now}},
		bson.M{"$set": bson.M{"expires_at": now.Add(ttl)}})
	if err != nil {
		return l, fmt.Errorf("renew lease %s: %w", l.Name, err)
	}
	if res.MatchedCount == 0 {
		return l, backstitch.Errorf(backstitch.CodeConflict, "Lease %s was lost.", l.Name)
	}
	l.ExpiresAt = now.Add(ttl)
	return l, nil
}

// ReleaseLease gives a lease up early so the next tick need not wait for it to expire.
func (s *Store) ReleaseLease(ctx context.Context, l backstitch.Lease) error {
	_, err := s.db.Collection("leases").UpdateOne(ctx, bson.M{"_id": l.Name, "token": l.Token},
		bson.M{"$set": bson.M{"expires_at": time.Time{}}})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, err)
	}
	return nil
}
