package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/backstitch/backstitch/internal/pledge"
)

// dueTerm is one branch of a background job's $or: pledges whose date at path is at or before
// before, among those whose fields in equal hold those strings.
type dueTerm struct {
	equal  map[string]string
	path   string
	before time.Time
}

// findDuePledges answers such an $or on the embedded store, where FerretDB would parse every
// pledge ever made for it (the sweep took 2.9 s after 15 minutes of soak, holding the store's
// one connection; dunning the same): the Scanner lists each term's ids from an index on its
// files, then each pledge is read by _id through FerretDB (the one filter it answers from an
// index) and kept if match, the same filter in Go, still holds for it. So the caller acts on
// documents FerretDB returned, matching when they were read, as from the driver's query.
func (s *Store) findDuePledges(ctx context.Context, terms []dueTerm, match func(pledge.Pledge) bool, limit int) ([]pledge.Pledge, error) {
	seen := map[string]bool{}
	var ids []string
	for _, t := range terms {
		found, err := s.scanner.DueIDs(ctx, s.db.Name(), "pledges", t.equal, t.path, t.before, limit)
		if err != nil {
			return nil, storeError("find due pledges: %w", err)
		}
		for _, id := range found {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	out := []pledge.Pledge{}
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		var p pledge.Pledge
		err := s.db.Collection("pledges").FindOne(ctx, bson.M{"_id": id}).Decode(&p)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // deleted since the index was read
		}
		if err != nil {
			return nil, storeError("read pledge %s: %w", id, err)
		}
		if match(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// atOrBefore is a stored date's $lte: BSON keeps milliseconds, so comparing the stored time
// with before itself gives what the server's comparison with before's milliseconds gives.
func atOrBefore(t *time.Time, before time.Time) bool {
	return t != nil && !t.After(before)
}
