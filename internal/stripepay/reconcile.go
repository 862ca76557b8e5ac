package stripepay

import (
	"context"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/reconcile"
)

var _ reconcile.StripeSource = (*Client)(nil)

// listPage is Stripe's largest page: the listings below page through everything with
// starting_after (stripe-go's iterators), never assuming one page holds it all.
const listPage = 100

func listParams(ctx context.Context) stripe.ListParams {
	return stripe.ListParams{Context: ctx, Limit: stripe.Int64(listPage)}
}

// createdBounds are a filter's period as Stripe's `created` seconds, [from, to) (openFrom,
// openTo when the filter has no period). From is rounded down and To up, so no charge of the
// period is left out (the database side is selected to the nanosecond).
func createdBounds(f reconcile.Filter) (from, to int64) {
	if f.From.IsZero() {
		return openFrom, openTo
	}
	to = f.To.Unix()
	if f.To.After(time.Unix(to, 0)) {
		to++
	}
	return f.From.Unix(), to
}

// rangeQuery asks Stripe for [from, to), leaving out an open bound.
func rangeQuery(from, to int64) *stripe.RangeQueryParams {
	if from == openFrom && to == openTo {
		return nil
	}
	q := &stripe.RangeQueryParams{}
	if from != openFrom {
		q.GreaterThanOrEqual = from
	}
	if to != openTo {
		q.LesserThan = to
	}
	return q
}

// ListCharges streams the charges of a transfer group, or those created in a period, each with
// Stripe's fee (its balance transaction, expanded in the listing), its refunds and its dispute
// (read only for the charges that have any). The listing is split into ranges of creation time
// listed side by side (see split.go): fn is called once per charge, one call at a time, in no
// particular order.
func (c *Client) ListCharges(ctx context.Context, f reconcile.Filter, fn func(reconcile.Charge) error) error {
	from, to := createdBounds(f)
	floor := from
	if from == openFrom && !f.Since.IsZero() {
		floor = f.Since.Unix()
	}
	return listSplit(ctx, c.listWorkers, from, to, floor, func(ctx context.Context, from, to int64, visit visitFunc[reconcile.Charge]) error {
		after := ""
		for {
			p := &stripe.ChargeListParams{ListParams: listParams(ctx), CreatedRange: rangeQuery(from, to)}
			if f.TransferGroup != "" {
				p.TransferGroup = stripe.String(f.TransferGroup)
			}
			if after != "" {
				p.StartingAfter = stripe.String(after)
			}
			p.AddExpand("data.balance_transaction")
			it := c.api.Charges.List(p)
			again := false
			for !again && it.Next() {
				ch := it.Charge()
				handed, now, err := visit(ch.Created, func() (reconcile.Charge, error) { return c.chargeOf(ctx, ch) })
				if err != nil {
					return err
				}
				if handed {
					after = ch.ID
				}
				// Asked again only when the range shrank since this request: an object
				// outside what was asked for (stripe-mock's fixtures) is only skipped.
				from, again = now, now > from
			}
			if !again {
				if err := it.Err(); err != nil {
					return classify("list charges", err)
				}
				return nil
			}
		}
	}, fn)
}

// PaymentIntentCharges reads every charge of one PaymentIntent.
func (c *Client) PaymentIntentCharges(ctx context.Context, paymentIntentID string) ([]reconcile.Charge, error) {
	p := &stripe.ChargeListParams{ListParams: listParams(ctx), PaymentIntent: stripe.String(paymentIntentID)}
	p.AddExpand("data.balance_transaction")
	var out []reconcile.Charge
	it := c.api.Charges.List(p)
	for it.Next() {
		ch, err := c.chargeOf(ctx, it.Charge())
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	if err := it.Err(); err != nil {
		return nil, classify("list charges of payment intent", err)
	}
	return out, nil
}

// RetrieveCharge reads one charge with its fee, refunds and dispute.
func (c *Client) RetrieveCharge(ctx context.Context, id string) (reconcile.Charge, error) {
	p := &stripe.ChargeParams{Params: stripe.Params{Context: ctx}}
	p.AddExpand("balance_transaction")
	ch, err := c.api.Charges.Get(id, p)
	if err != nil {
		return reconcile.Charge{}, classify("retrieve charge", err)
	}
	return c.chargeOf(ctx, ch)
}

func (c *Client) chargeOf(ctx context.Context, ch *stripe.Charge) (reconcile.Charge, error) {
	out := reconcile.Charge{ID: ch.ID, PledgeID: ch.Metadata["pledge_id"], CampaignID: ch.TransferGroup,
		Amount: money.Money{Amount: ch.Amount, Currency: strings.ToUpper(string(ch.Currency))},
		Status: string(ch.Status), Refunded: ch.AmountRefunded, Created: time.Unix(ch.Created, 0).UTC()}
	if ch.PaymentIntent != nil {
		out.PaymentIntentID = ch.PaymentIntent.ID
	}
	if bt := ch.BalanceTransaction; bt != nil {
		out.Fee = bt.Fee
	}
	if ch.AmountRefunded > 0 {
		it := c.api.Refunds.List(&stripe.RefundListParams{ListParams: listParams(ctx), Charge: stripe.String(ch.ID)})
		for it.Next() {
			if rf := it.Refund(); rf.Status != stripe.RefundStatusFailed && rf.Status != stripe.RefundStatusCanceled {
				out.Refunds = append(out.Refunds, reconcile.Refund{ID: rf.ID, Amount: rf.Amount})
			}
		}
		if err := it.Err(); err != nil {
			return out, classify("list refunds", err)
		}
	}
	if ch.Disputed {
		it := c.api.Disputes.List(&stripe.DisputeListParams{ListParams: listParams(ctx), Charge: stripe.String(ch.ID)})
		for it.Next() {
			dp := it.Dispute()
			out.Dispute = &reconcile.Dispute{ID: dp.ID, Status: string(dp.Status), Amount: dp.Amount}
			for _, bt := range dp.BalanceTransactions {
				out.DisputeFee += bt.Fee
			}
		}
		if err := it.Err(); err != nil {
			return out, classify("list disputes", err)
		}
	}
	return out, nil
}

// ListTransfers streams the transfers of a transfer group, or those created in a period.
func (c *Client) ListTransfers(ctx context.Context, f reconcile.Filter, fn func(reconcile.Transfer) error) error {
	p := &stripe.TransferListParams{ListParams: listParams(ctx), CreatedRange: rangeQuery(createdBounds(f))}
	if f.TransferGroup != "" {
		p.TransferGroup = stripe.String(f.TransferGroup)
	}
	it := c.api.Transfers.List(p)
	for it.Next() {
		tr := it.Transfer()
		if err := fn(reconcile.Transfer{ID: tr.ID, PledgeID: tr.Metadata["pledge_id"], CampaignID: tr.TransferGroup,
			Amount: money.Money{Amount: tr.Amount, Currency: strings.ToUpper(string(tr.Currency))}, Reversed: tr.AmountReversed}); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return classify("list transfers", err)
	}
	return nil
}
