//go:build !production

package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/testenv"
)

// pledgeCard pledges amount (CHF cents, no reward) to the Geneva campaign through the API and
// saves the card pm on it.
func (s *site) pledgeCard(d seed.Demo, name, pm string, amount int64) pledged {
	s.t.Helper()
	ctx := context.Background()
	body := map[string]any{"amount": map[string]any{"amount": amount, "currency": "CHF"},
		"backer": map[string]any{"email": strings.ToLower(strings.Fields(name)[0]) + "@example.com", "name": name}}
	p, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+d.Geneva.Slug+"/pledges", "", body, "Idempotency-Key", backstitch.NewID("t"))
	if err != nil {
		s.t.Fatal(err)
	}
	out := pledged{p["id"].(string), p["manage_token"].(string)}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/pledges/"+out.id+"/confirm", "",
		map[string]any{"payment_method": pm}, "X-Manage-Token", out.token); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// failedDeadline makes the Geneva campaign reach its goal with one big pledge, adds pledges whose
// saved card (4000 0000 0000 0341) is declined at the deadline, and settles it: those pledges
// are in dunning. (4000 0000 0000 0002 is declined already when the card is saved, so it can
// never reach a deadline charge.)
func (s *site) failedDeadline(d seed.Demo, names ...string) []pledged {
	s.t.Helper()
	s.pledgeCard(d, "Patron Big", "pm_card_visa", 1_500_000)
	var out []pledged
	for _, n := range names {
		out = append(out, s.pledgeCard(d, n, "pm_card_chargeCustomerFail", 12_000))
	}
	camp, err := s.store.FindCampaign(context.Background(), d.Geneva.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	s.clock.Advance(camp.Deadline.Sub(s.clock.Now()) + time.Second)
	if err := s.app.Settler().Tick(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.waitWebhooks()
	for _, p := range out {
		if st := s.stored(p.id).Status; st != pledge.StatusPaymentFailed {
			s.t.Fatalf("pledge %s after the deadline: %s, want payment_failed", p.id, st)
		}
	}
	return out
}

func (s *site) waitWebhooks() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.app.Double().WaitWebhooks(ctx); err != nil {
		s.t.Fatalf("webhooks not delivered: %v", err)
	}
}

func (s *site) stored(id string) pledge.Pledge {
	s.t.Helper()
	p, err := s.store.FindPledge(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// charges counts the double's PaymentIntents for a pledge, and those that succeeded.
func (s *site) charges(pledgeID string) (all, succeeded int) {
	for _, pi := range s.app.Double().PaymentIntents() {
		if pi.Metadata["pledge_id"] == pledgeID {
			all++
			if pi.Status == "succeeded" {
				succeeded++
			}
		}
	}
	return all, succeeded
}

// fixLink is the link of the charge-failed message of a pledge, as a path on the site.
func (s *site) fixLink(id string) string {
	s.t.Helper()
	msgs, err := s.store.RecentMessages(context.Background(), 100)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Kind == notify.ChargeFailed && strings.Contains(m.Data["fix_url"], "/pledges/"+id+"/") {
			u, err := url.Parse(m.Data["fix_url"])
			if err != nil {
				s.t.Fatal(err)
			}
			return u.RequestURI()
		}
	}
	s.t.Fatalf("no charge-failed message with a fix link for %s", id)
	return ""
}

// The charge-failed message's link opens the pledge on any device, straight at "pay with another
// card"; the page says why the charge failed in plain words; the new card saved on Checkout is
// charged at once, exactly once, whatever is replayed; another pledge's cookie or session opens
// nothing; after the window the button is gone and a crafted form is refused.
func TestBackerPaysWithAnotherCardAfterAFailedCharge(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	failed := s.failedDeadline(d, "Camille Rochat", "Jonas Weber")
	mine, other := failed[0], failed[1]
	ctx := context.Background()

	// The message's link, not the original manage token: it works in a browser that never saw
	// the pledge, and lands on the fix-payment panel.
	v := s.formVisitor()
	link := s.fixLink(mine.id)
	if !strings.HasPrefix(link, "/pledges/"+mine.id+"/manage?token=") || strings.Contains(link, url.QueryEscape(mine.token)) {
		t.Fatalf("charge-failed link %q", link)
	}
	p := v.do("GET", link, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/pledges/"+mine.id+"#fix-payment" {
		t.Fatalf("fix link: %d to %q", p.status, p.header.Get("Location"))
	}
	// The link of one pledge opens no other.
	if p := s.formVisitor().do("GET", strings.Replace(link, mine.id, other.id, 1), nil); p.status != http.StatusForbidden {
		t.Errorf("mine's fix link on the other pledge: %d", p.status)
	}
	p = v.do("GET", "/pledges/"+mine.id, nil)
	testenv.CheckHTML(t, "manage in dunning", p.body, "en")
	mustContain(t, "manage in dunning", p.body, `id="fix-payment"`, "Your bank declined the payment.", `action="/pledges/`+mine.id+`/fix"`)
	if strings.Contains(p.body, "Your card was declined.") {
		t.Errorf("the page shows Stripe's own message")
	}
	token := csrfField.FindStringSubmatch(p.body)[1]

	// Another pledge's cookie cannot start a session for this one.
	o := s.formVisitor()
	if p := o.do("GET", "/pledges/"+other.id+"/manage?token="+url.QueryEscape(other.token), nil); p.status != http.StatusSeeOther {
		t.Fatalf("other's magic link: %d", p.status)
	}
	otherPage := o.do("GET", "/pledges/"+other.id, nil)
	otherToken := csrfField.FindStringSubmatch(otherPage.body)[1]
	target, _ := url.Parse(s.base + "/pledges/" + mine.id + "/fix")
	o.client.Jar.SetCookies(target, []*http.Cookie{{Name: "manage_token", Value: other.token, Path: "/pledges/" + mine.id}})
	if p := o.do("POST", "/pledges/"+mine.id+"/fix", url.Values{"csrf_token": {otherToken}}); p.status != http.StatusForbidden {
		t.Errorf("fix with another pledge's token: %d", p.status)
	}
	if got := s.stored(mine.id).FixCheckoutID; got != "" {
		t.Fatalf("another pledge's cookie opened session %s", got)
	}
	// And without the CSRF token nothing happens either.
	if p := v.do("POST", "/pledges/"+mine.id+"/fix", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("fix without a CSRF token: %d", p.status)
	}

	before, _ := s.charges(mine.id)
	p = v.do("POST", "/pledges/"+mine.id+"/fix", url.Values{"csrf_token": {token}})
	checkout := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.Contains(checkout, "/_stripedouble/checkout/") {
		t.Fatalf("fix: %d → %q\n%s", p.status, checkout, p.body)
	}
	session := s.stored(mine.id).FixCheckoutID
	if !strings.HasPrefix(session, "cs_") {
		t.Fatalf("the pledge records session %q", session)
	}
	// A card declined on Checkout itself saves nothing and charges nothing.
	if p := v.do("POST", checkout, url.Values{"card_number": {"4000 0000 0000 0002"}}); p.status != http.StatusPaymentRequired {
		t.Errorf("declined card on Checkout: %d", p.status)
	}
	p = v.do("POST", checkout, url.Values{"card_number": {"4242 4242 4242 4242"}})
	back := p.header.Get("Location")
	if p.status != http.StatusSeeOther || back != s.base+"/pledges/"+mine.id+"/fixed?session_id="+session {
		t.Fatalf("pay on Checkout: %d → %q", p.status, back)
	}
	p = v.do("GET", back, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/pledges/"+mine.id+"?done=fixed" {
		t.Fatalf("back from Checkout: %d → %q", p.status, p.header.Get("Location"))
	}
	p = v.do("GET", "/pledges/"+mine.id+"?done=fixed", nil)
	mustContain(t, "after the fix", p.body, "Your new card was charged.", "Your card was charged.")
	if strings.Contains(p.body, `id="fix-payment"`) {
		t.Errorf("a collected pledge still offers to pay with another card")
	}
	s.waitWebhooks()

	// Replays: the return page again, the completion event again under a new id, and a new
	// fix form: nothing is charged a second time.
	v.do("GET", back, nil)
	if err := s.app.Pledges().ApplyEvent(ctx, pledge.Event{ID: "evt_replayed", Type: "checkout.session.completed",
		CheckoutSessionID: session, PledgeID: mine.id}); err != nil {
		t.Fatal(err)
	}
	if p := v.do("POST", "/pledges/"+mine.id+"/fix", url.Values{"csrf_token": {token}}); p.status != http.StatusConflict ||
		!strings.Contains(p.body, "This pledge is paid") {
		t.Errorf("fix on a collected pledge: %d", p.status)
	}
	s.waitWebhooks()
	got := s.stored(mine.id)
	all, succeeded := s.charges(mine.id)
	if got.Status != pledge.StatusCollected || succeeded != 1 || all != before+1 || got.ChargeID == "" {
		t.Fatalf("after the fix and its replays: %s, %d payment intents (%d before), %d succeeded", got.Status, all, before, succeeded)
	}

	// Mine's session presented on the other pledge (its return page, an event naming it)
	// attaches no card there.
	otherBefore := s.stored(other.id)
	o.client.Jar.SetCookies(target, []*http.Cookie{{Name: "manage_token", Value: "", Path: "/pledges/" + mine.id, MaxAge: -1}})
	o.do("GET", "/pledges/"+other.id+"/fixed?session_id="+session, nil)
	if err := s.app.Pledges().ApplyEvent(ctx, pledge.Event{ID: "evt_crossed", Type: "checkout.session.completed",
		CheckoutSessionID: session, PledgeID: other.id}); err != nil {
		t.Fatal(err)
	}
	if after := s.stored(other.id); after.PaymentMethodID != otherBefore.PaymentMethodID || after.Status != pledge.StatusPaymentFailed ||
		after.ChargeAttempts != otherBefore.ChargeAttempts {
		t.Fatalf("mine's session changed the other pledge: %+v", after)
	}

	// After the window: no button, and a crafted form is refused with the reason.
	s.clock.Advance(s.app.Pledges().Dunning().Window)
	p = o.do("GET", "/pledges/"+other.id, nil)
	if strings.Contains(p.body, `id="fix-payment"`) || !strings.Contains(p.body, "the time to pay with another card has ended") {
		t.Errorf("manage page after the window:\n%s", p.body)
	}
	p = o.do("POST", "/pledges/"+other.id+"/fix", url.Values{"csrf_token": {otherToken}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "The time to pay with another card has ended.") {
		t.Errorf("fix after the window: %d\n%s", p.status, p.body)
	}
	if got := s.stored(other.id).FixCheckoutID; got != "" {
		t.Errorf("a session was opened after the window: %s", got)
	}
}

// A setup event that arrives while a pledge is in dunning (the first card's, late) is not a
// payment: the pledge stays in dunning.
func TestLateSetupEventDoesNotCollectAPledgeInDunning(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	mine := s.failedDeadline(d, "Camille Rochat")[0]
	p := s.stored(mine.id)
	err := s.app.Pledges().ApplyEvent(context.Background(), pledge.Event{ID: "evt_late", Type: "setup_intent.succeeded",
		Intent: &pledge.Intent{ID: p.SetupIntentID, Status: pledge.IntentSucceeded, PaymentMethodID: p.PaymentMethodID, Setup: true}, PledgeID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.stored(mine.id); got.Status != pledge.StatusPaymentFailed {
		t.Fatalf("a late setup event moved the pledge to %s", got.Status)
	}
}

// A backer who reads French gets the fix-payment panel, and Stripe Checkout, in French.
func TestFixPaymentInFrench(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	mine := s.failedDeadline(d, "Inès Favre")[0]
	v := s.formVisitor()
	v.lang = "fr-CH,fr"
	v.do("GET", s.fixLink(mine.id), nil)
	p := v.do("GET", "/pledges/"+mine.id, nil)
	testenv.CheckHTML(t, "manage in dunning, French", p.body, "fr")
	mustContain(t, "manage in dunning, French", p.body, "Votre banque a refusé le paiement.", ">Payer avec une autre carte</button>")
	p = v.do("POST", "/pledges/"+mine.id+"/fix", url.Values{"csrf_token": {csrfField.FindStringSubmatch(p.body)[1]}})
	checkout := v.do("GET", p.header.Get("Location"), nil)
	mustContain(t, "Checkout, French", checkout.body, `<html lang="fr">`, "Enregistrez votre carte", ">Enregistrer la carte</button>")
}

// A card saved on Checkout whose completion never reached the service (no webhook, the backer
// closed the tab) is charged when she asks for another session; that one opens only because the
// saved card was declined too.
func TestEarlierFixSessionIsChargedBeforeAnotherOpens(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	mine := s.failedDeadline(d, "Camille Rochat")[0]
	s.app.Double().SetWebhookFaults(stripedouble.WebhookFaults{DropRate: 1})
	v := s.formVisitor()
	v.do("GET", s.fixLink(mine.id), nil)
	token := csrfField.FindStringSubmatch(v.do("GET", "/pledges/"+mine.id, nil).body)[1]
	first := v.do("POST", "/pledges/"+mine.id+"/fix", url.Values{"csrf_token": {token}}).header.Get("Location")
	// 4000 0000 0000 0341 saves fine and declines when charged.
	if p := v.do("POST", first, url.Values{"card_number": {"4000000000000341"}}); p.status != http.StatusSeeOther {
		t.Fatalf("save the card: %d", p.status)
	}
	before := s.stored(mine.id)
	if before.FixCheckoutID == "" || before.ChargeAttempts != 1 {
		t.Fatalf("the completion reached the pledge without webhook or return: %+v", before)
	}
	p := v.do("POST", "/pledges/"+mine.id+"/fix", url.Values{"csrf_token": {token}})
	second := p.header.Get("Location")
	if p.status != http.StatusSeeOther || second == first || !strings.Contains(second, "/_stripedouble/checkout/") {
		t.Fatalf("fix again: %d → %q\n%s", p.status, second, p.body)
	}
	after := s.stored(mine.id)
	if after.ChargeAttempts != 2 || after.Status != pledge.StatusPaymentFailed || after.PaymentMethodID == before.PaymentMethodID {
		t.Fatalf("the earlier session's card was not tried: %+v", after)
	}
	if all, succeeded := s.charges(mine.id); all != 2 || succeeded != 0 {
		t.Fatalf("%d charges, %d succeeded", all, succeeded)
	}
}
