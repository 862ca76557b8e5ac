package mongostore

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// campaign_gates holds one tiny document per campaign that no longer takes pledges, {_id:
// campaign id, closed_at}; no document means open. The settler closes it before it sweeps a
// campaign's pledges and a new pledge reads it after its insert (see pledge.Service.Create and
// settlement.Settler.settle): with single-document writes and reads that see every write
// acknowledged before them, one of the two sees the other, so no pledge lands unseen in a
// closed campaign (on MongoDB this needs both reads on the primary, the driver's default: a
// secondary may not have the other's write yet). Its own collection, not a field of the campaign, because the read follows
// every pledge, and the campaign document is large.

// CloseCampaignGate records that a campaign takes no more pledges. It is idempotent: the first
// closing time stays.
func (s *Store) CloseCampaignGate(ctx context.Context, campaignID string, at time.Time) error {
	_, err := s.db.Collection("campaign_gates").UpdateOne(ctx, bson.M{"_id": campaignID},
		bson.M{"$setOnInsert": bson.M{"closed_at": at}}, options.Update().SetUpsert(true))
	if err != nil {
		return storeError("close gate of campaign %s: %w", campaignID, err)
	}
	return nil
}

// CampaignGateClosed reports whether the settler closed a campaign's gate: one read by _id. On
// the embedded store it reads the store's files (embedded.Server.ScanIDs), not through FerretDB,
// whose one connection every other command waits for: the read follows every pledge. The
// argument above holds for it as for a FerretDB find, because it sees every write acknowledged
// before it starts: FerretDB commits a write before it answers, the files are in WAL mode, and
// each Scanner read is its own read transaction, begun at the latest commit (none is held open
// between reads; one that were would answer an old snapshot and let a pledge land unseen).
func (s *Store) CampaignGateClosed(ctx context.Context, campaignID string) (bool, error) {
	if s.scanner != nil {
		closed := false
		err := s.scanner.ScanIDs(ctx, s.db.Name(), "campaign_gates", []string{campaignID}, []string{"_id"}, func([]any) error {
			closed = true
			return nil
		})
		if err != nil {
			return false, storeError("read gate of campaign %s: %w", campaignID, err)
		}
		return closed, nil
	}
	err := s.db.Collection("campaign_gates").FindOne(ctx, bson.M{"_id": campaignID},
		options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	case err != nil:
		return false, storeError("read gate of campaign %s: %w", campaignID, err)
	}
	return true, nil
}
