package mongostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/testenv"
)

// A pledge validated against a copy of a tier claims its unit only while the tier's updated_at
// is the copy's (ClaimTierUnitAsRead), so no two different versions of a tier may carry the
// same updated_at. Two designer edits of one tier within one millisecond (two tabs, two
// instances; the test clock is fixed) both read the same version: the second must not land over
// the first with the first's updated_at, or a copy of the first version (here at the old price)
// passes the claim after the tier was repriced, and the first edit is lost unseen.
func TestTwoTierEditsInOneMillisecondDoNotShareAVersion(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, newCampaign(t, "Same millisecond"))
	if err != nil {
		t.Fatal(err)
	}
	title, kind := "Coat", campaign.KindPhysical
	price := money.Money{Amount: 30000, Currency: "CHF"}
	tier, err := campaign.NewTier(c, campaign.TierFields{Title: &title, Kind: &kind, Price: &price,
		Limit: campaign.Nullable[int64]{Set: true, Value: 10}}, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTier(ctx, tier); err != nil {
		t.Fatal(err)
	}
	read, err := s.FindTier(ctx, c.ID, tier.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC)
	cheaper, dearer := money.Money{Amount: 20000, Currency: "CHF"}, money.Money{Amount: 40000, Currency: "CHF"}
	first, err := read.Edit(c, campaign.TierFields{Price: &cheaper}, now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := read.Edit(c, campaign.TierFields{Price: &dearer}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceTier(ctx, read, first); err != nil {
		t.Fatal(err)
	}
	copied, err := s.FindTier(ctx, c.ID, tier.ID)
	if err != nil || copied.Price != cheaper {
		t.Fatalf("tier after the first edit: %+v %v", copied.Price, err)
	}
	if err := s.ReplaceTier(ctx, read, second); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("a second edit of the version the first replaced: %v, want a conflict", err)
	}
	if err := s.ClaimTierUnitAsRead(ctx, copied, now); err != nil {
		t.Fatalf("claim on a copy of the tier as it is: %v", err)
	}
	if stored, err := s.FindTier(ctx, c.ID, tier.ID); err != nil || stored.Price != copied.Price {
		t.Fatalf("a unit claimed at %v while the tier costs %v (%v)", copied.Price, stored.Price, err)
	}
}
