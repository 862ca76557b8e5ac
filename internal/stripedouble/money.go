package stripedouble

import (
	"fmt"
	"net/http"
)

func (d *Double) listCharges(c *call) response {
	cus, pi, group := c.params.str("customer"), c.params.str("payment_intent"), c.params.str("transfer_group")
	return d.list(c, "charge", func(o object) bool {
		ch := o.(*charge)
		return (cus == "" || string(ch.Customer) == cus) &&
			(pi == "" || string(ch.PaymentIntent) == pi) &&
			(group == "" || string(ch.TransferGroup) == group)
	})
}

func (d *Double) listBalanceTransactions(c *call) response {
	source, typ := c.params.str("source"), c.params.str("type")
	return d.list(c, "balance_transaction", func(o object) bool {
		bt := o.(*balanceTransaction)
		return (source == "" || bt.Source == source) && (typ == "" || bt.Type == typ)
	})
}

func (d *Double) createRefund(c *call) response {
	chID, piID := c.params.str("charge"), c.params.str("payment_intent")
	if chID == "" && piID == "" {
		return invalid("charge", "One of the following params should be provided for this request: "+
			"payment_intent or charge.")
	}
	if piID != "" {
		pi, ok := get[*paymentIntent](d, piID)
		if !ok {
			return missing("payment_intent", piID, "payment_intent")
		}
		if pi.Status != "succeeded" {
			return invalid("payment_intent", fmt.Sprintf(
				"This PaymentIntent (%s) does not have a successful charge to refund.", pi.ID))
		}
		if chID != "" && nstr(chID) != pi.LatestCharge {
			return invalid("charge", fmt.Sprintf("Charge %s does not belong to PaymentIntent %s.", chID, pi.ID))
		}
		chID = string(pi.LatestCharge)
	}
	ch, ok := get[*charge](d, chID)
	if !ok {
		return missing("charge", chID, "charge")
	}
	var amount int64
	if c.params.has("amount") {
		n, _ := c.params.int64("amount")
		if n < 1 {
			return invalid("amount", "Invalid positive integer")
		}
		amount = n
	}
	rf, errResp := d.refundCharge(c, ch, amount, c.params.str("reason"), mergeMetadata(nil, c.params))
	if errResp != nil {
		return *errResp
	}
	return d.ok(c, rf)
}

// refundCharge refunds amount (0 means everything left) of a charge; the
// API and DashboardRefund share it.
func (d *Double) refundCharge(c *call, ch *charge, amount int64, reason string, metadata map[string]string) (*refund, *response) {
	fail := func(code, param, msg string) (*refund, *response) {
		r := errorResponse(http.StatusBadRequest, stripeError{
			Type: "invalid_request_error", Code: code, Param: param, Message: msg})
		return nil, &r
	}
	if ch.Status != "succeeded" {
		return fail("charge_not_refundable", "charge",
			fmt.Sprintf("Charge %s has not succeeded, so it cannot be refunded.", ch.ID))
	}
	if ch.Disputed {
		return fail("charge_disputed", "charge",
			fmt.Sprintf("Charge %s has been charged back; cannot issue a refund.", ch.ID))
	}
	left := ch.Amount - ch.AmountRefunded
	if left == 0 {
		return fail("charge_already_refunded", "charge", fmt.Sprintf("Charge %s has already been refunded.", ch.ID))
	}
	if amount == 0 {
		amount = left
	}
	if amount > left {
		return fail("amount_too_large", "amount", fmt.Sprintf(
			"Refund amount (%d %s) is greater than unrefunded amount on charge (%d %s).",
			amount, ch.Currency, left, ch.Currency))
	}
	if metadata == nil {
		metadata = map[string]string{}
	}
	rf := &refund{
		ID:            d.newID("re"),
		Object:        "refund",
		Amount:        amount,
		Charge:        ch.ID,
		Created:       d.unix(),
		Currency:      ch.Currency,
		Metadata:      metadata,
		PaymentIntent: ch.PaymentIntent,
		Reason:        nstr(reason),
		Status:        "succeeded",
	}
	rf.BalanceTransaction = nstr(d.newBalanceTransaction("refund", "refund", rf.ID, ch.Currency, -amount, 0).ID)
	d.put("refund", rf)
	ch.AmountRefunded += amount
	ch.Refunded = ch.AmountRefunded == ch.Amount
	d.emit(c, "charge.refunded", ch)
	d.emit(c, "refund.created", rf)
	return rf, nil
}

func (d *Double) listRefunds(c *call) response {
	ch, pi := c.params.str("charge"), c.params.str("payment_intent")
	return d.list(c, "refund", func(o object) bool {
		rf := o.(*refund)
		return (ch == "" || rf.Charge == ch) && (pi == "" || string(rf.PaymentIntent) == pi)
	})
}

func (d *Double) listDisputes(c *call) response {
	ch, pi := c.params.str("charge"), c.params.str("payment_intent")
	return d.list(c, "dispute", func(o object) bool {
		dp := o.(*dispute)
		return (ch == "" || dp.Charge == ch) && (pi == "" || string(dp.PaymentIntent) == pi)
	})
}
