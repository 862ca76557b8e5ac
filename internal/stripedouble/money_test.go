package stripedouble

import (
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

func (h *harness) paid(t *testing.T, amount int64, group string) *stripe.PaymentIntent {
	t.Helper()
	pi, err := h.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(amount),
		Currency: stripe.String("chf"), PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true),
		TransferGroup: stripe.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	return pi
}

func TestRefundsPartialAndFull(t *testing.T) {
	h := newHarness(t, Options{})
	pi := h.paid(t, 5000, "g")
	chID := pi.LatestCharge.ID

	rf, err := h.sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(1500),
		Reason: stripe.String("requested_by_customer"), Params: stripe.Params{Metadata: map[string]string{"pledge": "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	if rf.Status != stripe.RefundStatusSucceeded || rf.Amount != 1500 || rf.Charge.ID != chID || rf.Metadata["pledge"] != "p" {
		t.Fatalf("partial refund %+v", rf)
	}
	ch, _ := h.sc.Charges.Get(chID, nil)
	if ch.AmountRefunded != 1500 || ch.Refunded {
		t.Fatalf("after partial: refunded %d full %t", ch.AmountRefunded, ch.Refunded)
	}
	_, err = h.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID), Amount: stripe.Int64(3501)})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "amount" {
		t.Fatalf("over-refund: %+v", se)
	}
	rest, err := h.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID)})
	if err != nil || rest.Amount != 3500 {
		t.Fatalf("refund the rest: %v %v", rest, err)
	}
	ch, _ = h.sc.Charges.Get(chID, nil)
	if ch.AmountRefunded != 5000 || !ch.Refunded {
		t.Fatalf("after full: refunded %d full %t", ch.AmountRefunded, ch.Refunded)
	}
	_, err = h.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID)})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodeChargeAlreadyRefunded {
		t.Fatalf("refund of refunded charge: %+v", se)
	}
	bt, err := h.sc.BalanceTransactions.Get(rest.BalanceTransaction.ID, nil)
	if err != nil || bt.Amount != -3500 || bt.Type != stripe.BalanceTransactionTypeRefund {
		t.Fatalf("refund balance transaction %+v %v", bt, err)
	}
	it := h.sc.Refunds.List(&stripe.RefundListParams{Charge: stripe.String(chID)})
	var listed []string
	for it.Next() {
		listed = append(listed, it.Refund().ID)
	}
	if it.Err() != nil || len(listed) != 2 || listed[0] != rest.ID {
		t.Fatalf("refund list %v %v", listed, it.Err())
	}
	n := 0
	for _, e := range h.d.Events() {
		switch e.Type {
		case "charge.refunded", "refund.created":
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d refund events, want 4 (two each)", n)
	}
}

func TestDashboardActions(t *testing.T) {
	h := newHarness(t, Options{DisputeFee: 2000})
	piID, chID, err := h.d.DashboardCharge(DashboardChargeParams{Amount: 4200, Currency: "EUR",
		TransferGroup: "campaign_9", Metadata: map[string]string{"note": "manual"}})
	if err != nil {
		t.Fatal(err)
	}
	pi, err := h.sc.PaymentIntents.Get(piID, nil)
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded || pi.LatestCharge.ID != chID ||
		pi.Currency != "eur" || pi.Metadata["note"] != "manual" || pi.TransferGroup != "campaign_9" {
		t.Fatalf("dashboard charge: %+v %v", pi, err)
	}
	for _, e := range h.d.Events() {
		if e.Request == nil || e.Request.ID != "" {
			t.Fatalf("dashboard event %s has request %+v, want null id", e.Type, e.Request)
		}
	}

	if _, err := h.d.DashboardRefund(chID, 5000); err == nil {
		t.Fatal("refund above the charge accepted")
	}
	reID, err := h.d.DashboardRefund(chID, 200)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := h.sc.Refunds.Get(reID, nil)
	if err != nil || rf.Amount != 200 {
		t.Fatalf("dashboard refund %v %v", rf, err)
	}

	dpID, err := h.d.DashboardDispute(chID, "fraudulent")
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := h.sc.Charges.Get(chID, nil)
	if !ch.Disputed {
		t.Fatal("charge not marked disputed")
	}
	_, err = h.sc.Refunds.New(&stripe.RefundParams{Charge: stripe.String(chID)})
	if se := stripeErr(t, err); se.Code != stripe.ErrorCodeChargeDisputed {
		t.Fatalf("refund of disputed charge: %+v", se)
	}
	dp, err := h.sc.Disputes.Get(dpID, nil)
	if err != nil || dp.Status != stripe.DisputeStatusNeedsResponse || dp.Amount != 4000 ||
		dp.Reason != stripe.DisputeReasonFraudulent || len(dp.BalanceTransactions) != 1 ||
		dp.BalanceTransactions[0].Net != -6000 {
		t.Fatalf("dispute %+v %v", dp, err)
	}
	if err := h.d.CloseDispute(dpID, true); err != nil {
		t.Fatal(err)
	}
	if err := h.d.CloseDispute(dpID, false); err == nil {
		t.Fatal("closed a dispute twice")
	}
	dp, _ = h.sc.Disputes.Get(dpID, nil)
	if dp.Status != stripe.DisputeStatusWon || len(dp.BalanceTransactions) != 2 || dp.BalanceTransactions[1].Amount != 4000 {
		t.Fatalf("won dispute %+v", dp)
	}
	if !containsAll(eventTypes(h.d), "payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
		"charge.refunded", "refund.created", "charge.dispute.created", "charge.dispute.closed") {
		t.Fatalf("events %v", eventTypes(h.d))
	}
}

func TestTransfersAndConnect(t *testing.T) {
	h := newHarness(t, Options{})
	acct, err := h.sc.Accounts.New(&stripe.AccountParams{Type: stripe.String("express"), Country: stripe.String("CH"),
		Email: stripe.String("designer@example.com"),
		Capabilities: &stripe.AccountCapabilitiesParams{
			Transfers: &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	if acct.Type != stripe.AccountTypeExpress || acct.ChargesEnabled || acct.DetailsSubmitted || acct.DefaultCurrency != "chf" {
		t.Fatalf("new account %+v", acct)
	}
	pi := h.paid(t, 10000, "campaign_1")
	transfer := func(amount int64) (*stripe.Transfer, error) {
		return h.sc.Transfers.New(&stripe.TransferParams{Amount: stripe.Int64(amount), Currency: stripe.String("chf"),
			Destination: stripe.String(acct.ID), TransferGroup: stripe.String("campaign_1"),
			SourceTransaction: stripe.String(pi.LatestCharge.ID)})
	}
	_, err = transfer(9000)
	if se := stripeErr(t, err); se.Code != "insufficient_capabilities_for_transfer" {
		t.Fatalf("transfer before onboarding: %+v", se)
	}

	link, err := h.sc.AccountLinks.New(&stripe.AccountLinkParams{Account: stripe.String(acct.ID),
		RefreshURL: stripe.String("http://app.test/refresh"), ReturnURL: stripe.String("http://app.test/return"),
		Type: stripe.String("account_onboarding")})
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := *h.srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://app.test/return" {
		t.Fatalf("onboarding link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	acct, _ = h.sc.Accounts.GetByID(acct.ID, nil)
	if !acct.ChargesEnabled || !acct.PayoutsEnabled || acct.Capabilities.Transfers != stripe.AccountCapabilityStatusActive {
		t.Fatalf("onboarded account %+v", acct)
	}

	tr, err := transfer(9000)
	if err != nil || tr.Destination.ID != acct.ID || tr.SourceTransaction.ID != pi.LatestCharge.ID || tr.TransferGroup != "campaign_1" {
		t.Fatalf("transfer %+v %v", tr, err)
	}
	if _, err = transfer(1001); err == nil {
		t.Fatal("transfer beyond the source charge accepted")
	}
	rv, err := h.sc.TransferReversals.New(&stripe.TransferReversalParams{ID: stripe.String(tr.ID), Amount: stripe.Int64(4000)})
	if err != nil || rv.Amount != 4000 {
		t.Fatalf("partial reversal %v %v", rv, err)
	}
	if _, err = h.sc.TransferReversals.New(&stripe.TransferReversalParams{ID: stripe.String(tr.ID)}); err != nil {
		t.Fatal(err)
	}
	tr, _ = h.sc.Transfers.Get(tr.ID, nil)
	if !tr.Reversed || tr.AmountReversed != 9000 || len(tr.Reversals.Data) != 2 {
		t.Fatalf("reversed transfer %+v", tr)
	}
	got, err := h.sc.TransferReversals.Get(rv.ID, &stripe.TransferReversalParams{ID: stripe.String(tr.ID)})
	if err != nil || got.Amount != 4000 {
		t.Fatalf("get reversal %v %v", got, err)
	}
	it := h.sc.Transfers.List(&stripe.TransferListParams{TransferGroup: stripe.String("campaign_1")})
	count := 0
	for it.Next() {
		count++
	}
	if it.Err() != nil || count != 1 {
		t.Fatalf("transfers listed %d %v", count, it.Err())
	}
	types := eventTypes(h.d)
	if !containsAll(types, "account.updated", "transfer.created", "transfer.reversed") {
		t.Fatalf("events %v", types)
	}
}
