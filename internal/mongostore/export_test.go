package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
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

// WantedIndexes names each collection's indexes beside _id, each with whether it is unique.
func WantedIndexes() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for coll, models := range indexes(false) {
		out[coll] = map[string]bool{}
		for _, m := range models {
			out[coll][indexName(m.Keys.(bson.D))] = isUnique(m)
		}
	}
	return out
}

// CollectionNames lists the database's collections, for tests.
func (s *Store) CollectionNames(ctx context.Context) ([]string, error) {
	return s.db.ListCollectionNames(ctx, bson.D{})
}
