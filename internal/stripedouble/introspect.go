package stripedouble

import (
	"encoding/json"
	"fmt"

	"github.com/stripe/stripe-go/v76"
)

// snapshot decodes every stored object of a kind, oldest first, into
// stripe-go's type, so tests read the double's state as the API shows it.
func snapshot[T any](d *Double, kind string) []*T {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*T, 0, len(d.order[kind]))
	for _, id := range d.order[kind] {
		v := new(T)
		if err := json.Unmarshal(d.render(d.objects[id]), v); err != nil {
			panic(fmt.Sprintf("stripedouble: stripe-go cannot decode %s %s: %v", kind, id, err))
		}
		out = append(out, v)
	}
	return out
}

// Customers returns every customer, oldest first.
func (d *Double) Customers() []*stripe.Customer { return snapshot[stripe.Customer](d, "customer") }

// PaymentMethods returns every payment method, oldest first, including the
// ones cloned from test ids such as pm_card_visa.
func (d *Double) PaymentMethods() []*stripe.PaymentMethod {
	return snapshot[stripe.PaymentMethod](d, "payment_method")
}

// SetupIntents returns every SetupIntent, oldest first.
func (d *Double) SetupIntents() []*stripe.SetupIntent {
	return snapshot[stripe.SetupIntent](d, "setup_intent")
}

// PaymentIntents returns every PaymentIntent, oldest first.
func (d *Double) PaymentIntents() []*stripe.PaymentIntent {
	return snapshot[stripe.PaymentIntent](d, "payment_intent")
}

// Charges returns every charge, failed ones included, oldest first.
func (d *Double) Charges() []*stripe.Charge { return snapshot[stripe.Charge](d, "charge") }

// BalanceTransactions returns every balance transaction, oldest first.
func (d *Double) BalanceTransactions() []*stripe.BalanceTransaction {
	return snapshot[stripe.BalanceTransaction](d, "balance_transaction")
}

// Refunds returns every refund, oldest first.
func (d *Double) Refunds() []*stripe.Refund { return snapshot[stripe.Refund](d, "refund") }

// Disputes returns every dispute, oldest first.
func (d *Double) Disputes() []*stripe.Dispute { return snapshot[stripe.Dispute](d, "dispute") }

// Transfers returns every transfer, oldest first.
func (d *Double) Transfers() []*stripe.Transfer { return snapshot[stripe.Transfer](d, "transfer") }

// Accounts returns every connected account, oldest first.
func (d *Double) Accounts() []*stripe.Account { return snapshot[stripe.Account](d, "account") }

// Events returns every event, oldest first (the API lists newest first).
func (d *Double) Events() []*stripe.Event { return snapshot[stripe.Event](d, "event") }
