package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/mongo"
)

// IndexSpecifications lists a collection's indexes as the server has them, for tests.
func (s *Store) IndexSpecifications(ctx context.Context, coll string) ([]*mongo.IndexSpecification, error) {
	return s.db.Collection(coll).Indexes().ListSpecifications(ctx)
}

// Collection is one of the store's collections, for tests that write records the store's
// methods never would.
func (s *Store) Collection(name string) *mongo.Collection { return s.db.Collection(name) }

// Expiring lists the collections PurgeExpired deletes from.
var Expiring = expiring
