package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/admin"
	"github.com/backstitch/backstitch/internal/backstitch"
)

var _ admin.UserStore = (*Store)(nil)

// The roster is one document listing the active admins and their count. "The last active
// admin cannot be disabled" is a rule over several users, and the store has no transactions:
// keeping the set in one document turns it into one conditional write (remove her only while
// the count is above one), which two admins disabling each other at once cannot both pass.
//
// The roster never lists an admin who is not active (she leaves it before she is marked
// disabled, and joins it only once her account exists), so it may count too few, never too
// many: at worst an admin missing from it cannot be counted on, and the guard stays safe.
const (
	rosterCollection = "admin_roster"
	rosterID         = "admins"
)

type roster struct {
	Active []string `bson:"active"`
	N      int      `bson:"n"`
}

// ensureAdminRoster writes the roster from the admins the store holds, once: when it exists
// already (another instance, an earlier start) nothing changes, so a stale read of the users
// can never bring back an admin disabled meanwhile.
func (s *Store) ensureAdminRoster(ctx context.Context) error {
	err := s.db.Collection(rosterCollection).FindOne(ctx, bson.M{"_id": rosterID}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return storeError("read admin roster: %w", err)
	}
	admins, err := s.ListAdmins(ctx)
	if err != nil {
		return err
	}
	ids := []string{}
	for _, u := range admins {
		if u.DisabledAt == nil {
			ids = append(ids, u.ID)
		}
	}
	_, err = s.db.Collection(rosterCollection).InsertOne(ctx, bson.M{"_id": rosterID, "active": ids, "n": len(ids)})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return storeError("write admin roster: %w", err)
	}
	return nil
}

// joinRoster adds an admin to the roster (once: the filter skips one already listed).
func (s *Store) joinRoster(ctx context.Context, userID string) error {
	_, err := s.db.Collection(rosterCollection).UpdateOne(ctx, bson.M{"_id": rosterID, "active": bson.M{"$ne": userID}},
		bson.M{"$push": bson.M{"active": userID}, "$inc": bson.M{"n": 1}}, options.Update().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // duplicate: listed already, the upsert collided with the roster
		return storeError("add %s to the admin roster: %w", userID, err)
	}
	return nil
}

// ListAdmins returns every admin, active or not, oldest first.
func (s *Store) ListAdmins(ctx context.Context) ([]account.User, error) {
	cur, err := s.db.Collection("users").Find(ctx, bson.M{"role": account.RoleAdmin},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(1000))
	if err != nil {
		return nil, storeError("list admins: %w", err)
	}
	out := []account.User{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("list admins: %w", err)
	}
	return out, nil
}

// DisableAdmin takes the admin off the roster while at least one other stays on it, then
// marks her disabled. An admin already off the roster (disabled, or half-way through a
// disabling that crashed) is only marked.
func (s *Store) DisableAdmin(ctx context.Context, userID string, at time.Time) (bool, error) {
	res, err := s.db.Collection(rosterCollection).UpdateOne(ctx,
		bson.M{"_id": rosterID, "active": userID, "n": bson.M{"$gt": 1}},
		bson.M{"$pull": bson.M{"active": userID}, "$inc": bson.M{"n": -1}})
	if err != nil {
		return false, storeError("take %s off the admin roster: %w", userID, err)
	}
	if res.MatchedCount == 0 {
		var r roster
		err := s.db.Collection(rosterCollection).FindOne(ctx, bson.M{"_id": rosterID, "active": userID}).Decode(&r)
		if err == nil {
			return false, backstitch.Errorf(backstitch.CodeLastAdmin, "This is the last active admin: invite another admin before disabling this one.")
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return false, storeError("read admin roster: %w", err)
		}
	}
	mark, err := s.db.Collection("users").UpdateOne(ctx,
		bson.M{"_id": userID, "role": account.RoleAdmin, "disabled_at": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"disabled_at": at}})
	if err != nil {
		return false, storeError("disable admin %s: %w", userID, err)
	}
	return mark.ModifiedCount == 1, nil
}

// CreateInvite stores an invitation (keyed by its token's hash).
func (s *Store) CreateInvite(ctx context.Context, inv admin.Invite) error {
	if _, err := s.db.Collection("admin_invites").InsertOne(ctx, inv); err != nil {
		return storeError("insert admin invite: %w", err)
	}
	return nil
}

// FindInvite returns the live invitation with this id.
func (s *Store) FindInvite(ctx context.Context, id string, now time.Time) (admin.Invite, error) {
	var inv admin.Invite
	err := s.db.Collection("admin_invites").FindOne(ctx, bson.M{"_id": id, "expires_at": bson.M{"$gt": now}}).Decode(&inv)
	return inv, notFound(err, "Invitation")
}

// TakeInvite deletes the live invitation with this id and returns it: one atomic step, so a
// link works once even under racing requests.
func (s *Store) TakeInvite(ctx context.Context, id string, now time.Time) (admin.Invite, error) {
	var inv admin.Invite
	err := s.db.Collection("admin_invites").FindOneAndDelete(ctx, bson.M{"_id": id, "expires_at": bson.M{"$gt": now}}).Decode(&inv)
	return inv, notFound(err, "Invitation")
}
