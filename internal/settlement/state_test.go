package settlement_test

import (
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/settlement"
)

// Each settlement step, as every page and the API name it, from the campaign and whether any
// pledge is charging or in dunning. A flexible campaign's pledges were charged when made: once
// decided it is payable once its unpaid pledges are swept, never "charging" for want of deadline
// charges it does not have; a failed or flexible one is due until swept.
func TestStateOf(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	decided := &campaign.Settlement{DecidedAt: past}
	charged := &campaign.Settlement{DecidedAt: past, ChargedAt: &past}
	paid := &campaign.Settlement{DecidedAt: past, ChargedAt: &past, PaidOutAt: &now}
	swept := &campaign.Settlement{DecidedAt: past, SweptAt: &past}
	aon, flex := campaign.AllOrNothing, campaign.Flexible
	for _, tc := range []struct {
		name              string
		c                 campaign.Campaign
		charging, dunning bool
		want              settlement.State
		due               bool
	}{
		{"draft", campaign.Campaign{Status: campaign.StatusDraft, Deadline: past}, false, false, settlement.StateNone, false},
		{"live before its deadline", campaign.Campaign{Status: campaign.StatusLive, Deadline: future}, false, false, settlement.StateNone, false},
		{"live past its deadline", campaign.Campaign{Status: campaign.StatusLive, Deadline: past}, false, false, settlement.StateClosing, true},
		{"decided, charges not done", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: aon, Settlement: decided}, false, false, settlement.StateCharging, true},
		{"charges done, one still charging", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: aon, Settlement: charged}, true, true, settlement.StateCharging, false},
		{"charges done, declines in dunning", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: aon, Settlement: charged}, false, true, settlement.StateDunning, false},
		{"charges done", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: aon, Settlement: charged}, false, false, settlement.StatePayable, false},
		{"flexible, decided, unpaid pledges not swept", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: flex, Settlement: decided}, false, false, settlement.StateClosing, true},
		{"flexible, swept", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: flex, Settlement: swept}, false, false, settlement.StatePayable, false},
		{"flexible, declines in dunning", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: flex, Settlement: swept}, false, true, settlement.StateDunning, false},
		{"paid out", campaign.Campaign{Status: campaign.StatusSucceeded, FundingModel: aon, Settlement: paid}, false, false, settlement.StateTransferred, false},
		{"failed, pledges not swept", campaign.Campaign{Status: campaign.StatusFailed, Settlement: decided}, false, false, settlement.StateFailed, true},
		{"failed, swept", campaign.Campaign{Status: campaign.StatusFailed, Settlement: swept}, false, false, settlement.StateFailed, false},
		{"cancelled, winding down", campaign.Campaign{Status: campaign.StatusCancelled, Cancellation: &campaign.Cancellation{WindingDown: true}}, false, false, settlement.StateCancelled, true},
		{"cancelled, wound down", campaign.Campaign{Status: campaign.StatusCancelled, Cancellation: &campaign.Cancellation{}}, false, false, settlement.StateCancelled, false},
	} {
		if got := settlement.StateOf(tc.c, now, tc.charging, tc.dunning); got != tc.want {
			t.Errorf("%s: state %q, want %q", tc.name, got, tc.want)
		}
		if got := settlement.Due(tc.c, now); got != tc.due {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.due)
		}
	}
}
