package stripedouble

import "encoding/json"

// nstr is an optional string or id that Stripe renders as null when unset.
type nstr string

func (s nstr) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// object is anything the double stores under a Stripe id.
type object interface {
	objectID() string
	// kind is the object's Stripe "object" name, e.g. "payment_intent".
	kind() string
	createdAt() int64
}

type customer struct {
	ID              string            `json:"id"`
	Object          string            `json:"object"`
	Balance         int64             `json:"balance"`
	Created         int64             `json:"created"`
	Delinquent      bool              `json:"delinquent"`
	Description     nstr              `json:"description"`
	Email           nstr              `json:"email"`
	InvoiceSettings invoiceSettings   `json:"invoice_settings"`
	Livemode        bool              `json:"livemode"`
	Metadata        map[string]string `json:"metadata"`
	Name            nstr              `json:"name"`
	Phone           nstr              `json:"phone"`
}

type invoiceSettings struct {
	DefaultPaymentMethod nstr `json:"default_payment_method"`
}

type paymentMethod struct {
	ID             string            `json:"id"`
	Object         string            `json:"object"`
	BillingDetails billingDetails    `json:"billing_details"`
	Card           cardDetails       `json:"card"`
	Created        int64             `json:"created"`
	Customer       nstr              `json:"customer"`
	Livemode       bool              `json:"livemode"`
	Metadata       map[string]string `json:"metadata"`
	Type           string            `json:"type"`

	behavior card
	// setUp records a successful off-session SetupIntent, which exempts
	// cards that only require authentication until set up.
	setUp bool
}

type billingDetails struct {
	Address address `json:"address"`
	Email   nstr    `json:"email"`
	Name    nstr    `json:"name"`
	Phone   nstr    `json:"phone"`
}

type address struct {
	City       nstr `json:"city"`
	Country    nstr `json:"country"`
	Line1      nstr `json:"line1"`
	Line2      nstr `json:"line2"`
	PostalCode nstr `json:"postal_code"`
	State      nstr `json:"state"`
}

type cardDetails struct {
	Brand       string `json:"brand"`
	Country     string `json:"country"`
	ExpMonth    int64  `json:"exp_month"`
	ExpYear     int64  `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
	Funding     string `json:"funding"`
	Last4       string `json:"last4"`
}

type nextAction struct {
	Type         string         `json:"type"`
	UseStripeSDK map[string]any `json:"use_stripe_sdk"`
}

// stripeError is both the body of an API error and the last_payment_error /
// last_setup_error of an intent, as in Stripe.
type stripeError struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Message       string         `json:"message"`
	Param         string         `json:"param,omitempty"`
	DocURL        string         `json:"doc_url,omitempty"`
	Charge        string         `json:"charge,omitempty"`
	PaymentIntent *paymentIntent `json:"payment_intent,omitempty"`
	SetupIntent   *setupIntent   `json:"setup_intent,omitempty"`
	PaymentMethod *paymentMethod `json:"payment_method,omitempty"`
}

type automaticPaymentMethods struct {
	Enabled bool `json:"enabled"`
}

type setupIntent struct {
	ID                      string                   `json:"id"`
	Object                  string                   `json:"object"`
	AutomaticPaymentMethods *automaticPaymentMethods `json:"automatic_payment_methods"`
	CancellationReason      nstr                     `json:"cancellation_reason"`
	ClientSecret            string                   `json:"client_secret"`
	Created                 int64                    `json:"created"`
	Customer                nstr                     `json:"customer"`
	Description             nstr                     `json:"description"`
	LastSetupError          *stripeError             `json:"last_setup_error"`
	LatestAttempt           nstr                     `json:"latest_attempt"`
	Livemode                bool                     `json:"livemode"`
	Metadata                map[string]string        `json:"metadata"`
	NextAction              *nextAction              `json:"next_action"`
	PaymentMethod           nstr                     `json:"payment_method"`
	PaymentMethodTypes      []string                 `json:"payment_method_types"`
	Status                  string                   `json:"status"`
	Usage                   string                   `json:"usage"`
}

type paymentIntent struct {
	ID                      string                   `json:"id"`
	Object                  string                   `json:"object"`
	Amount                  int64                    `json:"amount"`
	AmountCapturable        int64                    `json:"amount_capturable"`
	AmountReceived          int64                    `json:"amount_received"`
	AutomaticPaymentMethods *automaticPaymentMethods `json:"automatic_payment_methods"`
	CanceledAt              *int64                   `json:"canceled_at"`
	CancellationReason      nstr                     `json:"cancellation_reason"`
	CaptureMethod           string                   `json:"capture_method"`
	ClientSecret            string                   `json:"client_secret"`
	ConfirmationMethod      string                   `json:"confirmation_method"`
	Created                 int64                    `json:"created"`
	Currency                string                   `json:"currency"`
	Customer                nstr                     `json:"customer"`
	Description             nstr                     `json:"description"`
	LastPaymentError        *stripeError             `json:"last_payment_error"`
	LatestCharge            nstr                     `json:"latest_charge"`
	Livemode                bool                     `json:"livemode"`
	Metadata                map[string]string        `json:"metadata"`
	NextAction              *nextAction              `json:"next_action"`
	PaymentMethod           nstr                     `json:"payment_method"`
	PaymentMethodTypes      []string                 `json:"payment_method_types"`
	SetupFutureUsage        nstr                     `json:"setup_future_usage"`
	Status                  string                   `json:"status"`
	TransferGroup           nstr                     `json:"transfer_group"`
}

type charge struct {
	ID                   string               `json:"id"`
	Object               string               `json:"object"`
	Amount               int64                `json:"amount"`
	AmountCaptured       int64                `json:"amount_captured"`
	AmountRefunded       int64                `json:"amount_refunded"`
	BalanceTransaction   nstr                 `json:"balance_transaction"`
	Captured             bool                 `json:"captured"`
	Created              int64                `json:"created"`
	Currency             string               `json:"currency"`
	Customer             nstr                 `json:"customer"`
	Description          nstr                 `json:"description"`
	Disputed             bool                 `json:"disputed"`
	FailureCode          nstr                 `json:"failure_code"`
	FailureMessage       nstr                 `json:"failure_message"`
	Livemode             bool                 `json:"livemode"`
	Metadata             map[string]string    `json:"metadata"`
	Outcome              outcome              `json:"outcome"`
	Paid                 bool                 `json:"paid"`
	PaymentIntent        nstr                 `json:"payment_intent"`
	PaymentMethod        nstr                 `json:"payment_method"`
	PaymentMethodDetails paymentMethodDetails `json:"payment_method_details"`
	Refunded             bool                 `json:"refunded"`
	Status               string               `json:"status"`
	TransferGroup        nstr                 `json:"transfer_group"`
}

type outcome struct {
	NetworkStatus string `json:"network_status"`
	Reason        nstr   `json:"reason"`
	RiskLevel     string `json:"risk_level"`
	SellerMessage string `json:"seller_message"`
	Type          string `json:"type"`
}

type paymentMethodDetails struct {
	Card cardDetails `json:"card"`
	Type string      `json:"type"`
}

type feeDetail struct {
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Description string `json:"description"`
	Type        string `json:"type"`
}

type balanceTransaction struct {
	ID                string      `json:"id"`
	Object            string      `json:"object"`
	Amount            int64       `json:"amount"`
	AvailableOn       int64       `json:"available_on"`
	Created           int64       `json:"created"`
	Currency          string      `json:"currency"`
	Description       nstr        `json:"description"`
	Fee               int64       `json:"fee"`
	FeeDetails        []feeDetail `json:"fee_details"`
	Net               int64       `json:"net"`
	ReportingCategory string      `json:"reporting_category"`
	Source            string      `json:"source"`
	Status            string      `json:"status"`
	Type              string      `json:"type"`
}

type refund struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	BalanceTransaction nstr              `json:"balance_transaction"`
	Charge             string            `json:"charge"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Metadata           map[string]string `json:"metadata"`
	PaymentIntent      nstr              `json:"payment_intent"`
	Reason             nstr              `json:"reason"`
	Status             string            `json:"status"`
}

type dispute struct {
	ID                  string                `json:"id"`
	Object              string                `json:"object"`
	Amount              int64                 `json:"amount"`
	BalanceTransactions []*balanceTransaction `json:"balance_transactions"`
	Charge              string                `json:"charge"`
	Created             int64                 `json:"created"`
	Currency            string                `json:"currency"`
	IsChargeRefundable  bool                  `json:"is_charge_refundable"`
	Livemode            bool                  `json:"livemode"`
	Metadata            map[string]string     `json:"metadata"`
	PaymentIntent       nstr                  `json:"payment_intent"`
	Reason              string                `json:"reason"`
	Status              string                `json:"status"`
}

type transfer struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	AmountReversed     int64             `json:"amount_reversed"`
	BalanceTransaction string            `json:"balance_transaction"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Description        nstr              `json:"description"`
	Destination        string            `json:"destination"`
	Livemode           bool              `json:"livemode"`
	Metadata           map[string]string `json:"metadata"`
	Reversals          reversalList      `json:"reversals"`
	Reversed           bool              `json:"reversed"`
	SourceTransaction  nstr              `json:"source_transaction"`
	SourceType         string            `json:"source_type"`
	TransferGroup      nstr              `json:"transfer_group"`
}

type reversalList struct {
	Object     string              `json:"object"`
	Data       []*transferReversal `json:"data"`
	HasMore    bool                `json:"has_more"`
	TotalCount int                 `json:"total_count"`
	URL        string              `json:"url"`
}

type transferReversal struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	BalanceTransaction string            `json:"balance_transaction"`
	Created            int64             `json:"created"`
	Currency           string            `json:"currency"`
	Metadata           map[string]string `json:"metadata"`
	Transfer           string            `json:"transfer"`
}

type account struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	BusinessType     nstr              `json:"business_type"`
	Capabilities     map[string]string `json:"capabilities"`
	ChargesEnabled   bool              `json:"charges_enabled"`
	Country          string            `json:"country"`
	Created          int64             `json:"created"`
	DefaultCurrency  string            `json:"default_currency"`
	DetailsSubmitted bool              `json:"details_submitted"`
	Email            nstr              `json:"email"`
	Metadata         map[string]string `json:"metadata"`
	PayoutsEnabled   bool              `json:"payouts_enabled"`
	Requirements     requirements      `json:"requirements"`
	Type             string            `json:"type"`
}

type requirements struct {
	CurrentlyDue        []string `json:"currently_due"`
	DisabledReason      nstr     `json:"disabled_reason"`
	EventuallyDue       []string `json:"eventually_due"`
	PastDue             []string `json:"past_due"`
	PendingVerification []string `json:"pending_verification"`
}

type event struct {
	ID              string       `json:"id"`
	Object          string       `json:"object"`
	APIVersion      string       `json:"api_version"`
	Created         int64        `json:"created"`
	Data            eventData    `json:"data"`
	Livemode        bool         `json:"livemode"`
	PendingWebhooks int          `json:"pending_webhooks"`
	Request         eventRequest `json:"request"`
	Type            string       `json:"type"`
}

type eventData struct {
	Object             json.RawMessage `json:"object"`
	PreviousAttributes map[string]any  `json:"previous_attributes,omitempty"`
}

type eventRequest struct {
	ID             nstr `json:"id"`
	IdempotencyKey nstr `json:"idempotency_key"`
}

func (o *customer) objectID() string           { return o.ID }
func (o *customer) kind() string               { return o.Object }
func (o *customer) createdAt() int64           { return o.Created }
func (o *paymentMethod) objectID() string      { return o.ID }
func (o *paymentMethod) kind() string          { return o.Object }
func (o *paymentMethod) createdAt() int64      { return o.Created }
func (o *setupIntent) objectID() string        { return o.ID }
func (o *setupIntent) kind() string            { return o.Object }
func (o *setupIntent) createdAt() int64        { return o.Created }
func (o *paymentIntent) objectID() string      { return o.ID }
func (o *paymentIntent) kind() string          { return o.Object }
func (o *paymentIntent) createdAt() int64      { return o.Created }
func (o *charge) objectID() string             { return o.ID }
func (o *charge) kind() string                 { return o.Object }
func (o *charge) createdAt() int64             { return o.Created }
func (o *balanceTransaction) objectID() string { return o.ID }
func (o *balanceTransaction) kind() string     { return o.Object }
func (o *balanceTransaction) createdAt() int64 { return o.Created }
func (o *refund) objectID() string             { return o.ID }
func (o *refund) kind() string                 { return o.Object }
func (o *refund) createdAt() int64             { return o.Created }
func (o *dispute) objectID() string            { return o.ID }
func (o *dispute) kind() string                { return o.Object }
func (o *dispute) createdAt() int64            { return o.Created }
func (o *transfer) objectID() string           { return o.ID }
func (o *transfer) kind() string               { return o.Object }
func (o *transfer) createdAt() int64           { return o.Created }
func (o *transferReversal) objectID() string   { return o.ID }
func (o *transferReversal) kind() string       { return o.Object }
func (o *transferReversal) createdAt() int64   { return o.Created }
func (o *account) objectID() string            { return o.ID }
func (o *account) kind() string                { return o.Object }
func (o *account) createdAt() int64            { return o.Created }
func (o *event) objectID() string              { return o.ID }
func (o *event) kind() string                  { return o.Object }
func (o *event) createdAt() int64              { return o.Created }
