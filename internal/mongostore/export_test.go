package mongostore

import (
	"context"

	"go.mongodb.org/mongo-driver/mongo"
)

// IndexSpecifications lists a collection's indexes as the server has them, for tests.
func (s *Store) IndexSpecifications(ctx context.Context, coll string) ([]*mongo.IndexSpecification, error) {
	return s.db.Collection(coll).Indexes().ListSpecifications(ctx)
}
