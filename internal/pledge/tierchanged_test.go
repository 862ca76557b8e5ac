package pledge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
)

// editedTierStore is a campaign with one tier that its designer edits between every read of the
// tier and the pledge's claim on it (a busy designer, or several).
type editedTierStore struct {
	Store
	c      campaign.Campaign
	t      campaign.Tier
	claims int
}

func (s *editedTierStore) FindPledge(context.Context, string) (Pledge, error) {
	return Pledge{}, backstitch.Errorf(backstitch.CodeNotFound, "Pledge not found.")
}

func (s *editedTierStore) FindCampaignBySlug(context.Context, string) (campaign.Campaign, error) {
	return s.c, nil
}

func (s *editedTierStore) FindTier(context.Context, string, string) (campaign.Tier, error) {
	return s.t, nil
}

func (s *editedTierStore) ClaimTierUnitAsRead(_ context.Context, t campaign.Tier, _ time.Time, _ ...string) error {
	s.claims++
	return fmt.Errorf("claim unit of tier %s: %w", t.ID, ErrTierChanged)
}

// A tier that changes again between the fresh read a pledge falls back on and its claim is a
// conflict to retry (409), never an unexplained 500: it is the designer's edit racing the backer.
func TestTierChangedUnderAFreshReadIsAConflict(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	price := money.Money{Amount: 30000, Currency: "CHF"}
	st := &editedTierStore{
		c: campaign.Campaign{ID: "cam_1", Slug: "coat", Status: campaign.StatusLive, Deadline: at.Add(24 * time.Hour),
			FundingModel: campaign.AllOrNothing, Goal: money.Money{Amount: 100000, Currency: "CHF"}},
		t: campaign.Tier{ID: "tier_1", CampaignID: "cam_1", Title: "Coat", Kind: campaign.KindDigital, Price: price, UpdatedAt: at},
	}
	s := NewService(st, nil, func() time.Time { return at }, time.Hour, Dunning{})
	_, err := s.Create(context.Background(), Origin{Scope: "k"}, "coat", Request{
		TierID: "tier_1", Amount: &price, Backer: &Backer{Email: "ada@example.com", Name: "Ada"}})
	if code := backstitch.ErrorCode(err); code != backstitch.CodeConflict {
		t.Fatalf("pledge on a tier edited under every read: %v (code %q), want a conflict", err, code)
	}
	if st.claims != 2 {
		t.Fatalf("%d claims, want 2 (the copy's, then the fresh read's)", st.claims)
	}
}
