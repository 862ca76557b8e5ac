package settlement

import (
	"context"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// StateTotal is how many pledges are in one state and what they amount to.
type StateTotal struct {
	Count  int64       `json:"count"`
	Amount money.Money `json:"amount"`
}

// Report is a campaign's settlement in figures: every pledge state kept apart, and what the
// designer is owed and was paid. The platform fee is computed per charge, as transfers are, so
// payable is exactly the sum of the transfers. Stripe's fees come from each charge's balance
// transaction.
type Report struct {
	CampaignID string          `json:"campaign_id"`
	Status     campaign.Status `json:"status"`
	// State is the settlement's step (see State); absent before the deadline.
	State    State                        `json:"state,omitempty"`
	ByStatus map[pledge.Status]StateTotal `json:"by_status"`
	// Collected is money taken; Refunded and DisputesLost went back; PlatformFee is the
	// platform's share (basis points) of what stays; Payable is what the designer receives.
	Collected money.Money `json:"collected"`
	// CollectedShipping is the part of Collected that paid for shipping (the rest is rewards
	// and what backers added).
	CollectedShipping money.Money `json:"collected_shipping"`
	Refunded          money.Money `json:"refunded"`
	DisputesLost      money.Money `json:"disputes_lost"`
	PlatformFee       money.Money `json:"platform_fee"`
	Payable           money.Money `json:"payable"`
	Transferred       money.Money `json:"transferred"`
	// StripeFees are Stripe's processing fees on the charges (borne by the platform).
	StripeFees money.Money `json:"stripe_fees"`
	// Pending is what may still be collected: charges under way or in their dunning window.
	Pending        money.Money  `json:"pending"`
	DecidedAt      *time.Time   `json:"decided_at"`
	ChargesDoneAt  *time.Time   `json:"charges_done_at"`
	PaidOutAt      *time.Time   `json:"paid_out_at"`
	PledgedAtClose *money.Money `json:"pledged_at_deadline,omitempty"`
}

// ReportStore streams a campaign's pledges.
type ReportStore interface {
	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)
	FindCampaignPledges(ctx context.Context, campaignID string, fn func(pledge.Pledge) error) error
}

// BuildReport sums a campaign's pledges per state as of now. feeBasisPoints is the platform fee.
func BuildReport(ctx context.Context, store ReportStore, campaignID string, feeBasisPoints int64, now time.Time) (Report, error) {
	camp, err := store.FindCampaign(ctx, campaignID)
	if err != nil {
		return Report{}, err
	}
	cur := camp.Goal.Currency
	r := Report{CampaignID: camp.ID, Status: camp.Status, ByStatus: map[pledge.Status]StateTotal{}}
	var collected, shipping, refunded, lost, fee, transferred, stripeFees int64
	err = store.FindCampaignPledges(ctx, camp.ID, func(p pledge.Pledge) error {
		t := r.ByStatus[p.Status]
		t.Count++
		t.Amount = money.Money{Amount: t.Amount.Amount + p.Amount.Amount, Currency: cur}
		r.ByStatus[p.Status] = t
		if p.Status.Charged() {
			collected += p.Amount.Amount
			shipping += p.Shipping
			refunded += p.AmountRefunded
		}
		if p.Status == pledge.StatusCollected || p.Status == pledge.StatusPartiallyRefunded {
			fee += money.PlatformFee(p.Amount.Amount-p.AmountRefunded, feeBasisPoints)
		}
		transferred += p.TransferAmount
		stripeFees += p.StripeFee
		if p.Status == pledge.StatusDisputeLost {
			lost += p.Amount.Amount - p.AmountRefunded
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	kept := collected - refunded - lost
	pending := r.ByStatus[pledge.StatusCharging].Amount.Amount + r.ByStatus[pledge.StatusPaymentFailed].Amount.Amount
	if camp.FundingModel == campaign.AllOrNothing && camp.Status == campaign.StatusLive {
		pending += r.ByStatus[pledge.StatusActive].Amount.Amount
	}
	r.Collected = money.Money{Amount: collected, Currency: cur}
	r.CollectedShipping = money.Money{Amount: shipping, Currency: cur}
	r.Refunded = money.Money{Amount: refunded, Currency: cur}
	r.DisputesLost = money.Money{Amount: lost, Currency: cur}
	r.PlatformFee = money.Money{Amount: fee, Currency: cur}
	if camp.Status == campaign.StatusCancelled {
		// A cancelled campaign pays nobody: what it charged goes back to its backers.
		fee, kept = 0, 0
	}
	r.Payable = money.Money{Amount: kept - fee, Currency: cur}
	r.Transferred = money.Money{Amount: transferred, Currency: cur}
	r.StripeFees = money.Money{Amount: stripeFees, Currency: cur}
	r.Pending = money.Money{Amount: pending, Currency: cur}
	if s := camp.Settlement; s != nil {
		r.DecidedAt, r.ChargesDoneAt, r.PaidOutAt = &s.DecidedAt, s.ChargedAt, s.PaidOutAt
		r.PledgedAtClose = &money.Money{Amount: s.PledgedAtDeadline, Currency: cur}
	}
	r.State = StateOf(camp, now, r.ByStatus[pledge.StatusCharging].Count > 0, r.ByStatus[pledge.StatusPaymentFailed].Count > 0)
	return r, nil
}
