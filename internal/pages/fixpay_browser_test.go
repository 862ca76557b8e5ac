//go:build !production

package pages_test

import (
	"os"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/pledge"
)

// A backer whose deadline charge failed opens the link of the message, reads why, pays with
// another card on the offline Checkout (a declined one first), and comes back to her pledge
// collected, charged once.
func TestBrowserPayWithAnotherCard(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	d := s.demo()
	mine := s.failedDeadline(d, "Camille Rochat")[0]
	p := tab(t, "en-GB,en")
	navigate(t, p, s.base+s.fixLink(mine.id))
	if info := p.MustInfo(); !strings.HasSuffix(info.URL, "/pledges/"+mine.id+"#fix-payment") {
		t.Fatalf("the message's link led to %s", info.URL)
	}
	if why := text(t, p, "#fix-reason"); why != "Your bank declined the payment." {
		t.Errorf("decline shown as %q", why)
	}
	if path := os.Getenv("BACKSTITCH_AXE"); path != "" {
		browser.CheckAxe(t, p, browser.AxeScript(t), "manage in dunning")
	}
	click(t, p, "#fix-card")
	if info := p.MustInfo(); !strings.Contains(info.URL, "/_stripedouble/checkout/") {
		t.Fatalf("the button led to %s, not Checkout", info.URL)
	}
	p.MustElement(`input[value="4000000000000002"]`).MustClick()
	click(t, p, "#submit")
	if msg := text(t, p, "#checkout-error"); msg != "Your card was declined." {
		t.Errorf("decline on Checkout: %q", msg)
	}
	fill(t, p, "#card_number", "4242 4242 4242 4242")
	click(t, p, "#submit")
	if info := p.MustInfo(); !strings.HasSuffix(info.URL, "/pledges/"+mine.id+"?done=fixed") {
		t.Fatalf("Checkout returned to %s", info.URL)
	}
	if msg := text(t, p, "#manage-flash"); msg != "Your new card was charged. Thank you!" {
		t.Errorf("flash %q", msg)
	}
	if n := p.MustEval(`() => document.querySelectorAll('#fix-payment').length`).Int(); n != 0 {
		t.Errorf("the fix panel is still there")
	}
	s.waitWebhooks()
	if got := s.stored(mine.id); got.Status != pledge.StatusCollected {
		t.Errorf("pledge %s", got.Status)
	}
	if _, succeeded := s.charges(mine.id); succeeded != 1 {
		t.Errorf("%d successful charges", succeeded)
	}
}
