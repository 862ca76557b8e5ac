package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/visits"
)

var _ visits.Store = (*Store)(nil)
var _ visits.ReportStore = (*Store)(nil)

// visitDoc is one campaign's visits from one source on one day. Its id names all three, so
// instances flushing the same key add to one document.
type visitDoc struct {
	ID         string        `bson:"_id"`
	CampaignID string        `bson:"campaign_id"`
	Day        string        `bson:"day"`
	Source     pledge.Source `bson:"source"`
	Visits     int64         `bson:"visits"`
}

// visitID joins the key's parts with '|', which no cleaned source field contains.
func visitID(k visits.Key) string {
	s := k.Source
	return k.CampaignID + "|" + k.Day + "|" + s.Ref + "|" + s.UTMSource + "|" + s.UTMMedium + "|" + s.UTMCampaign
}

// AddVisits adds counts in one unordered bulk write of upserts.
func (s *Store) AddVisits(ctx context.Context, counts []visits.Count) error {
	models := make([]mongo.WriteModel, 0, len(counts))
	for _, c := range counts {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": visitID(c.Key)}).SetUpsert(true).
			SetUpdate(bson.M{"$inc": bson.M{"visits": c.Visits},
				"$setOnInsert": bson.M{"campaign_id": c.CampaignID, "day": c.Day, "source": c.Source}}))
	}
	if _, err := s.db.Collection("visits").BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("add visits: %w", err)
	}
	return nil
}

// FindVisits lists a campaign's visit counts.
func (s *Store) FindVisits(ctx context.Context, campaignID string) ([]visits.Count, error) {
	cur, err := s.db.Collection("visits").Find(ctx, bson.M{"campaign_id": campaignID})
	if err != nil {
		return nil, fmt.Errorf("find visits of %s: %w", campaignID, err)
	}
	var docs []visitDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find visits of %s: %w", campaignID, err)
	}
	out := make([]visits.Count, 0, len(docs))
	for _, d := range docs {
		out = append(out, visits.Count{Key: visits.Key{CampaignID: d.CampaignID, Day: d.Day, Source: d.Source}, Visits: d.Visits})
	}
	return out, nil
}
