package pages_test

import (
	"os"
	"strings"
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"

	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/pledge"
)

// click clicks the element and waits for the page it leads to.
func click(t *testing.T, p *rod.Page, selector string) {
	t.Helper()
	el, err := p.Element(selector)
	if err != nil {
		t.Fatalf("%s: %v", selector, err)
	}
	wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	if err := el.Click(proto.InputMouseButtonLeft, 1); err != nil {
		t.Fatal(err)
	}
	wait()
}

func fill(t *testing.T, p *rod.Page, selector, value string) {
	t.Helper()
	el, err := p.Element(selector)
	if err != nil {
		t.Fatalf("%s: %v", selector, err)
	}
	if err := el.SelectAllText(); err != nil {
		t.Fatal(err)
	}
	if err := el.Input(value); err != nil {
		t.Fatal(err)
	}
}

// toWorkshopCheckout goes from the home page to the workshop's form, fills it in and sends it:
// the browser lands on the offline Checkout.
func toWorkshopCheckout(t *testing.T, s *site, p *rod.Page, name, note string) {
	t.Helper()
	navigate(t, p, s.base+"/")
	click(t, p, `.card a[href="/campaigns/`+s.geneva.Slug+`"]`)
	click(t, p, `#tier-`+s.geneva.Tiers[workshop]+` a.button`)
	fill(t, p, "#name", name)
	fill(t, p, "#email", "ana@example.com")
	fill(t, p, "#note", note)
	click(t, p, `form button[type=submit]`)
	if info := p.MustInfo(); !strings.Contains(info.URL, "/_stripedouble/checkout/") {
		t.Fatalf("the form led to %s, not Checkout", info.URL)
	}
}

// pledgesOf lists the pledges of the Geneva campaign in the store.
func (s *site) pledgesOf(campaignID string) []pledge.Pledge {
	s.t.Helper()
	var out []pledge.Pledge
	if err := s.store.FindCampaignPledges(s.t.Context(), campaignID, func(p pledge.Pledge) error {
		out = append(out, p)
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// A backer finds the campaign on the home page, pledges for the limited workshop through the
// offline Checkout with 4242…, lands on the thanks page with the pledge active, and the
// workshop's remaining places drop by one.
func TestBrowserPledgeThroughCheckout(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	s.geneva = s.demo().Geneva
	p := tab(t, "en-GB,en")
	toWorkshopCheckout(t, s, p, "Ana Muster", "")
	if h := text(t, p, "h1"); h != "Save your card" {
		t.Errorf("checkout heading %q", h)
	}
	fill(t, p, "#card_number", "4242 4242 4242 4242")
	click(t, p, "#submit")
	if info := p.MustInfo(); !strings.Contains(info.URL, "/thanks?session_id=cs_test_") {
		t.Fatalf("Checkout returned to %s", info.URL)
	}
	if h := text(t, p, "h1"); h != "Thank you for your pledge" {
		t.Errorf("thanks heading %q", h)
	}
	if st := text(t, p, "#pledge-status"); !strings.Contains(st, "Your pledge is active") {
		t.Errorf("thanks status %q", st)
	}
	if path := os.Getenv("BACKSTITCH_AXE"); path != "" {
		browser.CheckAxe(t, p, browser.AxeScript(t), "thanks")
	}
	navigate(t, p, s.base+"/campaigns/"+s.geneva.Slug)
	if left := text(t, p, "#tier-"+s.geneva.Tiers[workshop]+" .remaining"); left != "8 left of 12" {
		t.Errorf("workshop places after the pledge: %q, want 8 left of 12", left)
	}
}

// A declined card: Checkout says so and lets the backer try again; nothing is saved.
func TestBrowserDeclinedCardOnCheckout(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	s.geneva = s.demo().Geneva
	p := tab(t, "en")
	toWorkshopCheckout(t, s, p, "Ana Muster", "")
	p.MustElement(`input[value="4000000000000002"]`).MustClick()
	click(t, p, "#submit")
	if msg := text(t, p, "#checkout-error"); msg != "Your card was declined." {
		t.Errorf("decline message %q", msg)
	}
	if info := p.MustInfo(); !strings.Contains(info.URL, "/_stripedouble/checkout/") {
		t.Errorf("a declined card left Checkout for %s", info.URL)
	}
	pledges := s.pledgesOf(s.geneva.ID)
	var mine []pledge.Pledge
	for _, pl := range pledges {
		if pl.Backer.Email == "ana@example.com" {
			mine = append(mine, pl)
		}
	}
	if len(mine) != 1 || mine[0].Status != pledge.StatusPending || mine[0].PaymentMethodID != "" {
		t.Fatalf("after the decline: %+v", mine)
	}
	// Trying again with a good card works on the same page.
	fill(t, p, "#card_number", "4242424242424242")
	click(t, p, "#submit")
	if st := text(t, p, "#pledge-status"); !strings.Contains(st, "Your pledge is active") {
		t.Errorf("after trying again: %q", st)
	}
}

// 3-D Secure: a failed challenge keeps the backer on Checkout, an approved one completes the pledge.
func TestBrowserThreeDSecure(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	s.geneva = s.demo().Geneva
	p := tab(t, "en")
	toWorkshopCheckout(t, s, p, "Ana Muster", "")
	fill(t, p, "#card_number", "4000 0027 6000 3184")
	click(t, p, "#submit")
	if h := text(t, p, "h1"); h != "3-D Secure authentication" {
		t.Fatalf("3DS step heading %q", h)
	}
	click(t, p, "#fail")
	if msg := text(t, p, "#checkout-error"); !strings.Contains(msg, "unable to authenticate") {
		t.Errorf("failed authentication message %q", msg)
	}
	fill(t, p, "#card_number", "4000 0027 6000 3184")
	click(t, p, "#submit")
	click(t, p, "#approve")
	if st := text(t, p, "#pledge-status"); !strings.Contains(st, "Your pledge is active") {
		t.Errorf("after approving: %q", st)
	}
}

// A pledge in French, from the form to the thanks page.
func TestBrowserPledgeInFrench(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	s.geneva = s.demo().Geneva
	p := tab(t, "fr-CH,fr")
	toWorkshopCheckout(t, s, p, "Inès Favre", "")
	click(t, p, "#submit")
	if h := text(t, p, "h1"); h != "Merci pour votre contribution" {
		t.Errorf("French thanks heading %q", h)
	}
	if lang := p.MustEval(`() => document.documentElement.lang`).Str(); lang != "fr" {
		t.Errorf("lang %q", lang)
	}
}

// What a backer types comes back as text: a hostile name and note shown again after an error
// run nothing; a form without its CSRF token is refused.
func TestBrowserHostileFormInputAndCSRF(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	s.geneva = s.demo().Geneva
	p := tab(t, "en")
	navigate(t, p, s.base+"/campaigns/"+s.geneva.Slug+"/pledge?tier="+s.geneva.Tiers[workshop])
	const name, note = `"><img src=x onerror=alert(1)>`, "</textarea><script>alert(2)</script>"
	fill(t, p, "#name", name)
	fill(t, p, "#email", "not an email")
	fill(t, p, "#note", note)
	click(t, p, `form button[type=submit]`)
	if got := p.MustElement("#name").MustProperty("value").Str(); got != name {
		t.Errorf("name shown again as %q", got)
	}
	if got := p.MustElement("#note").MustProperty("value").Str(); got != note {
		t.Errorf("note shown again as %q", got)
	}
	if n := p.MustEval(`() => document.querySelectorAll('script:not([src]), script[src]:not([src^="/static/app."]), img').length`).Int(); n != 0 {
		t.Errorf("%d elements came from the backer's text", n)
	}
	if desc := p.MustElement("#email").MustAttribute("aria-describedby"); desc == nil || !strings.Contains(*desc, "email-error") {
		t.Errorf("email error not tied to its field: %v", desc)
	}
	if path := os.Getenv("BACKSTITCH_AXE"); path != "" {
		browser.CheckAxe(t, p, browser.AxeScript(t), "form with errors")
	}
	p.MustEval(`() => document.querySelector('input[name=csrf_token]').remove()`)
	fill(t, p, "#email", "ana@example.com")
	click(t, p, `form button[type=submit]`)
	if h := text(t, p, "h1"); h != "This form has expired" {
		t.Errorf("a form without its token: %q", h)
	}
}
