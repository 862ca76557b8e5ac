package console

import "net/url"

// stripeDashboardPaths are where Stripe's dashboard shows each kind of object a pledge points
// at; a payment method has no page of its own there, so it is not linked. Transfers sit under
// connect/ (Stripe's own Connect sample links test/connect/transfers/tr_…); the bare
// transfers/ path seen in older code dates from before transfers and payouts were split.
var stripeDashboardPaths = map[string]string{
	"customer": "customers", "setup_intent": "setup_intents", "payment_intent": "payments",
	"charge": "payments", "transfer": "connect/transfers",
}

// LinkStripeDashboard makes the Stripe ids on the admins' pledge pages links to Stripe's
// dashboard for keys of mode "test" or "live"; set before serving. In offline mode (mode "")
// the objects live in the Stripe double, which Stripe's dashboard has never seen: no links.
func (k *Console) LinkStripeDashboard(mode string) {
	switch mode {
	case "live":
		k.admins.dashboard = "https://dashboard.stripe.com/"
	case "test":
		k.admins.dashboard = "https://dashboard.stripe.com/test/"
	default:
		k.admins.dashboard = ""
	}
}

// stripeDashboardURL is the dashboard page of the object of kind label with id, or "".
func (a adminConsole) stripeDashboardURL(label, id string) string {
	path, ok := stripeDashboardPaths[label]
	if a.dashboard == "" || !ok {
		return ""
	}
	return a.dashboard + path + "/" + url.PathEscape(id)
}
