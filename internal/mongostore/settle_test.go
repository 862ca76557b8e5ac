package mongostore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/testenv"
)

// FindCampaignsToSettle lists exactly the campaigns settlement.Due calls due: a failed or
// succeeded flexible campaign until its pledges are swept (a settler that died between the
// decision and the end of the sweep is resumed), never after. On MongoDB mode the query is also
// checked against the indexes (testenv).
func TestFindCampaignsToSettleListsUnsweptOutcomes(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2030, 2, 1, 12, 0, 0, 0, time.UTC)
	past := now.Add(-time.Hour)
	decided := func() *campaign.Settlement { return &campaign.Settlement{DecidedAt: past} }
	swept := func() *campaign.Settlement { return &campaign.Settlement{DecidedAt: past, SweptAt: &past} }
	charged := func() *campaign.Settlement { return &campaign.Settlement{DecidedAt: past, ChargedAt: &past} }
	for _, tc := range []struct {
		title  string
		status campaign.Status
		model  campaign.FundingModel
		set    *campaign.Settlement
		due    bool
	}{
		{"failed not swept", campaign.StatusFailed, campaign.AllOrNothing, decided(), true},
		{"failed swept", campaign.StatusFailed, campaign.AllOrNothing, swept(), false},
		{"flexible not swept", campaign.StatusSucceeded, campaign.Flexible, decided(), true},
		{"flexible swept", campaign.StatusSucceeded, campaign.Flexible, swept(), false},
		{"all-or-nothing charging", campaign.StatusSucceeded, campaign.AllOrNothing, decided(), true},
		{"all-or-nothing charged", campaign.StatusSucceeded, campaign.AllOrNothing, charged(), false},
	} {
		c := newCampaign(t, tc.title)
		c.Status, c.FundingModel, c.Settlement, c.Deadline = tc.status, tc.model, tc.set, past
		c, err := s.CreateCampaign(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := s.FindCampaignsToSettle(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(ids, c.ID); got != tc.due {
			t.Errorf("%s: listed to settle %v, want %v", tc.title, got, tc.due)
		}
		if got := settlement.Due(c, now); got != tc.due {
			t.Errorf("%s: settlement.Due %v, want %v", tc.title, got, tc.due)
		}
	}
}
