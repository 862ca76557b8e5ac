package stripedouble

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// decline is the card_error a card answers with.
type decline struct {
	code        string
	declineCode string
	message     string
}

type authMode int

const (
	authNever authMode = iota
	// authUntilSetUp is 4000002500003155: every payment needs 3D Secure
	// unless the card was saved with an off-session SetupIntent first.
	authUntilSetUp
	// authAlways is 4000002760003184: every payment needs 3D Secure, even
	// off-session after a setup.
	authAlways
)

// card is the test-mode behaviour behind a card number.
type card struct {
	number string
	brand  string
	// decline fails setups, attaches and charges alike.
	decline *decline
	// chargeDecline fails charges only (4000000000000341).
	chargeDecline *decline
	auth          authMode
}

var (
	declineGeneric = &decline{"card_declined", "generic_decline", "Your card was declined."}
	declineFunds   = &decline{"card_declined", "insufficient_funds", "Your card has insufficient funds."}
	declineExpired = &decline{"expired_card", "expired_card", "Your card has expired."}
	declineAuth    = &decline{"authentication_required", "authentication_required",
		"Your card was declined. This transaction requires authentication."}
)

// testCards maps Stripe's documented test card numbers to their behaviour.
var testCards = map[string]card{
	"4242424242424242": {brand: "visa"},
	"4000056655665556": {brand: "visa"},
	"5555555555554444": {brand: "mastercard"},
	"378282246310005":  {brand: "amex"},
	"4000000000000002": {brand: "visa", decline: declineGeneric},
	"4000000000009995": {brand: "visa", decline: declineFunds},
	"4000000000000069": {brand: "visa", decline: declineExpired},
	"4000002500003155": {brand: "visa", auth: authUntilSetUp},
	"4000002760003184": {brand: "visa", auth: authAlways},
	"4000000000000341": {brand: "visa", chargeDecline: declineGeneric},
}

// testTokens maps Stripe's test PaymentMethod ids to card numbers. Using one
// creates a new PaymentMethod, as Stripe test mode does.
var testTokens = map[string]string{
	"pm_card_visa":                            "4242424242424242",
	"pm_card_visa_debit":                      "4000056655665556",
	"pm_card_mastercard":                      "5555555555554444",
	"pm_card_amex":                            "378282246310005",
	"pm_card_chargeDeclined":                  "4000000000000002",
	"pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
	"pm_card_chargeDeclinedExpiredCard":       "4000000000000069",
	"pm_card_authenticationRequiredOnSetup":   "4000002500003155",
	"pm_card_authenticationRequired":          "4000002760003184",
	"pm_card_chargeCustomerFail":              "4000000000000341",
}

// lookupCard returns the behaviour of a card number. Numbers that are not
// documented test cards succeed if they pass the Luhn check, like any valid
// card in test mode.
func lookupCard(number string) (card, bool) {
	number = strings.ReplaceAll(number, " ", "")
	c, ok := testCards[number]
	if !ok {
		if !luhnValid(number) {
			return card{}, false
		}
		c = card{brand: "unknown"}
	}
	c.number = number
	return c, true
}

func luhnValid(number string) bool {
	if len(number) < 12 || len(number) > 19 {
		return false
	}
	sum := 0
	for i := 0; i < len(number); i++ {
		d := int(number[len(number)-1-i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// needsAuth tells whether a payment with this card stops for 3D Secure.
func (pm *paymentMethod) needsAuth() bool {
	switch pm.behavior.auth {
	case authAlways:
		return true
	case authUntilSetUp:
		return !pm.setUp
	}
	return false
}

func (c card) details(expMonth, expYear int64) cardDetails {
	sum := sha256.Sum256([]byte(c.number))
	return cardDetails{
		Brand:       c.brand,
		Country:     "US",
		ExpMonth:    expMonth,
		ExpYear:     expYear,
		Fingerprint: hex.EncodeToString(sum[:8]),
		Funding:     "credit",
		Last4:       c.number[len(c.number)-4:],
	}
}
