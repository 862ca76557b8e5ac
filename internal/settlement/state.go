package settlement

import (
	"context"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
)

// State names the step a campaign's settlement is at, the same for the designer's page, the
// API's report and the admins' list.
type State string

const (
	// StateNone: the campaign has not reached its deadline (or never launched); nothing settles yet.
	StateNone State = ""
	// StateClosing: the deadline has passed and the settler has not decided the outcome yet, or
	// (flexible) has not yet voided every pledge left unpaid at the deadline.
	StateClosing State = "closing"
	// StateCharging: the deadline charges are under way.
	StateCharging State = "charging"
	// StateDunning: declined cards are still in their dunning window.
	StateDunning State = "dunning"
	// StatePayable: every charge has its outcome; the transfer to the designer is due.
	StatePayable State = "payable"
	// StateTransferred: the designer has been paid.
	StateTransferred State = "transferred"
	// StateFailed: the campaign missed its goal; nobody is charged, nothing is paid out.
	StateFailed State = "failed"
	// StateCancelled: the campaign was cancelled; what it charged goes back, nothing is paid out.
	StateCancelled State = "cancelled"
)

// StateOf is c's settlement step at now; charging and dunning say whether any of its pledges
// is being charged, or has failed and is in its dunning window.
func StateOf(c campaign.Campaign, now time.Time, charging, dunning bool) State {
	switch {
	case c.Status == campaign.StatusCancelled:
		return StateCancelled
	case c.Status == campaign.StatusFailed:
		return StateFailed
	case c.Status == campaign.StatusLive && c.Settlement == nil:
		if now.Before(c.Deadline) {
			return StateNone
		}
		return StateClosing
	case c.Settlement == nil:
		// Draft, in review or approved: it has not run, so it has nothing to settle.
		return StateNone
	case c.Settlement.PaidOutAt != nil:
		return StateTransferred
	case c.FundingModel == campaign.Flexible && c.Settlement.SweptAt == nil:
		return StateClosing
	case charging || (c.FundingModel == campaign.AllOrNothing && c.Settlement.ChargedAt == nil):
		// A flexible campaign's pledges were charged when made: it has no deadline charges.
		return StateCharging
	case dunning:
		return StateDunning
	}
	return StatePayable
}

// Due says whether c has settlement work the settler would take up now: a live campaign past
// its deadline, a succeeded all-or-nothing one whose deadline charges are not all done, a
// failed or succeeded flexible one whose pledges are not all swept, a cancelled one still
// winding down. It is the rule FindCampaignsToSettle queries for, so "settle now" is offered
// exactly when the scheduler's next tick would settle the campaign.
func Due(c campaign.Campaign, now time.Time) bool {
	switch c.Status {
	case campaign.StatusLive:
		return !now.Before(c.Deadline)
	case campaign.StatusFailed:
		return c.Settlement == nil || c.Settlement.SweptAt == nil
	case campaign.StatusSucceeded:
		if c.FundingModel == campaign.Flexible {
			return c.Settlement == nil || c.Settlement.SweptAt == nil
		}
		return c.Settlement == nil || c.Settlement.ChargedAt == nil
	case campaign.StatusCancelled:
		return c.Cancellation != nil && c.Cancellation.WindingDown
	}
	return false
}

// StateStore finds a campaign's pledges in some states (see Store).
type StateStore interface {
	FindPledgesByStatus(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error)
}

// CampaignState is c's settlement step at now, reading at most two pledges rather than the whole
// report, for lists of many campaigns.
func CampaignState(ctx context.Context, store StateStore, c campaign.Campaign, now time.Time) (State, error) {
	if c.Status != campaign.StatusSucceeded || c.Settlement == nil || c.Settlement.PaidOutAt != nil {
		return StateOf(c, now, false, false), nil
	}
	any := func(st pledge.Status) (bool, error) {
		found, err := store.FindPledgesByStatus(ctx, c.ID, []pledge.Status{st}, "", 1)
		return len(found) > 0, err
	}
	charging, err := any(pledge.StatusCharging)
	if err != nil {
		return StateNone, err
	}
	dunning, err := any(pledge.StatusPaymentFailed)
	if err != nil {
		return StateNone, err
	}
	return StateOf(c, now, charging, dunning), nil
}
