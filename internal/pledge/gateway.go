package pledge

import (
	"context"
	"time"

	"github.com/backstitch/backstitch/internal/money"
)

// Gateway is what pledging needs from the payment provider (Stripe). Every call that writes takes
// an idempotency key derived from what it does (pledge id, operation, attempt), so a request
// repeated after a crash or a timeout is the same request to Stripe, never a second charge.
type Gateway interface {
	CreateCustomer(ctx context.Context, r CustomerRequest) (string, error)
	CreateSetupIntent(ctx context.Context, r SetupRequest) (Intent, error)
	ConfirmSetupIntent(ctx context.Context, id, paymentMethod, key string) (Intent, error)
	// CancelSetupIntent and CancelPaymentIntent answer the intent as it is after: canceled, or
	// (too late to cancel) succeeded or processing, as Stripe has it.
	CancelSetupIntent(ctx context.Context, id, key string) (Intent, error)
	CreatePaymentIntent(ctx context.Context, r PaymentRequest) (Intent, error)
	ConfirmPaymentIntent(ctx context.Context, id, paymentMethod, key string) (Intent, error)
	CancelPaymentIntent(ctx context.Context, id, key string) (Intent, error)
	Refund(ctx context.Context, paymentIntentID string, amount int64, key string) error
	DetachPaymentMethod(ctx context.Context, paymentMethod, key string) error
	// PseudonymiseCustomer replaces an erased backer's name and email on their Stripe customer.
	PseudonymiseCustomer(ctx context.Context, customerID, name, email, key string) error
	PublishableKey() string

	// CreateCheckoutSession starts Stripe Checkout for a pledge: setup mode saves the card of an
	// all-or-nothing pledge, payment mode charges a flexible one.
	CreateCheckoutSession(ctx context.Context, r CheckoutRequest) (CheckoutSession, error)
	// ExpireCheckoutSession closes a session so it can no longer be paid; a session that is no
	// longer open is not an error: its status (complete, expired) is the answer.
	ExpireCheckoutSession(ctx context.Context, id, key string) (CheckoutSession, error)
	// CheckoutIntent is the SetupIntent or PaymentIntent a session confirmed, as it is now.
	CheckoutIntent(ctx context.Context, sessionID string) (Intent, error)

	CreateExpressAccount(ctx context.Context, email, userID, key string) (string, error)
	CreateAccountLink(ctx context.Context, accountID, refreshURL, returnURL string) (string, error)
	CreateTransfer(ctx context.Context, r TransferRequest) (string, error)
	// ChargeFee is Stripe's processing fee on a charge, from its balance transaction.
	ChargeFee(ctx context.Context, chargeID string) (int64, error)
	// FindPaymentIntents lists the PaymentIntents made for a pledge (customerID is the pledge's
	// own customer), so a charge whose idempotency key Stripe may have forgotten is looked up
	// rather than made again.
	FindPaymentIntents(ctx context.Context, customerID, pledgeID string) ([]Intent, error)
}

// TransferRequest pays a designer their share of one charge (separate charges and transfers):
// with source_transaction it draws on that charge's funds even while they are pending.
type TransferRequest struct {
	Amount            money.Money
	Destination       string
	SourceTransaction string
	TransferGroup     string
	PledgeID          string
	IdempotencyKey    string
}

// CustomerRequest creates the Stripe customer a saved card belongs to.
type CustomerRequest struct {
	Email, Name, PledgeID, CampaignID, IdempotencyKey string
}

// SetupRequest saves a card for charging later, off-session.
type SetupRequest struct {
	CustomerID, PledgeID, CampaignID, IdempotencyKey string
}

// PaymentRequest charges a pledge.
type PaymentRequest struct {
	Amount          money.Money
	CustomerID      string
	PaymentMethodID string
	// OffSession with Confirm charges a saved card without the backer present (deadline charges).
	OffSession, Confirm bool
	TransferGroup       string
	PledgeID            string
	CampaignID          string
	// Attempt numbers deadline charges; it travels in metadata so a late event about an older
	// attempt can be told apart from the current one.
	Attempt        int
	IdempotencyKey string
}

// CheckoutMode is what a Checkout Session does with the card.
type CheckoutMode string

const (
	CheckoutSetup   CheckoutMode = "setup"
	CheckoutPayment CheckoutMode = "payment"
)

// CheckoutRequest starts Stripe Checkout for a pledge.
type CheckoutRequest struct {
	Mode       CheckoutMode
	CustomerID string
	// Email prefills Checkout when there is no customer (payment mode).
	Email string
	// Amount and Item are what payment mode charges, and for what.
	Amount        money.Money
	Item          string
	TransferGroup string
	// SuccessURL may carry {CHECKOUT_SESSION_ID}, which Stripe fills in.
	SuccessURL, CancelURL string
	ExpiresAt             time.Time
	// Locale is Checkout's language ("fr", "en").
	Locale               string
	PledgeID, CampaignID string
	IdempotencyKey       string
}

// CheckoutSession is a Checkout Session as far as pledging cares.
type CheckoutSession struct {
	ID     string
	URL    string
	Status CheckoutStatus
	// SetupIntentID is setup mode's intent, which exists from the start.
	SetupIntentID string
}

// CheckoutStatus mirrors Stripe's Checkout Session statuses.
type CheckoutStatus string

const (
	CheckoutOpen     CheckoutStatus = "open"
	CheckoutComplete CheckoutStatus = "complete"
	CheckoutExpired  CheckoutStatus = "expired"
)

// IntentStatus mirrors Stripe's SetupIntent/PaymentIntent statuses.
type IntentStatus string

const (
	IntentRequiresPaymentMethod IntentStatus = "requires_payment_method"
	IntentRequiresConfirmation  IntentStatus = "requires_confirmation"
	IntentRequiresAction        IntentStatus = "requires_action"
	IntentProcessing            IntentStatus = "processing"
	IntentSucceeded             IntentStatus = "succeeded"
	IntentCanceled              IntentStatus = "canceled"
)

// Intent is a SetupIntent or PaymentIntent as far as pledging cares. A declined card is not an
// error but an Intent with a Failure: the backer can try another card.
type Intent struct {
	ID              string
	Status          IntentStatus
	ClientSecret    string
	PaymentMethodID string
	// ChargeID is the PaymentIntent's latest charge, once there is one.
	ChargeID string
	// Fee is Stripe's processing fee on ChargeID when the answer carried the charge's balance
	// transaction (a confirming request asks for it), nil when it has to be read (ChargeFee).
	Fee *int64
	// Attempt is the charge attempt the intent was made for (0 when not a deadline charge).
	Attempt int
	// Setup marks a SetupIntent: it saves a card and never takes money, so it can never
	// record a charge (a late or replayed setup event about a pledge in dunning changes nothing).
	Setup   bool
	Failure *Failure
}
