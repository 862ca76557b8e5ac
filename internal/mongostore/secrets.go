package mongostore

import (
	"context"
	"crypto/rand"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// ServerSecret returns the random key stored under name, making it on first use. Every instance
// on the store gets the same key (the first insert wins, the unique _id decides), so what one
// instance signs, such as a list cursor, another verifies; nobody has to configure it.
func (s *Store) ServerSecret(ctx context.Context, name string) ([]byte, error) {
	coll := s.db.Collection("server_secrets")
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	_, err := coll.InsertOne(ctx, bson.M{"_id": name, "key": key})
	if err == nil {
		return key, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return nil, storeError("server secret %s: %w", name, err)
	}
	var stored struct {
		Key []byte `bson:"key"`
	}
	if err := coll.FindOne(ctx, bson.M{"_id": name}).Decode(&stored); err != nil {
		return nil, storeError("server secret %s: %w", name, err)
	}
	if len(stored.Key) < 32 {
		return nil, storeError("server secret %s: stored key is %d bytes, want 32", name, len(stored.Key))
	}
	return stored.Key, nil
}
