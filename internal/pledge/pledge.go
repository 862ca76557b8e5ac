// Package pledge holds the rules of backers' pledges: what a valid pledge is, how it moves between
// states, and what it asks of the payment gateway. All-or-nothing pledges save a card (nothing is
// charged until the deadline); flexible pledges are charged at once.
//
// Where each rule lives: every write of a pledge goes through transition (transition.go), which
// claims or releases the reward unit and moves the campaign's totals as the two states call for,
// so no other code touches those counters; counters.go heals them after a crash and checks them;
// keys.go derives every Stripe idempotency key from the pledge id and attempt; event.go applies
// Stripe's webhook events (mapped from Stripe's objects by the stripepay adapter).
package pledge

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
)

// Status is where a pledge is in its life.
type Status string

const (
	// StatusPending: created, its reward unit held, waiting for a payment method.
	StatusPending Status = "pending"
	// StatusActive: all-or-nothing, card saved, to be charged at the deadline if the goal is met.
	StatusActive Status = "active"
	// StatusCollected: the money has been charged.
	StatusCollected Status = "collected"
	// StatusCancelled: the backer withdrew before the deadline.
	StatusCancelled Status = "cancelled"
	// StatusExpired: no payment method arrived within the hold; the reward unit went back.
	StatusExpired Status = "expired"
	// StatusCharging: the deadline charge of an all-or-nothing pledge is under way (a recovery
	// point: a settler that dies here is resumed with the same attempt and idempotency key).
	StatusCharging Status = "charging"
	// StatusPaymentFailed: the charge was declined; the backer can fix it during the dunning window.
	StatusPaymentFailed Status = "payment_failed"
	// StatusDropped: the dunning window closed without a successful charge; the unit went back.
	StatusDropped Status = "dropped"
	// StatusVoid: the all-or-nothing campaign missed its goal (or the pledge never got a card
	// before the deadline): nothing is ever charged.
	StatusVoid Status = "void"
	// After collection: refunds (from the admin API or Stripe's dashboard) and disputes.
	StatusPartiallyRefunded Status = "partially_refunded"
	StatusRefunded          Status = "refunded"
	StatusDisputed          Status = "disputed"
	StatusDisputeLost       Status = "dispute_lost"
)

// Charged reports whether money was taken for a pledge in this status (whatever happened after).
func (s Status) Charged() bool {
	switch s {
	case StatusCollected, StatusPartiallyRefunded, StatusRefunded, StatusDisputed, StatusDisputeLost:
		return true
	}
	return false
}

// CountedStatuses are the states that count towards a campaign's totals: the pledge is backed by
// a saved card or by money, including while its deadline charge runs or is being fixed.
var CountedStatuses = []Status{StatusActive, StatusCharging, StatusCollected, StatusPaymentFailed, StatusPartiallyRefunded, StatusDisputed}

// BackerStatuses are the pledges a designer's list of backers shows: every one the campaign
// counts, and those refunded or whose dispute was lost (she must know not to ship them). A
// pledge that never got a card, was cancelled or dropped is nobody's backing.
var BackerStatuses = append(slices.Clone(CountedStatuses), StatusRefunded, StatusDisputeLost)

// Counted reports whether a pledge in this status counts towards the campaign's totals.
func (s Status) Counted() bool { return slices.Contains(CountedStatuses, s) }

// HoldsUnit reports whether a pledge in this status keeps its reward unit.
func (s Status) HoldsUnit() bool { return s == StatusPending || s.Counted() }

// Backer is who pledged. The email is normalised; logs only ever see it masked.
type Backer struct {
	Email string `bson:"email" json:"email"`
	Name  string `bson:"name" json:"name"`
}

// Address is where a physical reward ships.
type Address struct {
	Name       string `bson:"name" json:"name"`
	Line1      string `bson:"line1" json:"line1"`
	Line2      string `bson:"line2,omitempty" json:"line2,omitempty"`
	PostalCode string `bson:"postal_code" json:"postal_code"`
	City       string `bson:"city" json:"city"`
	Region     string `bson:"region,omitempty" json:"region,omitempty"`
	Country    string `bson:"country" json:"country"`
}

// Failure is why Stripe refused a payment method, kept for the backer and for admins.
type Failure struct {
	Code        string    `bson:"code" json:"code"`
	DeclineCode string    `bson:"decline_code,omitempty" json:"decline_code,omitempty"`
	Message     string    `bson:"message" json:"message"`
	At          time.Time `bson:"at" json:"at"`
}

// Dispute is a chargeback on a pledge's charge.
type Dispute struct {
	ID     string    `bson:"id" json:"id"`
	Reason string    `bson:"reason" json:"reason"`
	Status string    `bson:"status" json:"status"`
	Amount int64     `bson:"amount" json:"amount"`
	At     time.Time `bson:"at" json:"at"`
}

// HistoryEntry records one state change of a pledge.
type HistoryEntry = backstitch.HistoryEntry[Status]

// Pledge is one backer's promise to one campaign.
type Pledge struct {
	ID           string                `bson:"_id"`
	CampaignID   string                `bson:"campaign_id"`
	FundingModel campaign.FundingModel `bson:"funding_model"`
	TierID       string                `bson:"tier_id,omitempty"`
	// Options is the backer's choice for the reward (size M); StockID the stocked combination
	// it draws a unit from ("" when the combination has no stock of its own).
	Options map[string]string `bson:"options,omitempty"`
	StockID string            `bson:"stock_id,omitempty"`
	// SessionID is the date booked of an experience reward with sessions.
	SessionID string `bson:"session_id,omitempty"`
	// Amount is RewardPrice (the tier's price when chosen) + Shipping (to the address's country,
	// by the tier's rates) + whatever the backer adds.
	RewardPrice     int64       `bson:"reward_price"`
	Shipping        int64       `bson:"shipping"`
	Amount          money.Money `bson:"amount"`
	Backer          Backer      `bson:"backer"`
	ShippingAddress *Address    `bson:"shipping_address,omitempty"`
	// Note is the backer's message to the designer.
	Note   string `bson:"note,omitempty"`
	Source Source `bson:"source,omitempty"`
	// Locale is the language the backer reads her messages in (one of locale.Languages).
	Locale          string `bson:"locale,omitempty"`
	Status          Status `bson:"status"`
	ManageTokenHash string `bson:"manage_token_hash"`
	// RequestHash identifies the request that created the pledge (its body): the pledge is its
	// Idempotency-Key's record, so the same key with another body is refused by comparing it.
	RequestHash string `bson:"request_hash,omitempty"`
	// ReplayToken is the manage token sealed under the client's Idempotency-Key, which the
	// server never stores: a retry of the creating request gets the pledge's answer back from
	// the pledge itself (Service.replay), while a reader of the store cannot open it.
	ReplayToken []byte `bson:"replay_token,omitempty"`
	// ManageSeal is the manage token sealed with a server secret, for the confirmation that
	// links it once the pledge is confirmed (confirmation.go); removed once that confirmation is
	// in the outbox, or when the pledge ends without one.
	ManageSeal []byte `bson:"manage_seal,omitempty"`
	// Stripe objects: a new pledge is inserted with those its checkout needs (Service.Create).
	CustomerID      string `bson:"customer_id,omitempty"`
	SetupIntentID   string `bson:"setup_intent_id,omitempty"`
	PaymentIntentID string `bson:"payment_intent_id,omitempty"`
	ClientSecret    string `bson:"client_secret,omitempty"`
	PaymentMethodID string `bson:"payment_method_id,omitempty"`
	// CheckoutSessionID is the pledge's open Stripe Checkout Session, the only one it may be
	// paid through: starting another expires it first.
	CheckoutSessionID string `bson:"checkout_session_id,omitempty"`
	// FixCheckoutID is the open Checkout Session (setup mode) through which the backer of a
	// pledge in dunning saves another card; it is cleared when that card is taken up, so a
	// replayed completion or return does nothing.
	FixCheckoutID string `bson:"fix_checkout_id,omitempty"`
	// ConfirmAttempts numbers confirmations, so each gets its own idempotency key.
	ConfirmAttempts int      `bson:"confirm_attempts"`
	LastFailure     *Failure `bson:"last_failure,omitempty"`
	// Deadline charging (all-or-nothing): attempts numbered for their idempotency keys, the
	// dunning schedule, and the fencing token of the settler that last wrote the pledge.
	ChargeAttempts int        `bson:"charge_attempts"`
	ChargeID       string     `bson:"charge_id,omitempty"`
	CollectedAt    *time.Time `bson:"collected_at,omitempty"`
	FirstFailedAt  *time.Time `bson:"first_failed_at,omitempty"`
	NextRetryAt    *time.Time `bson:"next_retry_at,omitempty"`
	Fence          int64      `bson:"fence"`
	// After collection.
	AmountRefunded int64    `bson:"amount_refunded"`
	RefundRequests int      `bson:"refund_requests"`
	Dispute        *Dispute `bson:"dispute,omitempty"`
	// Payout: the transfer of the designer's share of this pledge's charge.
	TransferID     string `bson:"transfer_id,omitempty"`
	TransferAmount int64  `bson:"transfer_amount"`
	// StripeFee is Stripe's processing fee on the charge (from its balance transaction).
	StripeFee int64 `bson:"stripe_fee"`
	// ErasedAt is when the backer's personal data was pseudonymised (backerdata.go).
	ErasedAt *time.Time `bson:"erased_at,omitempty"`
	// SurveyAnsweredAt is when the backer last answered the survey after success (survey.go).
	SurveyAnsweredAt *time.Time `bson:"survey_answered_at,omitempty"`
	// Fulfilment is how the reward reaches the backer once collected (see fulfilment.go).
	Fulfilment *Fulfilment `bson:"fulfilment,omitempty"`
	// Pending is what the last transition still owes the counters (see transition.go); nil
	// once they follow the pledge's state.
	Pending *Pending `bson:"pending,omitempty"`
	// Owed are the messages its changes owe the backer and the outbox does not hold yet (see
	// notices.go), recorded since OwedSince.
	Owed          []backstitch.Notice `bson:"owed,omitempty"`
	OwedSince     *time.Time          `bson:"owed_since,omitempty"`
	HoldExpiresAt time.Time           `bson:"hold_expires_at"`
	CreatedAt     time.Time           `bson:"created_at"`
	UpdatedAt     time.Time           `bson:"updated_at"`
	Version       int64               `bson:"version"`
	History       []HistoryEntry      `bson:"history"`
}

// Limits on backer input.
const (
	MaxName        = 100
	MaxAddressLine = 200
	MaxNote        = 1000
)

// Request is what a backer sends to pledge. Status, Stripe ids and totals are not in it.
type Request struct {
	TierID          string            `json:"tier_id"`
	Options         map[string]string `json:"options"`
	SessionID       string            `json:"session_id"`
	Amount          *money.Money      `json:"amount"`
	Backer          *Backer           `json:"backer"`
	ShippingAddress *Address          `json:"shipping_address"`
	Note            string            `json:"note"`
	// Source is where the backer came from (the pages fill it from their attribution cookie).
	Source Source `json:"source"`
	// Locale is the language of the backer's messages ("en", "fr"); the API fills it from
	// Accept-Language when the body has none.
	Locale string `json:"locale"`
}

// New validates a pledge request against its campaign and tier (nil for no reward) at now.
// The id is given by the caller: it is derived from the request's idempotency key, so a retried
// request resumes the same pledge and repeats the same Stripe requests.
func New(id string, r Request, c campaign.Campaign, tier *campaign.Tier, now time.Time, hold time.Duration) (Pledge, string, error) {
	if c.Status != campaign.StatusLive {
		return Pledge{}, "", backstitch.Errorf(backstitch.CodeCampaignNotLive, "This campaign is not taking pledges.")
	}
	if !now.Before(c.Deadline) {
		return Pledge{}, "", backstitch.Errorf(backstitch.CodeCampaignNotLive, "This campaign's deadline has passed.")
	}
	var errs backstitch.FieldErrors
	if r.Amount == nil {
		errs.Add("amount", "required", "amount is required")
	}
	if r.Backer == nil {
		errs.Add("backer", "required", "backer {email, name} is required")
	}
	if err := errs.Err(); err != nil {
		return Pledge{}, "", err
	}
	// The store keeps milliseconds: the answer made now and one replayed from the stored pledge
	// (Service.replay) show the same times.
	now = now.UTC().Truncate(time.Millisecond)
	p := Pledge{
		ID: id, CampaignID: c.ID, FundingModel: c.FundingModel, Amount: *r.Amount, Status: StatusPending,
		HoldExpiresAt: now.Add(hold), CreatedAt: now, UpdatedAt: now, History: []HistoryEntry{},
	}
	email, err := account.NormalizeEmail(r.Backer.Email)
	if err != nil {
		errs.Add("backer.email", "invalid", err.Error())
	}
	p.Backer = Backer{Email: email, Name: checkText(&errs, "backer.name", r.Backer.Name, 1, MaxName)}
	p.Note = backstitch.CheckBlock(&errs, "note", r.Note, 0, MaxNote)
	r.Source.check(&errs)
	p.Source = r.Source
	p.Locale = r.Locale
	if p.Locale == "" {
		p.Locale = locale.Languages[0]
	} else if !locale.Supported(p.Locale) {
		errs.Add("locale", "invalid", "locale must be one of "+strings.Join(locale.Languages, ", "))
	}
	if tier != nil {
		p.TierID = tier.ID
		stockID, err := tier.Choose(r.Options)
		if err != nil {
			return Pledge{}, "", err
		}
		p.Options, p.StockID = r.Options, stockID
		if err := tier.Book(r.SessionID, now); err != nil {
			return Pledge{}, "", err
		}
		p.SessionID = r.SessionID
	} else if len(r.Options) > 0 || r.SessionID != "" {
		errs.Add("options", "invalid", "a pledge without a reward has no options or session")
	}
	if tier != nil && tier.Ships {
		if r.ShippingAddress == nil {
			return Pledge{}, "", &backstitch.Error{Code: backstitch.CodeShippingAddressRequired, Message: "This reward ships: give a shipping address.",
				Fields: []backstitch.FieldError{{Field: "shipping_address", Code: "required", Message: "shipping_address is required for rewards that ship"}}}
		}
		// Only rewards that ship keep an address: no personal data is stored without a use.
		p.ShippingAddress = r.ShippingAddress
		checkShipping(&errs, r.ShippingAddress)
	}
	if err := errs.Err(); err != nil {
		return Pledge{}, "", err
	}
	if err := p.price(tier); err != nil {
		return Pledge{}, "", err
	}
	if err := p.checkAmount(&errs, c, tier); err != nil {
		return Pledge{}, "", err
	}
	if err := errs.Err(); err != nil {
		return Pledge{}, "", err
	}
	token := newToken()
	p.ManageTokenHash = account.TokenID(token)
	return p, token, nil
}

// checkAmount checks the amount against the campaign's currency and the tier's price. A currency
// other than the campaign's is its own error code: clients must not convert silently.
func (p *Pledge) checkAmount(errs *backstitch.FieldErrors, c campaign.Campaign, tier *campaign.Tier) error {
	if p.Amount.Currency != c.Goal.Currency {
		return &backstitch.Error{Code: backstitch.CodeCurrencyMismatch, Message: fmt.Sprintf("This campaign takes pledges in %s.", c.Goal.Currency),
			Fields: []backstitch.FieldError{{Field: "amount.currency", Code: "currency_mismatch", Message: "amount must be in " + c.Goal.Currency}}}
	}
	if tier != nil && p.Amount.Amount < tier.Price.Amount+p.Shipping {
		least := money.Money{Amount: tier.Price.Amount + p.Shipping, Currency: tier.Price.Currency}
		msg := fmt.Sprintf("This reward costs %s; pledge at least that.", tier.Price)
		if p.Shipping > 0 {
			msg = fmt.Sprintf("This reward costs %s and shipping to %s %s; pledge at least %s.", tier.Price, p.ShippingAddress.Country,
				money.Money{Amount: p.Shipping, Currency: tier.Price.Currency}, least)
		}
		return &backstitch.Error{Code: backstitch.CodeAmountBelowTierPrice, Message: msg,
			Fields: []backstitch.FieldError{{Field: "amount.amount", Code: "below_tier_price", Message: "amount must be at least " + least.String()}}}
	}
	if code, msg := p.Amount.Problem(); code != "" {
		errs.Add("amount.amount", code, msg)
	}
	return nil
}

// price records the reward's price and the shipping to the pledge's address, by the tier's rates.
// A country the tier has no rate for is refused: the designer does not ship there.
func (p *Pledge) price(tier *campaign.Tier) error {
	p.RewardPrice, p.Shipping = 0, 0
	if tier == nil {
		return nil
	}
	p.RewardPrice = tier.Price.Amount
	if !tier.Ships || p.ShippingAddress == nil {
		return nil
	}
	shipping, ok := tier.ShippingTo(p.ShippingAddress.Country)
	if !ok {
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: fmt.Sprintf("This reward does not ship to %s.", p.ShippingAddress.Country),
			Fields: []backstitch.FieldError{{Field: "shipping_address.country", Code: "not_shipped_there", Message: "the designer has no shipping rate for " + p.ShippingAddress.Country}}}
	}
	p.Shipping = shipping
	return nil
}

func checkShipping(errs *backstitch.FieldErrors, a *Address) {
	a.Name = checkText(errs, "shipping_address.name", a.Name, 1, MaxName)
	a.Line1 = checkText(errs, "shipping_address.line1", a.Line1, 1, MaxAddressLine)
	a.Line2 = checkText(errs, "shipping_address.line2", a.Line2, 0, MaxAddressLine)
	a.PostalCode = checkText(errs, "shipping_address.postal_code", a.PostalCode, 1, 20)
	a.City = checkText(errs, "shipping_address.city", a.City, 1, MaxName)
	a.Region = checkText(errs, "shipping_address.region", a.Region, 0, MaxName)
	if len(a.Country) != 2 || strings.ToUpper(a.Country) != a.Country {
		errs.Add("shipping_address.country", "invalid", "country must be an ISO 3166-1 alpha-2 code such as CH")
	}
}

// checkText checks a single-line field of a pledge and returns it trimmed and in NFC: a
// backer's name and address reach the designer's fulfilment export and labels, where control and
// bidirectional characters would garble or disguise them.
func checkText(errs *backstitch.FieldErrors, field, s string, lo, hi int) string {
	return backstitch.CheckLine(errs, field, s, lo, hi)
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

// MoveTo records a state change on p (the store applies it conditionally on the old status).
func (p Pledge) MoveTo(to Status, actor, reason string, now time.Time) Pledge {
	p.History = append(append([]HistoryEntry(nil), p.History...), HistoryEntry{From: p.Status, To: to, Actor: actor, Reason: reason, At: now})
	p.Status = to
	p.UpdatedAt = now
	return p
}

// Search names the pledges an admin looks for: by the first of these that is set.
type Search struct {
	ID string
	// Email is the backer's, as typed; it is normalised as pledges store it.
	Email string
	// StripeID is a SetupIntent, PaymentIntent or charge id.
	StripeID   string
	CampaignID string
}
