// Package money represents amounts as an integer count of a currency's minor unit plus its ISO 4217
// code. There are no floats anywhere: CHF 25.00 is {2500, "CHF"}, JPY 500 is {500, "JPY"}.
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in minor units of Currency.
type Money struct {
	Amount   int64  `json:"amount" bson:"amount"`
	Currency string `json:"currency" bson:"currency"`
}

// Currency describes what the service needs to know about one ISO 4217 currency.
type Currency struct {
	Code string
	// Exponent is the number of minor-unit digits: 2 for CHF (rappen), 0 for JPY.
	Exponent int
	// MinCharge is Stripe's minimum charge amount, in minor units.
	MinCharge int64
}

// MaxAmount is Stripe's largest charge amount (eight digits of minor units).
const MaxAmount int64 = 99_999_999

var currencies = map[string]Currency{
	"CHF": {"CHF", 2, 50},
	"EUR": {"EUR", 2, 50},
	"USD": {"USD", 2, 50},
	"GBP": {"GBP", 2, 30},
	"JPY": {"JPY", 0, 50},
	"SEK": {"SEK", 2, 300},
	"DKK": {"DKK", 2, 250},
	"NOK": {"NOK", 2, 300},
	"CAD": {"CAD", 2, 50},
	"AUD": {"AUD", 2, 50},
}

// LookupCurrency returns the supported currency for an ISO code (case-sensitive, upper case).
func LookupCurrency(code string) (Currency, bool) {
	c, ok := currencies[code]
	return c, ok
}

// Supported lists the supported ISO codes, for error messages and docs.
func Supported() []string {
	return []string{"AUD", "CAD", "CHF", "DKK", "EUR", "GBP", "JPY", "NOK", "SEK", "USD"}
}

// Problem says what is wrong with m as a chargeable amount, or "" when it is fine.
// The returned code is stable (unsupported_currency, too_small, too_large).
func (m Money) Problem() (code, message string) {
	c, ok := LookupCurrency(m.Currency)
	if !ok {
		return "unsupported_currency", fmt.Sprintf("currency must be one of %s", strings.Join(Supported(), ", "))
	}
	if m.Amount < c.MinCharge {
		return "too_small", fmt.Sprintf("amount must be at least %s", Money{c.MinCharge, c.Code})
	}
	if m.Amount > MaxAmount {
		return "too_large", fmt.Sprintf("amount must be at most %s", Money{MaxAmount, c.Code})
	}
	return "", ""
}

// String formats m for people: "CHF 25.00", "JPY 500".
func (m Money) String() string { return m.Currency + " " + m.Decimal() }

// Decimal is the amount as the plain decimal Parse reads back: "25.00", "500" (JPY).
func (m Money) Decimal() string {
	c, ok := LookupCurrency(m.Currency)
	if !ok || c.Exponent == 0 {
		return strconv.FormatInt(m.Amount, 10)
	}
	neg := m.Amount < 0
	a := m.Amount
	if neg {
		a = -a
	}
	s := strconv.FormatInt(a, 10)
	if len(s) <= c.Exponent {
		s = strings.Repeat("0", c.Exponent-len(s)+1) + s
	}
	s = s[:len(s)-c.Exponent] + "." + s[len(s)-c.Exponent:]
	if neg {
		s = "-" + s
	}
	return s
}

// Parse reads a decimal amount such as "25.50" in the given currency into minor units.
// It rejects more fractional digits than the currency has, signs, exponents and overflow.
func Parse(decimal, currency string) (Money, error) {
	c, ok := LookupCurrency(currency)
	if !ok {
		return Money{}, fmt.Errorf("unsupported currency %q", currency)
	}
	whole, frac, hasDot := strings.Cut(decimal, ".")
	if whole == "" || !allDigits(whole) || (hasDot && (frac == "" || !allDigits(frac))) {
		return Money{}, fmt.Errorf("%q is not a plain decimal amount", decimal)
	}
	if len(frac) > c.Exponent {
		return Money{}, fmt.Errorf("%s has %d decimal places, %q has more", currency, c.Exponent, decimal)
	}
	digits := whole + frac + strings.Repeat("0", c.Exponent-len(frac))
	amount, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || amount > MaxAmount {
		return Money{}, fmt.Errorf("%q is too large", decimal)
	}
	return Money{Amount: amount, Currency: currency}, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
