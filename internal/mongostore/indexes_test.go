package mongostore_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
)

// indexNames lists each collection's indexes as the server has them, _id's left out.
func indexNames(t *testing.T, s *mongostore.Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for coll := range mongostore.WantedIndexes() {
		specs, err := s.IndexSpecifications(context.Background(), coll)
		if err != nil {
			t.Fatalf("list indexes of %s: %v", coll, err)
		}
		names := []string{}
		for _, spec := range specs {
			if spec.Name != "_id_" {
				names = append(names, spec.Name)
			}
		}
		slices.Sort(names)
		out[coll] = names
	}
	return out
}

// wantIndexes is the sorted names of every index the store wants, or of its unique ones only.
func wantIndexes(uniqueOnly bool) map[string][]string {
	out := map[string][]string{}
	for coll, idx := range mongostore.WantedIndexes() {
		names := []string{}
		for name, unique := range idx {
			if unique || !uniqueOnly {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		out[coll] = names
	}
	return out
}

func openStore(t *testing.T, opts mongostore.Options) *mongostore.Store {
	t.Helper()
	s, err := mongostore.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// With ConstraintIndexesOnly (the embedded store) only the unique indexes are made, and they
// still refuse a second account on an email and a second campaign on a slug; every collection
// exists anyway, since the embedded store's _id index goes only on collections that exist.
func TestConstraintIndexesOnlyKeepsTheRules(t *testing.T) {
	opts := testenv.StoreOptions(t)
	opts.ConstraintIndexesOnly = true
	s := testenv.MustStoreAt(t, opts)
	ctx := context.Background()
	if got, want := indexNames(t, s), wantIndexes(true); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("indexes %v, want only the unique ones %v", got, want)
	}
	if want := wantIndexes(false); len(want["pledges"]) == 0 || len(want["users"]) < 2 {
		t.Fatalf("the store wants no query indexes on pledges or users (%v): this test checks nothing", want)
	}
	colls, err := s.CollectionNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for coll := range mongostore.WantedIndexes() {
		if !slices.Contains(colls, coll) {
			t.Errorf("collection %s not created (have %v)", coll, colls)
		}
	}
	if err := s.CreateUser(ctx, account.User{ID: "usr_1", Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, account.User{ID: "usr_2", Email: "ada@example.com"}); backstitch.ErrorCode(err) != backstitch.CodeEmailTaken {
		t.Fatalf("second account on one email: %v, want %s", err, backstitch.CodeEmailTaken)
	}
	first, err := s.CreateCampaign(ctx, newCampaign(t, "Same title"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateCampaign(ctx, newCampaign(t, "Same title"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Slug == second.Slug {
		t.Fatalf("two campaigns got slug %q", first.Slug)
	}
}

// A database made with every index (by an older version, or in MongoDB mode) loses its query
// indexes when opened with ConstraintIndexesOnly, keeps its unique ones and its documents, and
// still answers the queries those indexes served; opened again without the option, it gets them
// back.
func TestConstraintIndexesOnlyDropsQueryIndexes(t *testing.T) {
	opts := testenv.StoreOptions(t)
	opts.ConstraintIndexesOnly = false
	ctx := context.Background()
	before := openStore(t, opts)
	if got, want := indexNames(t, before), wantIndexes(false); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("without the option: indexes %v, want %v", got, want)
	}
	c, err := before.CreateCampaign(ctx, newCampaign(t, "Kept"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC)
	p := pledge.Pledge{ID: "plg_kept", CampaignID: c.ID, FundingModel: campaign.AllOrNothing, Amount: money.Money{Amount: 5000, Currency: "CHF"},
		Backer: pledge.Backer{Email: "kept@example.com"}, Status: pledge.StatusActive, SetupIntentID: "seti_kept", CreatedAt: now, UpdatedAt: now}
	if err := before.CreatePledge(ctx, p); err != nil {
		t.Fatal(err)
	}
	_ = before.Close(ctx)

	opts.ConstraintIndexesOnly = true
	s := testenv.MustStoreAt(t, opts)
	if got, want := indexNames(t, s), wantIndexes(true); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("reopened with the option: indexes %v, want only the unique ones %v", got, want)
	}
	if got, err := s.FindPledgeByIntent(ctx, "seti_kept"); err != nil || got.ID != p.ID {
		t.Fatalf("pledge by intent after the drop: %+v, %v", got, err)
	}
	if got, err := s.FindPledgesByStatus(ctx, c.ID, []pledge.Status{pledge.StatusActive}, "", 10); err != nil || len(got) != 1 {
		t.Fatalf("pledges by status after the drop: %d, %v", len(got), err)
	}
	if again, err := s.CreateCampaign(ctx, newCampaign(t, "Kept")); err != nil || again.Slug == c.Slug {
		t.Fatalf("second campaign titled as the first: slug %q, %v (first %q)", again.Slug, err, c.Slug)
	}

	opts.ConstraintIndexesOnly = false
	after := openStore(t, opts)
	defer after.Close(ctx)
	if got, want := indexNames(t, after), wantIndexes(false); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("reopened without the option: indexes %v, want %v", got, want)
	}
}
