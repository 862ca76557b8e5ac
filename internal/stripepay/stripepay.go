// Package stripepay is the Stripe adapter: it turns pledging's gateway calls into stripe-go
// requests, each with our own idempotency key, and Stripe's answers and webhook events back into
// domain values. Apart from the offline Stripe double, no other package knows Stripe's types.
package stripepay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/metrics"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Client talks to Stripe (or to the offline double, through the same HTTP API).
type Client struct {
	api            *client.API
	publishableKey string
	webhookSecret  string
	writes         *pacer
	listWorkers    int
	metrics        *metrics.Metrics
}

var _ pledge.Gateway = (*Client)(nil)

// Options says which Stripe to talk to.
type Options struct {
	SecretKey      string
	PublishableKey string
	// BackendURL overrides api.stripe.com (offline mode points it at the in-process double).
	BackendURL string
	Timeout    time.Duration
	// WritesPerSecond paces write requests to stay under Stripe's rate limit (0: no pacing).
	WritesPerSecond int
	// ListWorkers is how many ranges of a large listing are listed side by side (0: 4). Each
	// is one request at a time, well under Stripe's read limit (100/s in live mode, 25/s in
	// test mode) at Stripe's page latencies.
	ListWorkers int
	// WebhookSecret verifies the webhooks Stripe sends (see ParseWebhook).
	WebhookSecret string
	// Metrics counts requests, errors and charges; nil counts nothing.
	Metrics *metrics.Metrics
}

// defaultListWorkers: on the 2-core machine the benchmark runs on, 4 ranges keep both the
// client and the double busy; against Stripe they divide a listing's latency by 4.
const defaultListWorkers = 4

// New builds a client. stripe-go retries connection errors, 409s and 503s itself, reusing the
// request's idempotency key, so a retry can never create a second object.
func New(o Options) *Client {
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: o.Timeout, Transport: countingTransport{next: http.DefaultTransport, m: o.Metrics}},
		MaxNetworkRetries: stripe.Int64(networkRetries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if o.BackendURL != "" {
		cfg.URL = stripe.String(o.BackendURL)
	}
	api := client.New(o.SecretKey, stripe.NewBackendsWithConfig(cfg))
	return &Client{api: api, publishableKey: o.PublishableKey, webhookSecret: o.WebhookSecret, writes: newPacer(o.WritesPerSecond),
		listWorkers: cmp.Or(o.ListWorkers, defaultListWorkers), metrics: o.Metrics}
}

// countingTransport counts every request sent to Stripe, stripe-go's own retries included, and
// those that failed, by resource: counted on the wire, whatever operation sent them.
type countingTransport struct {
	next http.RoundTripper
	m    *metrics.Metrics
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.m.StripeRequest(r.Method, stripeResource(r.URL.Path), status)
	return resp, err
}

// stripeResource names what a request is about by its first segment after /v1/
// ("/v1/payment_intents/pi_1/confirm" → "payment_intents"), never an id: label values must come
// from a small, fixed set.
func stripeResource(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "other"
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "other"
	}
	return name
}

// PublishableKey is the key browsers use with Stripe.js.
func (c *Client) PublishableKey() string { return c.publishableKey }

// params waits for a write slot (see pacer) and returns a write's parameters with our
// idempotency key. A context that ends while waiting fails the request itself right after.
func (c *Client) params(ctx context.Context, key string) stripe.Params {
	_ = c.writes.wait(ctx)
	p := stripe.Params{Context: ctx}
	if key != "" {
		p.SetIdempotencyKey(key)
	}
	return p
}

func metadata(pledgeID, campaignID string) map[string]string {
	return map[string]string{"pledge_id": pledgeID, "campaign_id": campaignID}
}

// CreateCustomer creates the customer a saved card belongs to.
func (c *Client) CreateCustomer(ctx context.Context, r pledge.CustomerRequest) (string, error) {
	p := &stripe.CustomerParams{Params: c.params(ctx, r.IdempotencyKey), Email: stripe.String(r.Email), Name: stripe.String(r.Name)}
	p.Metadata = metadata(r.PledgeID, r.CampaignID)
	cus, err := c.api.Customers.New(p)
	if err != nil {
		return "", classify("create customer", err)
	}
	return cus.ID, nil
}

// CreateSetupIntent saves a card for off-session charges at the deadline.
func (c *Client) CreateSetupIntent(ctx context.Context, r pledge.SetupRequest) (pledge.Intent, error) {
	p := &stripe.SetupIntentParams{
		Params:             c.params(ctx, r.IdempotencyKey),
		Customer:           stripe.String(r.CustomerID),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	p.Metadata = metadata(r.PledgeID, r.CampaignID)
	si, err := c.api.SetupIntents.New(p)
	if err != nil {
		return pledge.Intent{}, classify("create setup intent", err)
	}
	return setupIntent(si), nil
}

// ConfirmSetupIntent attaches a payment method (server-side confirmation).
func (c *Client) ConfirmSetupIntent(ctx context.Context, id, paymentMethod, key string) (pledge.Intent, error) {
	si, err := c.api.SetupIntents.Confirm(id, &stripe.SetupIntentConfirmParams{Params: c.params(ctx, key), PaymentMethod: stripe.String(paymentMethod)})
	if err != nil {
		if se, ok := errors.AsType[*stripe.Error](err); ok && se.Type == stripe.ErrorTypeCard {
			in := pledge.Intent{ID: id, Status: pledge.IntentRequiresPaymentMethod, Setup: true, Failure: failure(se)}
			if se.SetupIntent != nil {
				in = setupIntent(se.SetupIntent)
				in.Failure = failure(se)
			}
			return in, nil
		}
		return pledge.Intent{}, classify("confirm setup intent", err)
	}
	return setupIntent(si), nil
}

// CancelSetupIntent releases a setup that will never be used, and answers the intent as it is
// after: canceled, or (when it was too late to cancel) what the backer made of it meanwhile, read
// back from Stripe, so a card saved at the last moment is never thrown away unseen.
func (c *Client) CancelSetupIntent(ctx context.Context, id, key string) (pledge.Intent, error) {
	si, err := c.api.SetupIntents.Cancel(id, &stripe.SetupIntentCancelParams{Params: c.params(ctx, key)})
	if tooLate(err, stripe.ErrorCodeSetupIntentUnexpectedState) {
		si, err = c.api.SetupIntents.Get(id, &stripe.SetupIntentParams{Params: stripe.Params{Context: ctx}})
	}
	if err != nil {
		return pledge.Intent{}, classify("cancel setup intent", err)
	}
	return setupIntent(si), nil
}

// tooLate reports whether Stripe refused to cancel an intent because of its status (it succeeded
// or is processing).
func tooLate(err error, code stripe.ErrorCode) bool {
	se, ok := errors.AsType[*stripe.Error](err)
	return ok && se.Code == code
}

// CreatePaymentIntent creates (and with Confirm, attempts) a charge.
func (c *Client) CreatePaymentIntent(ctx context.Context, r pledge.PaymentRequest) (pledge.Intent, error) {
	p := &stripe.PaymentIntentParams{
		Params:             c.params(ctx, r.IdempotencyKey),
		Amount:             stripe.Int64(r.Amount.Amount),
		Currency:           stripe.String(strings.ToLower(r.Amount.Currency)),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	if r.CustomerID != "" {
		p.Customer = stripe.String(r.CustomerID)
	}
	if r.PaymentMethodID != "" {
		p.PaymentMethod = stripe.String(r.PaymentMethodID)
	}
	if r.TransferGroup != "" {
		p.TransferGroup = stripe.String(r.TransferGroup)
	}
	if r.Confirm {
		p.Confirm = stripe.Bool(true)
	}
	if r.OffSession {
		p.OffSession = stripe.Bool(true)
	}
	p.Metadata = metadata(r.PledgeID, r.CampaignID)
	if r.Attempt > 0 {
		p.Metadata["charge_attempt"] = strconv.Itoa(r.Attempt)
	}
	if r.Confirm {
		p.AddExpand(feeExpansion)
	}
	pi, err := c.api.PaymentIntents.New(p)
	if r.Confirm && isIdempotencyError(err) {
		// The key was first sent without the expansion (by a version of the service before it
		// asked for one, then resumed after a crash): Stripe replays only the same parameters,
		// so ask as it was asked; the fee is then read separately.
		p.Expand = nil
		pi, err = c.api.PaymentIntents.New(p)
	}
	return c.paymentResult("create payment intent", pi, err)
}

// feeExpansion asks a confirming request to answer with its charge's balance transaction, which
// holds Stripe's fee: recording a collected charge then needs no two further reads (the charge,
// then its balance transaction) for each charge settled. Stripe answers it once the charge
// succeeded; otherwise (processing, declined) the transaction is absent and the fee, when there is
// one, is read when the charge succeeds.
const feeExpansion = "latest_charge.balance_transaction"

// isIdempotencyError reports whether Stripe refused a request because its idempotency key was
// first used with other parameters.
func isIdempotencyError(err error) bool {
	se, ok := errors.AsType[*stripe.Error](err)
	return ok && se.Type == stripe.ErrorTypeIdempotency
}

// ConfirmPaymentIntent charges a payment method on-session.
func (c *Client) ConfirmPaymentIntent(ctx context.Context, id, paymentMethod, key string) (pledge.Intent, error) {
	p := &stripe.PaymentIntentConfirmParams{Params: c.params(ctx, key), PaymentMethod: stripe.String(paymentMethod)}
	p.AddExpand(feeExpansion)
	pi, err := c.api.PaymentIntents.Confirm(id, p)
	if isIdempotencyError(err) {
		p.Expand = nil // as in CreatePaymentIntent
		pi, err = c.api.PaymentIntents.Confirm(id, p)
	}
	return c.paymentResult("confirm payment intent", pi, err)
}

// CancelPaymentIntent abandons a charge that was never completed, and answers the intent as it
// is after: canceled, or (when it was too late to cancel) succeeded or processing, read back from
// Stripe, so money taken at the last moment is recorded rather than forgotten.
func (c *Client) CancelPaymentIntent(ctx context.Context, id, key string) (pledge.Intent, error) {
	pi, err := c.api.PaymentIntents.Cancel(id, &stripe.PaymentIntentCancelParams{Params: c.params(ctx, key)})
	if tooLate(err, stripe.ErrorCodePaymentIntentUnexpectedState) {
		pi, err = c.api.PaymentIntents.Get(id, &stripe.PaymentIntentParams{Params: stripe.Params{Context: ctx}})
	}
	if err != nil {
		return pledge.Intent{}, classify("cancel payment intent", err)
	}
	return paymentIntent(pi), nil
}

// Refund returns money of a succeeded payment intent (amount 0 means all of it).
func (c *Client) Refund(ctx context.Context, paymentIntentID string, amount int64, key string) error {
	p := &stripe.RefundParams{Params: c.params(ctx, key), PaymentIntent: stripe.String(paymentIntentID)}
	if amount > 0 {
		p.Amount = stripe.Int64(amount)
	}
	if _, err := c.api.Refunds.New(p); err != nil {
		return classify("refund", err)
	}
	return nil
}

// DetachPaymentMethod releases a saved card that will never be charged (a failed campaign).
func (c *Client) DetachPaymentMethod(ctx context.Context, paymentMethod, key string) error {
	if _, err := c.api.PaymentMethods.Detach(paymentMethod, &stripe.PaymentMethodDetachParams{Params: c.params(ctx, key)}); err != nil {
		return classify("detach payment method", err)
	}
	return nil
}

// PseudonymiseCustomer overwrites an erased backer's name and email on their customer; the
// customer and its charges stay, with their pledge and campaign ids, for reconciliation.
func (c *Client) PseudonymiseCustomer(ctx context.Context, customerID, name, email, key string) error {
	p := &stripe.CustomerParams{Params: c.params(ctx, key), Name: stripe.String(name), Email: stripe.String(email)}
	if _, err := c.api.Customers.Update(customerID, p); err != nil {
		return classify("pseudonymise customer", err)
	}
	return nil
}

// CreateExpressAccount creates a designer's Connect Express account.
func (c *Client) CreateExpressAccount(ctx context.Context, email, userID, key string) (string, error) {
	p := &stripe.AccountParams{Params: c.params(ctx, key), Type: stripe.String(string(stripe.AccountTypeExpress)), Email: stripe.String(email),
		Capabilities: &stripe.AccountCapabilitiesParams{Transfers: &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)}}}
	p.Metadata = map[string]string{"user_id": userID}
	acct, err := c.api.Accounts.New(p)
	if err != nil {
		return "", classify("create connected account", err)
	}
	return acct.ID, nil
}

// CreateAccountLink makes a one-time onboarding link for a connected account.
func (c *Client) CreateAccountLink(ctx context.Context, accountID, refreshURL, returnURL string) (string, error) {
	link, err := c.api.AccountLinks.New(&stripe.AccountLinkParams{Params: c.params(ctx, ""), Account: stripe.String(accountID),
		RefreshURL: stripe.String(refreshURL), ReturnURL: stripe.String(returnURL), Type: stripe.String("account_onboarding")})
	if err != nil {
		return "", classify("create account link", err)
	}
	return link.URL, nil
}

// ConnectedAccount reads where a connected account's onboarding stands now, as account.updated
// tells it (webhook.go); the caller stamps when it asked.
func (c *Client) ConnectedAccount(ctx context.Context, accountID string) (account.Payouts, error) {
	acct, err := c.api.Accounts.GetByID(accountID, &stripe.AccountParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return account.Payouts{}, classify("retrieve connected account", err)
	}
	return payoutsOf(acct), nil
}

// payoutsOf is where acct's onboarding stands, the same from a read and from an event. Payouts
// count as enabled only when Stripe lets the platform transfer to acct.
func payoutsOf(acct *stripe.Account) account.Payouts {
	p := account.Payouts{Started: true, DetailsSubmitted: acct.DetailsSubmitted, ChargesEnabled: acct.ChargesEnabled,
		Enabled: acct.PayoutsEnabled && acct.Capabilities != nil && acct.Capabilities.Transfers == stripe.AccountCapabilityStatusActive}
	if r := acct.Requirements; r != nil {
		p.CurrentlyDue, p.DisabledReason = r.CurrentlyDue, string(r.DisabledReason)
	}
	return p
}

// CreateTransfer pays a designer their share of one charge.
func (c *Client) CreateTransfer(ctx context.Context, r pledge.TransferRequest) (string, error) {
	p := &stripe.TransferParams{Params: c.params(ctx, r.IdempotencyKey), Amount: stripe.Int64(r.Amount.Amount),
		Currency: stripe.String(strings.ToLower(r.Amount.Currency)), Destination: stripe.String(r.Destination),
		SourceTransaction: stripe.String(r.SourceTransaction), TransferGroup: stripe.String(r.TransferGroup)}
	p.Metadata = map[string]string{"pledge_id": r.PledgeID, "campaign_id": r.TransferGroup}
	tr, err := c.api.Transfers.New(p)
	if err != nil {
		return "", classify("create transfer", err)
	}
	return tr.ID, nil
}

// ChargeFee reads Stripe's fee on a charge from its balance transaction.
func (c *Client) ChargeFee(ctx context.Context, chargeID string) (int64, error) {
	ch, err := c.api.Charges.Get(chargeID, &stripe.ChargeParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return 0, classify("retrieve charge", err)
	}
	if ch.BalanceTransaction == nil || ch.BalanceTransaction.ID == "" {
		return 0, fmt.Errorf("stripe charge %s has no balance transaction yet", chargeID)
	}
	bt, err := c.api.BalanceTransactions.Get(ch.BalanceTransaction.ID, &stripe.BalanceTransactionParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return 0, classify("retrieve balance transaction", err)
	}
	return bt.Fee, nil
}

// FindPaymentIntents lists a customer's PaymentIntents made for one pledge (by its metadata).
// Each all-or-nothing pledge has a customer of its own, so the listing is short.
func (c *Client) FindPaymentIntents(ctx context.Context, customerID, pledgeID string) ([]pledge.Intent, error) {
	p := &stripe.PaymentIntentListParams{Customer: stripe.String(customerID)}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	var out []pledge.Intent
	it := c.api.PaymentIntents.List(p)
	for it.Next() {
		if pi := it.PaymentIntent(); pi.Metadata["pledge_id"] == pledgeID {
			out = append(out, paymentIntent(pi))
		}
	}
	if err := it.Err(); err != nil {
		return nil, classify("list payment intents", err)
	}
	return out, nil
}

// paymentResult turns a PaymentIntent call's answer into an Intent, and counts the charge's
// outcome: its status, "declined", or "error" when Stripe could not be asked or refused.
func (c *Client) paymentResult(op string, pi *stripe.PaymentIntent, err error) (pledge.Intent, error) {
	if err != nil {
		if se, ok := errors.AsType[*stripe.Error](err); ok && se.Type == stripe.ErrorTypeCard {
			c.metrics.Charge("declined")
			in := pledge.Intent{Status: pledge.IntentRequiresPaymentMethod, Failure: failure(se)}
			if se.PaymentIntent != nil {
				in = paymentIntent(se.PaymentIntent)
				in.Failure = failure(se)
			}
			return in, nil
		}
		c.metrics.Charge("error")
		return pledge.Intent{}, classify(op, err)
	}
	c.metrics.Charge(string(pi.Status))
	return paymentIntent(pi), nil
}

func setupIntent(si *stripe.SetupIntent) pledge.Intent {
	in := pledge.Intent{ID: si.ID, Status: pledge.IntentStatus(si.Status), ClientSecret: si.ClientSecret, Setup: true}
	if si.PaymentMethod != nil {
		in.PaymentMethodID = si.PaymentMethod.ID
	}
	if e := si.LastSetupError; e != nil && in.Status == pledge.IntentRequiresPaymentMethod {
		in.Failure = &pledge.Failure{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
	}
	return in
}

func paymentIntent(pi *stripe.PaymentIntent) pledge.Intent {
	in := pledge.Intent{ID: pi.ID, Status: pledge.IntentStatus(pi.Status), ClientSecret: pi.ClientSecret}
	if pi.PaymentMethod != nil {
		in.PaymentMethodID = pi.PaymentMethod.ID
	}
	if pi.LatestCharge != nil {
		in.ChargeID = pi.LatestCharge.ID
		// Only an expanded transaction has its object named; an id alone has no fee in it.
		if bt := pi.LatestCharge.BalanceTransaction; bt != nil && bt.Object == "balance_transaction" {
			in.Fee = &bt.Fee
		}
	}
	in.Attempt, _ = strconv.Atoi(pi.Metadata["charge_attempt"])
	if e := pi.LastPaymentError; e != nil && in.Status == pledge.IntentRequiresPaymentMethod {
		in.Failure = &pledge.Failure{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
	}
	return in
}

func failure(se *stripe.Error) *pledge.Failure {
	return &pledge.Failure{Code: string(se.Code), DeclineCode: string(se.DeclineCode), Message: se.Msg}
}

// classify wraps a Stripe error with the operation. An invalid request is Stripe refusing what
// was asked (an amount above what a charge has left, an object it no longer has): the client gets
// a 4xx that carries Stripe's code, never a 500. Everything else (rate limits, outages, timeouts)
// is the provider being unavailable, which the client may retry with the same Idempotency-Key.
func classify(op string, err error) error {
	if se, ok := errors.AsType[*stripe.Error](err); ok && se.Type == stripe.ErrorTypeInvalidRequest && se.HTTPStatusCode != http.StatusTooManyRequests {
		e := &backstitch.Error{Code: backstitch.CodeProviderRejected, ProviderCode: string(se.Code),
			Message: fmt.Sprintf("Stripe refused the request: %s", se.Msg)}
		if se.Code == stripe.ErrorCodeResourceMissing {
			e.Code = backstitch.CodeProviderObjectMissing
			e.Message = fmt.Sprintf("Stripe no longer has an object this request needs (%s). In offline mode the Stripe "+
				"double forgets everything when the service restarts, so a pledge started before that cannot be "+
				"completed: cancel it with its manage link and pledge again.", se.Msg)
		}
		return fmt.Errorf("stripe %s: %w (%w)", op, e, err)
	}
	return fmt.Errorf("stripe %s: %w (%w)", op, &backstitch.Error{Code: backstitch.CodePaymentProvider,
		Message: "The payment provider did not answer. Please retry with the same Idempotency-Key."}, err)
}

// CreateCheckoutSession starts Stripe Checkout for a pledge. The pledge id travels in the
// session's metadata and in its intent's, so every event about it finds the pledge.
func (c *Client) CreateCheckoutSession(ctx context.Context, r pledge.CheckoutRequest) (pledge.CheckoutSession, error) {
	p := &stripe.CheckoutSessionParams{
		Params:             c.params(ctx, r.IdempotencyKey),
		Mode:               stripe.String(string(r.Mode)),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		SuccessURL:         stripe.String(r.SuccessURL),
		CancelURL:          stripe.String(r.CancelURL),
		ClientReferenceID:  stripe.String(r.PledgeID),
		ExpiresAt:          stripe.Int64(r.ExpiresAt.Unix()),
	}
	if r.Locale != "" {
		p.Locale = stripe.String(r.Locale)
	}
	if r.CustomerID != "" {
		p.Customer = stripe.String(r.CustomerID)
	} else if r.Email != "" {
		p.CustomerEmail = stripe.String(r.Email)
	}
	md := metadata(r.PledgeID, r.CampaignID)
	p.Metadata = md
	if r.Mode == pledge.CheckoutSetup {
		p.SetupIntentData = &stripe.CheckoutSessionSetupIntentDataParams{Metadata: md}
	} else {
		p.LineItems = []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(strings.ToLower(r.Amount.Currency)),
				UnitAmount:  stripe.Int64(r.Amount.Amount),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(r.Item)},
			},
		}}
		p.PaymentIntentData = &stripe.CheckoutSessionPaymentIntentDataParams{Metadata: md}
		if r.TransferGroup != "" {
			p.PaymentIntentData.TransferGroup = stripe.String(r.TransferGroup)
		}
	}
	cs, err := c.api.CheckoutSessions.New(p)
	if err != nil {
		return pledge.CheckoutSession{}, classify("create checkout session", err)
	}
	return checkoutSession(cs), nil
}

// ExpireCheckoutSession closes a session; one that is no longer open answers its status.
func (c *Client) ExpireCheckoutSession(ctx context.Context, id, key string) (pledge.CheckoutSession, error) {
	cs, err := c.api.CheckoutSessions.Expire(id, &stripe.CheckoutSessionExpireParams{Params: c.params(ctx, key)})
	if err == nil {
		return checkoutSession(cs), nil
	}
	if se, ok := errors.AsType[*stripe.Error](err); !ok || se.Type != stripe.ErrorTypeInvalidRequest || se.Code == stripe.ErrorCodeResourceMissing {
		return pledge.CheckoutSession{}, classify("expire checkout session", err)
	}
	// Stripe refuses to expire a session that is not open: what it is now is the answer.
	cs, gerr := c.api.CheckoutSessions.Get(id, &stripe.CheckoutSessionParams{Params: stripe.Params{Context: ctx}})
	if gerr != nil {
		return pledge.CheckoutSession{}, classify("retrieve checkout session", gerr)
	}
	return checkoutSession(cs), nil
}

// CheckoutIntent reads a session with its intent expanded, in one request.
func (c *Client) CheckoutIntent(ctx context.Context, sessionID string) (pledge.Intent, error) {
	p := &stripe.CheckoutSessionParams{Params: stripe.Params{Context: ctx}}
	p.AddExpand("setup_intent")
	p.AddExpand("payment_intent")
	cs, err := c.api.CheckoutSessions.Get(sessionID, p)
	if err != nil {
		return pledge.Intent{}, classify("retrieve checkout session", err)
	}
	switch {
	case cs.SetupIntent != nil && cs.SetupIntent.Status != "":
		in := setupIntent(cs.SetupIntent)
		in.ClientSecret = ""
		return in, nil
	case cs.PaymentIntent != nil && cs.PaymentIntent.Status != "":
		in := paymentIntent(cs.PaymentIntent)
		in.ClientSecret = ""
		return in, nil
	}
	// Payment mode before any card was tried: nothing has happened yet.
	return pledge.Intent{Status: pledge.IntentRequiresPaymentMethod}, nil
}

func checkoutSession(cs *stripe.CheckoutSession) pledge.CheckoutSession {
	out := pledge.CheckoutSession{ID: cs.ID, URL: cs.URL, Status: pledge.CheckoutStatus(cs.Status)}
	if cs.SetupIntent != nil {
		out.SetupIntentID = cs.SetupIntent.ID
	}
	return out
}
