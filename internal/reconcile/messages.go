package reconcile

import (
	"fmt"
	"time"

	"github.com/backstitch/backstitch/internal/money"
)

// Arg is one value a finding's message names: an id or a count (Text), an amount, an instant,
// or a pledge's status. Kept typed so that a page can write it the way its reader's language
// does; the API and the CSV keep the English sentence in Message.
type Arg struct {
	Text   string       `json:"-" bson:"text,omitempty"`
	Money  *money.Money `json:"-" bson:"money,omitempty"`
	Time   *time.Time   `json:"-" bson:"time,omitempty"`
	Status string       `json:"-" bson:"status,omitempty"`
}

func text(s string) Arg         { return Arg{Text: s} }
func amount(m money.Money) Arg  { return Arg{Money: &m} }
func instant(t time.Time) Arg   { t = t.UTC(); return Arg{Time: &t} }
func pledgeStatus(s string) Arg { return Arg{Status: s} }
func (a Arg) english() string {
	switch {
	case a.Money != nil:
		return a.Money.String()
	case a.Time != nil:
		return a.Time.Format(time.RFC3339)
	case a.Status != "":
		return a.Status
	}
	return a.Text
}

// messages are the findings' sentences in English, by code: the pages write the same codes from
// the catalogue (admin.finding_message.<code>) in the reader's language, with the same
// arguments in the same order.
var messages = map[string]string{
	"transfer_owed":         "The designer was owed %s (collected − refunds − disputes − platform fee) and Stripe transferred %s.",
	"charge_unknown":        "Stripe charge %s took %s for no pledge Backstitch knows.",
	"transfer_unknown":      "Stripe transfer %s sent %s for no pledge Backstitch knows.",
	"stuck":                 "The pledge has been charging since %s.",
	"no_charge":             "The pledge is %s but Stripe has no succeeded charge for it.",
	"charge_not_recorded":   "Stripe charge %s took %s but the pledge is %s.",
	"currency":              "The pledge is in %s, its charge %s in %s.",
	"amount":                "The pledge is for %s, its charge %s took %s.",
	"refund":                "The pledge records %s refunded, Stripe %s.",
	"dispute_not_at_stripe": "The pledge records dispute %s, which Stripe does not have.",
	"dispute_not_recorded":  "Stripe has dispute %s (%s) that the pledge does not record.",
	"dispute_status":        "Dispute %s is %s at Stripe, %s in the database.",
	"duplicate":             "%s succeeded charges for one pledge: %s was charged %s more than once.",
	"transfer":              "The pledge records %s transferred to the designer, Stripe %s.",
}

// MessageCodes lists every message's code, for the catalogue's tests.
func MessageCodes() []string {
	out := make([]string, 0, len(messages))
	for code := range messages {
		out = append(out, code)
	}
	return out
}

// said is a finding's message: its code, its arguments, and the English sentence.
type said struct {
	code string
	args []Arg
}

func say(code string, args ...Arg) said { return said{code: code, args: args} }

// english writes the message as the API and the CSV show it.
func (s said) english() string {
	strs := make([]any, len(s.args))
	for i, a := range s.args {
		strs[i] = a.english()
	}
	return fmt.Sprintf(messages[s.code], strs...)
}

// set gives f the message.
func (s said) set(f *Finding) {
	f.Message, f.MessageCode, f.MessageArgs = s.english(), s.code, s.args
}
