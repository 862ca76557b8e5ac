package console

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/locale"
)

// payoutRoutes are the routes mountPayouts adds (listed in Routes).
var payoutRoutes = []string{"GET /designer/payouts", "POST /designer/payouts", "GET /designer/payouts/done", "GET /designer/payouts/refresh"}

func init() { Routes = append(Routes, payoutRoutes...) }

// Payouts is Stripe Connect onboarding as the API's payouts route runs it (web.Server): one
// connected account per designer, made on her first try, and a one-time link to Stripe's pages.
type Payouts interface {
	StartOnboarding(ctx context.Context, userID, returnURL, refreshURL string) (string, error)
	// PayoutStatus asks Stripe when fresh, and records the answer; else it tells what is stored.
	PayoutStatus(ctx context.Context, userID string, fresh bool) (account.Payouts, error)
}

// UsePayouts gives the console the onboarding its payouts page starts; set before serving.
func (k *Console) UsePayouts(p Payouts) { k.payouts = p }

func (k *Console) mountPayouts(r fiber.Router) {
	r.Get("/designer/payouts", k.page(k.designer(k.payoutsPage)))
	r.Post("/designer/payouts", k.page(k.checkCSRF(k.designer(k.startOnboarding))))
	r.Get("/designer/payouts/done", k.page(k.designer(k.onboardingDone)))
	r.Get("/designer/payouts/refresh", k.page(k.designer(k.onboardingExpired)))
}

// payoutsView is the payouts page and the pages Stripe sends her back to: where her onboarding
// stands in one heading and a sentence, and the button that goes (back) to Stripe when there is
// something left to do there.
type payoutsView struct {
	base
	// State is "none", "incomplete", "checking", "enabled", "rejected" or "expired" (a CSS hook and the
	// tests' handle); Body the sentence that says what it means.
	State, Body string
	// Left is what Stripe still asks of her, in words, when it has said.
	Left []string
	// Button is the label of the button to Stripe, "" when nothing is left to do there.
	Button string
}

// payoutsState is which of the payouts page's states p is in.
func payoutsState(p account.Payouts) string {
	switch {
	case p.Enabled:
		return "enabled"
	case p.Rejected():
		return "rejected"
	case p.Checking():
		return "checking"
	case p.Started:
		return "incomplete"
	}
	return "none"
}

// dueOrder is the groups of what Stripe may still ask of her, in the order its pages ask.
var dueOrder = []string{"console.payouts.due.business", "console.payouts.due.identity", "console.payouts.due.bank",
	"console.payouts.due.terms", "console.payouts.due.other"}

// dueGroup is the group of one of Stripe's requirement names (an entry of currently_due), as a
// designer recognises it; one that is none of these is "other details".
func dueGroup(name string) string {
	for _, g := range []struct{ prefix, key string }{
		{"business_type", "console.payouts.due.business"}, {"business_profile.", "console.payouts.due.business"},
		{"company.", "console.payouts.due.business"}, {"individual.", "console.payouts.due.identity"},
		{"representative.", "console.payouts.due.identity"}, {"person_", "console.payouts.due.identity"},
		{"owners.", "console.payouts.due.identity"}, {"directors.", "console.payouts.due.identity"},
		{"executives.", "console.payouts.due.identity"}, {"external_account", "console.payouts.due.bank"},
		{"tos_acceptance.", "console.payouts.due.terms"},
	} {
		if strings.HasPrefix(name, g.prefix) {
			return g.key
		}
	}
	return "console.payouts.due.other"
}

// leftToDo is what Stripe still asks of her, one line a group, each once.
func leftToDo(loc locale.Locale, due []string) []string {
	seen := map[string]bool{}
	for _, name := range due {
		seen[dueGroup(name)] = true
	}
	var out []string
	for _, key := range dueOrder {
		if seen[key] {
			out = append(out, loc.T(key))
		}
	}
	return out
}

// payoutsPage says where her payouts stand, from what the service has recorded (Stripe's
// account.updated keeps it current, so she need not go back through Stripe's pages to see it).
func (k *Console) payoutsPage(r *request) (view, error) {
	p, err := k.payouts.PayoutStatus(r.c.UserContext(), r.sess.UserID, false)
	if err != nil {
		return view{}, err
	}
	return payoutsPageOf(r, p, "console.payouts.title"), nil
}

// payoutsPageOf says where p stands under the heading title ("" for the state's own heading,
// as the page Stripe sends her back to has): with what is left and the button to Stripe while
// onboarding is unfinished, and the button to start before it began.
func payoutsPageOf(r *request, p account.Payouts, title string) view {
	state := payoutsState(p)
	if title == "" {
		title = "console.payouts.done." + state + "_title"
	}
	v := payoutsView{base: r.base, State: state, Body: r.loc.T("console.payouts." + state)}
	v.Title = r.loc.T(title)
	switch state {
	case "incomplete":
		v.Button, v.Left = r.loc.T("console.payouts.continue"), leftToDo(r.loc, p.CurrentlyDue)
	case "none":
		v.Button = r.loc.T("console.payouts.start")
	}
	return view{name: "designer_payouts", data: v}
}

// startOnboarding sends her to Stripe's onboarding, her connected account made once.
func (k *Console) startOnboarding(r *request) (view, error) {
	link, err := k.payouts.StartOnboarding(r.c.UserContext(), r.sess.UserID,
		k.publicURL+"/designer/payouts/done", k.publicURL+"/designer/payouts/refresh")
	if err != nil {
		return view{}, err
	}
	return view{redirect: link}, nil
}

// onboardingDone is where Stripe sends her back, finished or not: Stripe is asked where her
// account stands, so the page says what is true now rather than what a webhook may say later.
func (k *Console) onboardingDone(r *request) (view, error) {
	p, err := k.payouts.PayoutStatus(r.c.UserContext(), r.sess.UserID, true)
	if err != nil {
		return view{}, err
	}
	if p.Started {
		return payoutsPageOf(r, p, ""), nil
	}
	// She came here without ever starting: the payouts page is where to begin.
	return view{redirect: "/designer/payouts"}, nil
}

// onboardingExpired is where Stripe sends her when the link was used already or too old; a
// new one is one button away (a POST, so a link someone else sends her cannot start it).
func (k *Console) onboardingExpired(r *request) (view, error) {
	v := payoutsView{base: r.base, State: "expired", Body: r.loc.T("console.payouts.expired"), Button: r.loc.T("console.payouts.fresh")}
	v.Title = r.loc.T("console.payouts.expired_title")
	return view{name: "designer_payouts", data: v}, nil
}
