package testenv

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func TestMain(m *testing.M) { Main(m) }

// The check sees the filters of every kind of command the driver sends (updates and deletes
// travel as document sequences), by branch, and lets indexed ones through.
func TestQueriesWithoutAnIndexAreRecorded(t *testing.T) {
	opts := StoreOptions(t)
	MustStoreAt(t, opts)
	ctx := context.Background()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(opts.URI).SetMaxPoolSize(1).SetMonitor(queryMonitor))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	pledges := client.Database(opts.Database).Collection("pledges")
	run := func(f func() error) {
		t.Helper()
		if err := f(); err != nil && err != mongo.ErrNoDocuments {
			t.Fatal(err)
		}
	}
	run(func() error { return pledges.FindOne(ctx, bson.M{"_id": "p", "unindexed_a": 1}).Err() })
	run(func() error { return pledges.FindOne(ctx, bson.M{"campaign_id": "c"}).Err() })
	run(func() error {
		_, err := pledges.Find(ctx, bson.M{}, options.Find().SetSort(bson.M{"collected_at": 1}))
		return err
	})
	run(func() error { return pledges.FindOne(ctx, bson.M{"unindexed_b": 1}).Err() })
	run(func() error {
		_, err := pledges.UpdateOne(ctx, bson.M{"unindexed_c": 1}, bson.M{"$set": bson.M{"x": 1}})
		return err
	})
	run(func() error { _, err := pledges.DeleteMany(ctx, bson.M{"unindexed_d": 1}); return err })
	run(func() error { _, err := pledges.CountDocuments(ctx, bson.M{"unindexed_e": 1}); return err })
	run(func() error {
		return pledges.FindOneAndUpdate(ctx, bson.M{"unindexed_f": 1}, bson.M{"$set": bson.M{"x": 1}}).Err()
	})
	run(func() error {
		return pledges.FindOne(ctx, bson.M{"$or": bson.A{bson.M{"campaign_id": "c"}, bson.M{"unindexed_g": 1}}}).Err()
	})

	got := strings.Join(unindexedQueries(), "\n")
	for _, want := range []string{"find pledges on {unindexed_b}", "update pledges on {unindexed_c}", "delete pledges on {unindexed_d}",
		"aggregate pledges on {unindexed_e}", "findAndModify pledges on {unindexed_f}", "find pledges on {unindexed_g}"} {
		if !strings.Contains(got, want) {
			t.Errorf("not recorded: %s; recorded:\n%s", want, got)
		}
	}
	for _, indexed := range []string{"unindexed_a", "campaign_id", "collected_at"} {
		if strings.Contains(got, indexed) {
			t.Errorf("an indexed query was recorded (%s):\n%s", indexed, got)
		}
	}
	// What this test sent on purpose must not fail the package.
	queries.mu.Lock()
	clear(queries.unindexed)
	queries.mu.Unlock()
}
