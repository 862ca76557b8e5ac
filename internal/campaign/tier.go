package campaign

import (
	"fmt"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

// TierKind says what a backer gets.
type TierKind string

const (
	KindPhysical TierKind = "physical"
	// KindExperience is a workshop, guided tour, coaching session or meeting: nothing ships.
	KindExperience TierKind = "experience"
	KindDigital    TierKind = "digital"
)

// MaxLimit bounds a tier's number of units; nothing sensible needs more.
const MaxLimit = 1_000_000

// Tier is a reward level of a campaign. Limited tiers keep Remaining on the document itself so a
// unit can be claimed with one conditional update (Remaining > 0 → Remaining-1), never oversold.
type Tier struct {
	ID          string      `bson:"_id"`
	CampaignID  string      `bson:"campaign_id"`
	Title       string      `bson:"title"`
	Description string      `bson:"description"`
	Kind        TierKind    `bson:"kind"`
	Price       money.Money `bson:"price"`
	Limit       *int64      `bson:"limit"`
	Remaining   *int64      `bson:"remaining"`
	Claimed     int64       `bson:"claimed"`
	// Options a backer chooses (size, colour), and the combinations stocked on their own; units
	// left and claimed of each stocked combination, by stock id (see options.go).
	Options      []Option         `bson:"options,omitempty"`
	Stock        []Stock          `bson:"stock,omitempty"`
	StockLeft    map[string]int64 `bson:"stock_left,omitempty"`
	StockClaimed map[string]int64 `bson:"stock_claimed,omitempty"`
	// Sessions are the dates of an experience reward (see sessions.go); backers book, leave or
	// move until SessionChangeCutoffHours before one (unless the date sets its own).
	Sessions                 []Session `bson:"sessions,omitempty"`
	SessionChangeCutoffHours *int64    `bson:"session_change_cutoff_hours,omitempty"`
	// ShippingRates price shipping by destination (see shipping.go).
	ShippingRates []ShippingRate `bson:"shipping_rates,omitempty"`
	// CounterRev grows with every claim and release; CountedAt is when the last one happened.
	// A recount writes only if neither moved (see pledge.CheckCounters).
	CounterRev        int64      `bson:"counter_rev"`
	CountedAt         *time.Time `bson:"counted_at,omitempty"`
	Ships             bool       `bson:"ships"`
	EstimatedDelivery string     `bson:"estimated_delivery,omitempty"`
	// Position orders tiers as the designer added them (clocks tie; positions rarely do).
	Position int `bson:"position"`
	// Image is the tier's picture; only SetTierImage writes it (see images.go).
	Image     *Image    `bson:"image,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// Nullable distinguishes a JSON field that is absent (Set false) from one sent as null
// (Set true, Null true), which PATCH needs: "limit": null removes a tier's limit.
type Nullable[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// TierFields is what a designer sends to create or change a tier.
type TierFields struct {
	Title             *string          `json:"title"`
	Description       *string          `json:"description"`
	Kind              *TierKind        `json:"kind"`
	Price             *money.Money     `json:"price"`
	Limit             Nullable[int64]  `json:"limit,omitzero"`
	Ships             *bool            `json:"ships"`
	EstimatedDelivery Nullable[string] `json:"estimated_delivery,omitzero"`
	Options           *[]Option        `json:"options"`
	Stock             *[]StockFields   `json:"stock"`
	ShippingRates     *[]ShippingRate  `json:"shipping_rates"`
	// SessionChangeCutoffHours: null goes back to the default (48 hours).
	SessionChangeCutoffHours Nullable[int64] `json:"session_change_cutoff_hours,omitzero"`
}

// NewTier validates f as a new tier of c.
func NewTier(c Campaign, f TierFields, now time.Time) (Tier, error) {
	if !c.Status.Changeable() {
		return Tier{}, backstitch.Errorf(backstitch.CodeInvalidState, "Tiers cannot be added to a %s campaign.", c.Status)
	}
	var errs backstitch.FieldErrors
	if f.Title == nil {
		errs.Add("title", "required", "title is required")
	}
	if f.Kind == nil {
		errs.Add("kind", "required", `kind is required: "physical", "experience" or "digital"`)
	}
	if f.Price == nil {
		errs.Add("price", "required", "price is required")
	}
	if err := errs.Err(); err != nil {
		return Tier{}, err
	}
	t := Tier{ID: backstitch.NewID("tier"), CampaignID: c.ID, CreatedAt: now, UpdatedAt: now}
	if f.Ships == nil {
		// Physical rewards ship unless the designer says otherwise (a pick-up in the studio).
		ships := *f.Kind == KindPhysical
		f.Ships = &ships
	}
	if err := t.apply(c, f, now); err != nil {
		return Tier{}, err
	}
	return t, nil
}

// Edit applies a change to a tier. Once a tier has backers its price is what they agreed to pay,
// its kind and shipping are what they gave (or did not give) an address for, and its limit cannot
// drop below the units they already hold.
func (t Tier) Edit(c Campaign, f TierFields, now time.Time) (Tier, error) {
	if !c.Status.Changeable() {
		return t, backstitch.Errorf(backstitch.CodeInvalidState, "Tiers of a %s campaign cannot change.", c.Status)
	}
	if t.Claimed > 0 && f.Price != nil && *f.Price != t.Price {
		return t, &backstitch.Error{Code: backstitch.CodeTierHasBackers, Message: "This tier has backers: its price cannot change.",
			Fields: []backstitch.FieldError{{Field: "price", Code: "locked", Message: "the tier has backers"}}}
	}
	if t.Claimed > 0 {
		// A digital tier turned physical and shipping would leave its backers without an address;
		// a shipping tier turned digital would leave them paying for a parcel that never comes.
		var errs backstitch.FieldErrors
		if f.Kind != nil && *f.Kind != t.Kind {
			errs.Add("kind", "locked", fmt.Sprintf("kind cannot change once the tier has backers; it stays %q", t.Kind))
		}
		if f.Ships != nil && *f.Ships != t.Ships {
			errs.Add("ships", "locked", fmt.Sprintf("ships cannot change once the tier has backers; it stays %t", t.Ships))
		}
		// Backers chose among these options, and hold units of these combinations.
		if f.Options != nil {
			errs.Add("options", "locked", "options cannot change once the tier has backers")
		}
		if f.Stock != nil {
			errs.Add("stock", "locked", "stock cannot change once the tier has backers")
		}
		if len(errs) > 0 {
			return t, &backstitch.Error{Code: backstitch.CodeValidation, Message: "This tier has backers: its kind, shipping, options and stock cannot change.", Fields: errs}
		}
	}
	next := t
	if err := next.apply(c, f, now); err != nil {
		return t, err
	}
	next.UpdatedAt = t.touched(now)
	return next, nil
}

// CheckDelete says whether a tier may be removed: not once anyone holds a unit of it.
func (t Tier) CheckDelete(c Campaign) error {
	if !c.Status.Changeable() {
		return backstitch.Errorf(backstitch.CodeInvalidState, "Tiers of a %s campaign cannot change.", c.Status)
	}
	if t.Claimed > 0 {
		return backstitch.Errorf(backstitch.CodeTierHasBackers, "This tier has backers and cannot be deleted.")
	}
	return nil
}

func (t *Tier) apply(c Campaign, f TierFields, now time.Time) error {
	var errs backstitch.FieldErrors
	if f.Title != nil {
		t.Title = backstitch.CheckLine(&errs, "title", *f.Title, 1, MaxTitle)
	}
	if f.Description != nil {
		t.Description = backstitch.CheckBlock(&errs, "description", strings.TrimSpace(*f.Description), 0, MaxDescription)
	}
	if f.Kind != nil {
		t.Kind = *f.Kind
		if t.Kind != KindPhysical && t.Kind != KindExperience && t.Kind != KindDigital {
			errs.Add("kind", "invalid", `kind must be "physical", "experience" or "digital"`)
		}
	}
	if f.Price != nil {
		t.Price = *f.Price
		if t.Price.Currency != c.Goal.Currency {
			errs.Add("price.currency", "currency_mismatch", fmt.Sprintf("price must be in the campaign currency %s", c.Goal.Currency))
		} else if code, msg := t.Price.Problem(); code != "" {
			errs.Add("price.amount", code, msg)
		}
	}
	if f.Ships != nil {
		t.Ships = *f.Ships
	}
	if t.Ships && t.Kind != KindPhysical {
		errs.Add("ships", "invalid", "only physical rewards ship")
	}
	if f.Limit.Set {
		if f.Limit.Null {
			t.Limit, t.Remaining = nil, nil
		} else {
			limit := f.Limit.Value
			switch {
			case limit < 1:
				errs.Add("limit", "too_small", "limit must be at least 1")
			case limit > MaxLimit:
				errs.Add("limit", "too_large", fmt.Sprintf("limit must be at most %d", MaxLimit))
			case limit < t.Claimed:
				errs.Add("limit", "below_claimed", fmt.Sprintf("limit cannot go below the %d units backers already hold", t.Claimed))
			default:
				remaining := limit - t.Claimed
				t.Limit, t.Remaining = &limit, &remaining
			}
		}
	}
	if f.Options != nil || f.Stock != nil {
		t.setOptions(&errs, f.Options, f.Stock)
	}
	if f.ShippingRates != nil {
		t.setShippingRates(&errs, c, *f.ShippingRates)
	}
	if len(t.ShippingRates) > 0 && !t.Ships {
		errs.Add("shipping_rates", "invalid", "only rewards that ship have shipping rates")
	}
	if f.SessionChangeCutoffHours.Set {
		t.SessionChangeCutoffHours = nil
		if !f.SessionChangeCutoffHours.Null {
			h := f.SessionChangeCutoffHours.Value
			checkCutoff(&errs, "session_change_cutoff_hours", &h)
			t.SessionChangeCutoffHours = &h
		}
	}
	if t.SessionChangeCutoffHours != nil && t.Kind != KindExperience {
		errs.Add("session_change_cutoff_hours", "invalid", "only experience rewards have sessions")
	}
	if f.EstimatedDelivery.Set {
		t.EstimatedDelivery = ""
		if !f.EstimatedDelivery.Null {
			m, err := time.Parse("2006-01", f.EstimatedDelivery.Value)
			thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
			switch {
			case err != nil:
				errs.Add("estimated_delivery", "invalid", "estimated_delivery must be a month YYYY-MM")
			case m.Before(thisMonth):
				errs.Add("estimated_delivery", "in_past", "estimated_delivery cannot be in the past")
			default:
				t.EstimatedDelivery = f.EstimatedDelivery.Value
			}
		}
	}
	return errs.Err()
}

// touched is the updated_at of a write of t made at now: never the one t already carries (two
// writes in one millisecond, a clock behind another instance's), because a new pledge validated
// against a copy of the tier claims its unit only if the tier's updated_at is still the copy's
// (pledge.CopyTTL): every write must change it. The store keeps milliseconds.
func (t Tier) touched(now time.Time) time.Time {
	at := now.UTC().Truncate(time.Millisecond)
	if !at.After(t.UpdatedAt) {
		at = t.UpdatedAt.UTC().Truncate(time.Millisecond).Add(time.Millisecond)
	}
	return at
}
