package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// AcquireLease grants the lease to owner if nobody holds it or the holder's time ran out. It
// answers a conflict error when someone else holds it. A grant whose answer was lost to a
// transient failure is recognised by reading the lease back (owner and expiry are ours), so the
// caller is not told "held by another instance" about its own grant.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (backstitch.Lease, error) {
	coll := s.db.Collection("leases")
	l := backstitch.Lease{Name: name, Owner: owner, Token: 1, ExpiresAt: now.Add(ttl)}
	var got backstitch.Lease
	grant := func() (bool, error) {
		if _, err := coll.InsertOne(ctx, l); err == nil {
			got = l
			return true, nil
		} else if !mongo.IsDuplicateKeyError(err) {
			return false, storeError("acquire lease %s: %w", name, err)
		}
		err := coll.FindOneAndUpdate(ctx,
			bson.M{"_id": name, "expires_at": bson.M{"$lte": now}},
			bson.M{"$set": bson.M{"owner": owner, "expires_at": l.ExpiresAt}, "$inc": bson.M{"token": int64(1)}},
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		if err != nil {
			return false, storeError("acquire lease %s: %w", name, err)
		}
		return true, nil
	}
	granted := func() (bool, error) {
		var cur backstitch.Lease
		if err := coll.FindOne(ctx, bson.M{"_id": name}).Decode(&cur); err != nil {
			if errors.Is(err, mongo.ErrNoDocuments) {
				return false, nil
			}
			return false, storeError("read back lease %s: %w", name, err)
		}
		if cur.Owner != owner || !cur.ExpiresAt.Equal(l.ExpiresAt.Truncate(time.Millisecond)) {
			return false, nil
		}
		got = cur
		return true, nil
	}
	ok, err := retryCAS(ctx, grant, granted)
	if err != nil {
		return backstitch.Lease{}, err
	}
	if !ok {
		return backstitch.Lease{}, backstitch.Errorf(backstitch.CodeConflict, "Lease %s is held by another instance.", name)
	}
	return got, nil
}

// RenewLease extends a lease its holder still has (same token, not expired). Repeating it after
// a transient failure is safe: a renewal that was applied still matches (same token, later
// expiry), and one that was not is refused if the lease ran out and went to another owner
// meanwhile, so a renewal never makes a second owner.
func (s *Store) RenewLease(ctx context.Context, l backstitch.Lease, ttl time.Duration, now time.Time) (backstitch.Lease, error) {
	renew := func() (bool, error) {
		res, err := s.db.Collection("leases").UpdateOne(ctx,
			bson.M{"_id": l.Name, "token": l.Token, "expires_at": bson.M{"$gt": now}},
			bson.M{"$set": bson.M{"expires_at": now.Add(ttl)}})
		if err != nil {
			return false, storeError("renew lease %s: %w", l.Name, err)
		}
		return res.MatchedCount == 1, nil
	}
	ok, err := retryCAS(ctx, renew, func() (bool, error) { return false, nil })
	if err != nil {
		return l, err
	}
	if !ok {
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
		return storeError("release lease %s: %w", l.Name, err)
	}
	return nil
}
