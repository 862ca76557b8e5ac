package stripepay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/form"

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
			again := false
			err := c.listCharges(p, func(ch *chargeFields) (bool, error) {
				handed, now, err := visit(ch.Created, func() (reconcile.Charge, error) { return c.chargeOf(ctx, ch) })
				if err != nil {
					return false, err
				}
				if handed {
					after = ch.ID
				}
				// Asked again only when the range shrank since this request: an object
				// outside what was asked for (stripe-mock's fixtures) is only skipped.
				from, again = now, now > from
				return !again, nil
			})
			if err != nil || !again {
				return err
			}
		}
	}, fn)
}

// PaymentIntentCharges reads every charge of one PaymentIntent.
func (c *Client) PaymentIntentCharges(ctx context.Context, paymentIntentID string) ([]reconcile.Charge, error) {
	p := &stripe.ChargeListParams{ListParams: listParams(ctx), PaymentIntent: stripe.String(paymentIntentID)}
	var out []reconcile.Charge
	err := c.listCharges(p, func(ch *chargeFields) (bool, error) {
		rc, err := c.chargeOf(ctx, ch)
		out = append(out, rc)
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RetrieveCharge reads one charge with its fee, refunds and dispute.
func (c *Client) RetrieveCharge(ctx context.Context, id string) (reconcile.Charge, error) {
	p := &stripe.ChargeParams{Params: stripe.Params{Context: ctx}}
	p.AddExpand("balance_transaction")
	var ch struct {
		stripe.APIResource
		chargeFields
	}
	if err := c.api.Charges.B.Call(http.MethodGet, stripe.FormatURLPath("/v1/charges/%s", id), c.api.Charges.Key, p, &ch); err != nil {
		return reconcile.Charge{}, classify("retrieve charge", err)
	}
	return c.chargeOf(ctx, &ch.chargeFields)
}

// chargeFields is the part of a Stripe charge that reconciliation compares. Charges are decoded
// into it rather than into stripe.Charge, whose hundreds of fields, nested objects and decoders
// of their own made decoding the listing's pages about half of a large run's CPU time (100,000
// charges: ~7.5 s of the service's ~15 s). The requests are stripe-go's own (its Backend, with
// its retries and telemetry); only the decoding of the answers is ours.
type chargeFields struct {
	ID             string `json:"id"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`
	Created        int64  `json:"created"`
	Disputed       bool   `json:"disputed"`
	TransferGroup  string `json:"transfer_group"`
	// A map, as in stripe.Charge: a struct field would also take "PLEDGE_ID" (encoding/json
	// matches field names regardless of case), which is not the key Backstitch writes.
	Metadata           map[string]string `json:"metadata"`
	PaymentIntent      expandable        `json:"payment_intent"`
	BalanceTransaction expandable        `json:"balance_transaction"`
}

// expandable is a field that Stripe answers with an id, or with the object when it is expanded
// (of which only the fee of a balance transaction is read), or null.
type expandable struct {
	ID  string
	Fee int64
}

func (e *expandable) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.ID)
	}
	var o struct {
		ID  string `json:"id"`
		Fee int64  `json:"fee"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	e.ID, e.Fee = o.ID, o.Fee
	return nil
}

// chargePage is one page of a charge listing (see decodeChargePage).
type chargePage struct {
	HasMore bool           `json:"has_more"`
	Data    []chargeFields `json:"data"`
}

// streamedBody keeps the body of a response that stripe-go hands over unread.
type streamedBody struct{ body io.ReadCloser }

func (s *streamedBody) SetLastResponse(r *stripe.StreamingAPIResponse) { s.body = r.Body }

// callStreaming is CallStreaming of a GET, safe from a fault of stripe-go v76: its DoStreaming
// reads the body of the response of a request that got none (a refused or reset connection, a
// timeout, a cancelled context), a nil-pointer panic that would end the whole process, and one
// that comes before stripe-go's retry of network errors. That panic, and only it, is turned
// into errNoAnswer here, and the request is retried as stripe-go retries network errors
// (networkRetries more times, waiting a little longer each time) unless ctx is done.
func (c *Client) callStreaming(ctx context.Context, path string, q *listQuery, res *streamedBody) error {
	for attempt := 0; ; attempt++ {
		err := c.tryStreaming(path, q, res)
		if !errors.Is(err, errNoAnswer) || attempt >= networkRetries {
			return err
		}
		if ctx == nil {
			ctx = context.Background()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
		}
	}
}

// networkRetries is how many more times a request that got no answer is sent, by stripe-go
// (MaxNetworkRetries, see New) and by callStreaming.
const networkRetries = 2

// errNoAnswer is a listing's request that got no answer from Stripe.
var errNoAnswer = errors.New("no answer from Stripe")

func (c *Client) tryStreaming(path string, q *listQuery, res *streamedBody) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(runtime.Error); !ok || !strings.Contains(re.Error(), "nil pointer dereference") {
				panic(r)
			}
			err = errNoAnswer
		}
	}()
	return c.api.Charges.B.CallStreaming(http.MethodGet, path, c.api.Charges.Key, q, res)
}

// listQuery hands a listing's parameters to CallStreaming, which (stripe-go v76) looks up fields
// named Metadata and Expand on what it is given and panics on list parameters, which have
// neither: the parameters are encoded beforehand and appended by Query.
type listQuery struct {
	Metadata map[string]string `form:"-"`
	Expand   []*string         `form:"-"`
	Query    encodedQuery      `form:"*"`
	params   *stripe.Params    `form:"-"`
}

func (q *listQuery) GetParams() *stripe.Params { return q.params }

func newListQuery(p stripe.ParamsContainer) *listQuery {
	v := &form.Values{}
	form.AppendTo(v, p)
	return &listQuery{Query: encodedQuery{v}, params: p.GetParams()}
}

// encodedQuery is parameters already encoded by stripe-go's form package.
type encodedQuery struct {
	v *form.Values `form:"-"`
}

func (e encodedQuery) AppendTo(values *form.Values, _ []string) {
	q := e.v.ToValues()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		for _, v := range q[k] {
			values.Add(k, v)
		}
	}
}

// listCharges pages through a charge listing, each charge with its balance transaction
// expanded, as stripe-go's iterator does (starting_after the last charge of each page), until
// fn returns false or an error (returned as it is; Stripe's errors are classified). The
// requests are stripe-go's (retries, errors, telemetry); a page's body is read once and decoded
// in one pass (decodeChargePage).
func (c *Client) listCharges(p *stripe.ChargeListParams, fn func(*chargeFields) (bool, error)) error {
	p.AddExpand("data.balance_transaction")
	// One buffer for every page: io.ReadAll grew a new one for each (a page of 100 charges is
	// about 120 KB), a quarter of a large run's allocations, which the GC lets the heap grow by.
	// decodeChargePage copies out what it keeps.
	var body bytes.Buffer
	for {
		var res streamedBody
		if err := c.callStreaming(p.Context, "/v1/charges", newListQuery(p), &res); err != nil {
			return classify("list charges", err)
		}
		body.Reset()
		_, err := body.ReadFrom(res.body)
		res.body.Close()
		if err != nil {
			return classify("list charges", err)
		}
		page, err := decodeChargePage(body.Bytes())
		if err != nil {
			return classify("list charges", err)
		}
		for i := range page.Data {
			if more, err := fn(&page.Data[i]); err != nil || !more {
				return err
			}
		}
		if !page.HasMore || len(page.Data) == 0 {
			return nil
		}
		p.StartingAfter = stripe.String(page.Data[len(page.Data)-1].ID)
	}
}

func (c *Client) chargeOf(ctx context.Context, ch *chargeFields) (reconcile.Charge, error) {
	out := reconcile.Charge{ID: ch.ID, PledgeID: ch.Metadata["pledge_id"], CampaignID: ch.TransferGroup,
		Amount: money.Money{Amount: ch.Amount, Currency: strings.ToUpper(ch.Currency)}, PaymentIntentID: ch.PaymentIntent.ID,
		Status: ch.Status, Refunded: ch.AmountRefunded, Fee: ch.BalanceTransaction.Fee, Created: time.Unix(ch.Created, 0).UTC()}
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
