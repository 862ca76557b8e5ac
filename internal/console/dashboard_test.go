package console

import "testing"

// Stripe ids link to the dashboard of the key's mode (test pages under /test), never offline,
// and only for objects the dashboard has a page for.
func TestStripeDashboardLinks(t *testing.T) {
	k := &Console{}
	for _, tc := range []struct{ mode, label, id, want string }{
		{"test", "payment_intent", "pi_123", "https://dashboard.stripe.com/test/payments/pi_123"},
		{"live", "payment_intent", "pi_123", "https://dashboard.stripe.com/payments/pi_123"},
		{"live", "customer", "cus_9", "https://dashboard.stripe.com/customers/cus_9"},
		{"test", "charge", "ch_1", "https://dashboard.stripe.com/test/payments/ch_1"},
		{"test", "transfer", "tr_1", "https://dashboard.stripe.com/test/connect/transfers/tr_1"},
		{"test", "setup_intent", "seti_1", "https://dashboard.stripe.com/test/setup_intents/seti_1"},
		{"test", "payment_method", "pm_1", ""},
		{"test", "payment_intent", "pi_1/../../x?y", "https://dashboard.stripe.com/test/payments/pi_1%2F..%2F..%2Fx%3Fy"},
		{"", "payment_intent", "pi_123", ""},
	} {
		k.LinkStripeDashboard(tc.mode)
		if got := k.admins.stripeDashboardURL(tc.label, tc.id); got != tc.want {
			t.Errorf("%q %s %s: %q, want %q", tc.mode, tc.label, tc.id, got, tc.want)
		}
	}
}
