package campaign

import (
	"fmt"
	"slices"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

// ShippingRate is what shipping a tier's reward costs to a zone: a country (ISO 3166-1 alpha-2,
// such as CH), the European Union (EU), or anywhere else (WORLD). The most specific zone wins.
type ShippingRate struct {
	Zone  string      `bson:"zone" json:"zone"`
	Price money.Money `bson:"price" json:"price"`
}

// Zones that are not a country.
const (
	ZoneEU    = "EU"
	ZoneWorld = "WORLD"
)

// MaxShippingRates bounds a tier's rates (a rate per country of Europe fits).
const MaxShippingRates = 60

// euMembers are the member states of the European Union (ISO 3166-1 alpha-2).
var euMembers = []string{"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
	"LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}

// ValidCountry reports whether s looks like an ISO 3166-1 alpha-2 code (two capital letters).
func ValidCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func (t *Tier) setShippingRates(errs *backstitch.FieldErrors, c Campaign, rates []ShippingRate) {
	t.ShippingRates = nil
	if len(rates) > MaxShippingRates {
		errs.Add("shipping_rates", "too_many", fmt.Sprintf("at most %d shipping rates", MaxShippingRates))
		return
	}
	var zones []string
	for i, r := range rates {
		field := fmt.Sprintf("shipping_rates[%d]", i)
		switch {
		case r.Zone != ZoneEU && r.Zone != ZoneWorld && !ValidCountry(r.Zone):
			errs.Add(field+".zone", "invalid", `zone must be a country code such as CH, or "EU", or "WORLD"`)
			continue
		case slices.Contains(zones, r.Zone):
			errs.Add(field+".zone", "duplicate", "each zone has one rate")
			continue
		case r.Price.Currency != c.Goal.Currency:
			errs.Add(field+".price.currency", "currency_mismatch", "shipping is charged in the campaign currency "+c.Goal.Currency)
			continue
		case r.Price.Amount < 0:
			errs.Add(field+".price.amount", "negative", "a shipping price cannot be negative")
			continue
		}
		zones = append(zones, r.Zone)
		t.ShippingRates = append(t.ShippingRates, r)
	}
}

// ShippingTo is what shipping this tier's reward to a country costs, by the most specific rate:
// the country's own, then the EU's for a member state, then WORLD's. A tier that ships without
// rates ships for free; one with rates but none for this country does not ship there (ok false).
func (t Tier) ShippingTo(country string) (price int64, ok bool) {
	if !t.Ships {
		return 0, true
	}
	if len(t.ShippingRates) == 0 {
		return 0, true
	}
	var eu, world *ShippingRate
	for i, r := range t.ShippingRates {
		switch {
		case r.Zone == country:
			return r.Price.Amount, true
		case r.Zone == ZoneEU:
			eu = &t.ShippingRates[i]
		case r.Zone == ZoneWorld:
			world = &t.ShippingRates[i]
		}
	}
	if eu != nil && slices.Contains(euMembers, country) {
		return eu.Price.Amount, true
	}
	if world != nil {
		return world.Price.Amount, true
	}
	return 0, false
}
