package stripedouble

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
)

// Dashboard actions change state as if someone used Stripe's dashboard, or
// as if Stripe itself acted: the events they emit carry a null request id.

// respError turns an API error answer into a Go error for dashboard callers.
func respError(r *response) error {
	var body struct {
		Error stripeError `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return fmt.Errorf("stripedouble: HTTP %d", r.status)
	}
	return errors.New("stripedouble: " + body.Error.Message)
}

// DashboardRefund refunds amount of a charge (0 means all that is left) and
// emits charge.refunded and refund.created. It returns the refund id.
func (d *Double) DashboardRefund(chargeID string, amount int64) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := get[*charge](d, chargeID)
	if !ok {
		return "", fmt.Errorf("stripedouble: no such charge %q", chargeID)
	}
	if amount < 0 {
		return "", fmt.Errorf("stripedouble: negative refund amount %d", amount)
	}
	rf, errResp := d.refundCharge(nil, ch, amount, "", nil)
	if errResp != nil {
		return "", respError(errResp)
	}
	return rf.ID, nil
}

// DashboardDispute opens a dispute (status needs_response) over what is
// left unrefunded of a charge, withdraws that amount plus the dispute fee,
// and emits charge.dispute.created and charge.dispute.funds_withdrawn.
// reason is one of Stripe's, e.g. "fraudulent" or "product_not_received".
// It returns the dispute id.
func (d *Double) DashboardDispute(chargeID, reason string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := get[*charge](d, chargeID)
	if !ok {
		return "", fmt.Errorf("stripedouble: no such charge %q", chargeID)
	}
	if ch.Status != "succeeded" || ch.Disputed || ch.Refunded {
		return "", fmt.Errorf("stripedouble: charge %s cannot be disputed (status %s, disputed %t, refunded %t)",
			ch.ID, ch.Status, ch.Disputed, ch.Refunded)
	}
	if reason == "" {
		reason = "general"
	}
	dp := &dispute{
		ID:            d.newID("dp"),
		Object:        "dispute",
		Amount:        ch.Amount - ch.AmountRefunded,
		Charge:        ch.ID,
		Created:       d.unix(),
		Currency:      ch.Currency,
		Metadata:      map[string]string{},
		PaymentIntent: ch.PaymentIntent,
		Reason:        reason,
		Status:        "needs_response",
	}
	bt := d.newBalanceTransaction("adjustment", "dispute", dp.ID, dp.Currency, -dp.Amount, d.disputeFee)
	bt.FeeDetails[0].Description = "Dispute fee"
	dp.BalanceTransactions = []*balanceTransaction{bt}
	d.put("dispute", dp)
	ch.Disputed = true
	d.emit(nil, "charge.dispute.created", dp)
	d.emit(nil, "charge.dispute.funds_withdrawn", dp)
	return dp.ID, nil
}

// CloseDispute decides an open dispute. Won disputes reinstate the disputed
// amount (not the fee) and emit charge.dispute.funds_reinstated; both
// outcomes emit charge.dispute.closed.
func (d *Double) CloseDispute(disputeID string, won bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, ok := get[*dispute](d, disputeID)
	if !ok {
		return fmt.Errorf("stripedouble: no such dispute %q", disputeID)
	}
	if dp.Status == "won" || dp.Status == "lost" {
		return fmt.Errorf("stripedouble: dispute %s is already %s", dp.ID, dp.Status)
	}
	dp.Status = "lost"
	if won {
		dp.Status = "won"
		bt := d.newBalanceTransaction("adjustment", "dispute_reversal", dp.ID, dp.Currency, dp.Amount, 0)
		dp.BalanceTransactions = append(dp.BalanceTransactions, bt)
		d.emit(nil, "charge.dispute.funds_reinstated", dp)
	}
	d.emit(nil, "charge.dispute.closed", dp)
	return nil
}

// DashboardChargeParams describes a payment the platform never requested,
// e.g. one taken by hand in the dashboard.
type DashboardChargeParams struct {
	Amount        int64
	Currency      string
	Customer      string
	Description   string
	TransferGroup string
	Metadata      map[string]string
}

// DashboardCharge creates a succeeded PaymentIntent and its charge, paid
// with a fresh Visa test card, and emits payment_intent.created,
// charge.succeeded and payment_intent.succeeded. It returns both ids.
func (d *Double) DashboardCharge(p DashboardChargeParams) (paymentIntentID, chargeID string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.Amount < 1 || p.Currency == "" {
		return "", "", fmt.Errorf("stripedouble: dashboard charge needs a positive amount and a currency")
	}
	if p.Customer != "" {
		if _, ok := get[*customer](d, p.Customer); !ok {
			return "", "", fmt.Errorf("stripedouble: no such customer %q", p.Customer)
		}
	}
	metadata := maps.Clone(p.Metadata)
	if metadata == nil {
		metadata = map[string]string{}
	}
	visa, _ := lookupCard(testTokens["pm_card_visa"])
	pm := d.newPaymentMethod(visa, 0, 0)
	id := d.newID("pi")
	pi := &paymentIntent{
		ID:                 id,
		Object:             "payment_intent",
		Amount:             p.Amount,
		CaptureMethod:      "automatic",
		ClientSecret:       id + "_secret_" + d.tag,
		ConfirmationMethod: "automatic",
		Created:            d.unix(),
		Currency:           strings.ToLower(p.Currency),
		Customer:           nstr(p.Customer),
		Description:        nstr(p.Description),
		Metadata:           metadata,
		PaymentMethod:      nstr(pm.ID),
		PaymentMethodTypes: []string{"card"},
		Status:             "requires_confirmation",
		TransferGroup:      nstr(p.TransferGroup),
	}
	d.put("payment_intent", pi)
	d.emit(nil, "payment_intent.created", pi)
	d.succeedPayment(nil, pi, pm)
	return pi.ID, string(pi.LatestCharge), nil
}
