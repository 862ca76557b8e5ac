package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/ratelimit"
)

var _ account.Store = (*Store)(nil)

// CreateUser stores a new user; an address already in use is email_taken.
func (s *Store) CreateUser(ctx context.Context, u account.User) error {
	if _, err := s.db.Collection("users").InsertOne(ctx, u); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return &backstitch.Error{Code: backstitch.CodeEmailTaken, Message: "An account with this email already exists.",
				Fields: []backstitch.FieldError{{Field: "email", Code: "taken", Message: "an account with this email already exists"}}}
		}
		return storeError("insert user: %w", err)
	}
	if u.Role == account.RoleAdmin && u.DisabledAt == nil {
		return s.joinRoster(ctx, u.ID)
	}
	return nil
}

// FindUserByEmail looks a user up by normalised address.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (account.User, error) {
	var u account.User
	err := s.db.Collection("users").FindOne(ctx, bson.M{"email": email}).Decode(&u)
	return u, notFound(err, "User")
}

// FindUserByID looks a user up by id.
func (s *Store) FindUserByID(ctx context.Context, id string) (account.User, error) {
	var u account.User
	err := s.db.Collection("users").FindOne(ctx, bson.M{"_id": id}).Decode(&u)
	return u, notFound(err, "User")
}

// CreateSession stores a session (keyed by its token's hash).
func (s *Store) CreateSession(ctx context.Context, sess account.Session) error {
	if _, err := s.db.Collection("sessions").InsertOne(ctx, sess); err != nil {
		return storeError("insert session: %w", err)
	}
	return nil
}

// FindSession returns the live session with this id; an expired one does not exist.
func (s *Store) FindSession(ctx context.Context, id string, now time.Time) (account.Session, error) {
	var sess account.Session
	err := s.db.Collection("sessions").FindOne(ctx, bson.M{"_id": id, "expires_at": bson.M{"$gt": now}}).Decode(&sess)
	return sess, notFound(err, "Session")
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.Collection("sessions").DeleteOne(ctx, bson.M{"_id": id}); err != nil {
		return storeError("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of a user (a password reset).
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := s.db.Collection("sessions").DeleteMany(ctx, bson.M{"user_id": userID}); err != nil {
		return fmt.Errorf("delete sessions of user: %w", err)
	}
	return nil
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	res, err := s.db.Collection("users").UpdateOne(ctx, bson.M{"_id": userID}, bson.M{"$set": bson.M{"password_hash": hash}})
	if err != nil {
		return fmt.Errorf("set password hash: %w", err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeNotFound, "User not found.")
	}
	return nil
}

// SetProfile replaces a user's name and profile.
func (s *Store) SetProfile(ctx context.Context, userID, name string, p account.Profile) error {
	res, err := s.db.Collection("users").UpdateOne(ctx, bson.M{"_id": userID}, bson.M{"$set": bson.M{"name": name, "profile": p}})
	if err != nil {
		return fmt.Errorf("set profile: %w", err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeNotFound, "User not found.")
	}
	return nil
}

// CreatePasswordReset stores a reset (keyed by its token's hash).
func (s *Store) CreatePasswordReset(ctx context.Context, r account.PasswordReset) error {
	if _, err := s.db.Collection("password_resets").InsertOne(ctx, r); err != nil {
		return fmt.Errorf("insert password reset: %w", err)
	}
	return nil
}

// TakePasswordReset deletes the live reset with this id and returns it: one atomic step, so a
// link works once even under racing requests.
func (s *Store) TakePasswordReset(ctx context.Context, id string, now time.Time) (account.PasswordReset, error) {
	var r account.PasswordReset
	err := s.db.Collection("password_resets").FindOneAndDelete(ctx, bson.M{"_id": id, "expires_at": bson.M{"$gt": now}}).Decode(&r)
	return r, notFound(err, "Password reset")
}

// HitRateLimit counts one event under key in the fixed window containing now and returns the count
// so far in that window and when the window ends. The counter lives in MongoDB, so every instance
// behind a load balancer shares it.
func (s *Store) HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	start := now.Truncate(window)
	end := start.Add(window)
	var doc struct {
		Count int64 `bson:"count"`
	}
	err := s.db.Collection("rate_limits").FindOneAndUpdate(ctx,
		bson.M{"_id": rateLimitID(key, start)}, addRateHits(1, end),
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&doc)
	if err != nil {
		return 0, end, storeError("count rate limit %s: %w", key, err)
	}
	return doc.Count, end, nil
}

// AddRateHits adds hits counted in memory (see ratelimit) to their windows in one unordered bulk
// write, then reads the windows' totals, which include other instances' hits, in one find.
func (s *Store) AddRateHits(ctx context.Context, hits []ratelimit.Hits) ([]int64, error) {
	models := make([]mongo.WriteModel, len(hits))
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = rateLimitID(h.Key, h.Start)
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": ids[i]}).SetUpdate(addRateHits(h.N, h.End)).SetUpsert(true)
	}
	coll := s.db.Collection("rate_limits")
	if _, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return nil, storeError("add rate-limit hits: %w", err)
	}
	cur, err := coll.Find(ctx, bson.M{"_id": bson.M{"$in": ids}}, options.Find().SetProjection(bson.M{"count": 1}))
	if err != nil {
		return nil, storeError("read rate-limit counts: %w", err)
	}
	var docs []struct {
		ID    string `bson:"_id"`
		Count int64  `bson:"count"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, storeError("read rate-limit counts: %w", err)
	}
	counts := make(map[string]int64, len(docs))
	for _, d := range docs {
		counts[d.ID] = d.Count
	}
	out := make([]int64, len(hits))
	for i, id := range ids {
		out[i] = counts[id]
	}
	return out, nil
}

// rateLimitID names a key's fixed window starting at start.
func rateLimitID(key string, start time.Time) string { return fmt.Sprintf("%s|%d", key, start.Unix()) }

// addRateHits counts n hits in a window ending at end.
func addRateHits(n int64, end time.Time) bson.M {
	return bson.M{"$inc": bson.M{"count": n}, "$setOnInsert": bson.M{"expires_at": end}}
}

var _ ratelimit.Store = (*Store)(nil)

// AppendAudit adds an entry to the audit log.
func (s *Store) AppendAudit(ctx context.Context, e backstitch.AuditEntry) error {
	if e.ID == "" {
		e.ID = backstitch.NewID("aud")
	}
	if _, err := s.db.Collection("audit_log").InsertOne(ctx, e); err != nil {
		return storeError("append audit entry: %w", err)
	}
	return nil
}

// FindAudit returns a page of audit entries, newest first.
func (s *Store) FindAudit(ctx context.Context, f backstitch.AuditFilter) ([]backstitch.AuditEntry, error) {
	q := bson.M{}
	if f.Action != "" {
		q["action"] = f.Action
	}
	if f.Target != "" {
		q["target"] = f.Target
	}
	if f.Actor != "" {
		q["actor"] = f.Actor
	}
	if f.BeforeID != "" {
		q["$or"] = bson.A{bson.M{"at": bson.M{"$lt": f.Before}}, bson.M{"at": f.Before, "_id": bson.M{"$lt": f.BeforeID}}}
	}
	cur, err := s.db.Collection("audit_log").Find(ctx, q,
		options.Find().SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(f.Limit)))
	if err != nil {
		return nil, storeError("find audit entries: %w", err)
	}
	out := []backstitch.AuditEntry{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find audit entries: %w", err)
	}
	return out, nil
}

// SetStripeAccount records a designer's connected account, once: a second onboarding reuses it.
func (s *Store) SetStripeAccount(ctx context.Context, userID, accountID string) (account.User, error) {
	if _, err := s.db.Collection("users").UpdateOne(ctx, bson.M{"_id": userID, "stripe_account_id": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"stripe_account_id": accountID}}); err != nil {
		return account.User{}, storeError("set stripe account of %s: %w", userID, err)
	}
	return s.FindUserByID(ctx, userID)
}

// RecordPayouts records where a connected account's onboarding stands, unless what is stored
// is newer: one conditional write, so a late event never rolls back what a newer one (or a read
// of the account) said. Equal times apply, as two words of the same second cannot be ordered.
func (s *Store) RecordPayouts(ctx context.Context, accountID string, p account.Payouts) error {
	p.AsOf = p.AsOf.UTC().Truncate(time.Second)
	if _, err := s.db.Collection("users").UpdateOne(ctx,
		bson.M{"stripe_account_id": accountID, "$or": bson.A{
			bson.M{"payout_state.as_of": bson.M{"$exists": false}},
			bson.M{"payout_state.as_of": bson.M{"$lte": p.AsOf}},
		}},
		bson.M{"$set": bson.M{"payouts_enabled": p.Enabled, "payout_state": p}}); err != nil {
		return storeError("record payouts of %s: %w", accountID, err)
	}
	return nil
}
