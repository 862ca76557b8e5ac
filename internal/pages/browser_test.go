package pages_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"

	"github.com/backstitch/backstitch/internal/browser"
)

// tab opens a page in its own incognito context with the browser's languages; one timeout
// bounds everything the test does in it.
func tab(t *testing.T, languages string) *rod.Page {
	t.Helper()
	return browser.Tab(t, languages).Timeout(20 * time.Second)
}

func navigate(t *testing.T, p *rod.Page, url string) {
	t.Helper()
	if err := p.Navigate(url); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLoad(); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, p *rod.Page, selector string) string {
	t.Helper()
	el, err := p.Element(selector)
	if err != nil {
		t.Fatalf("%s: %v", selector, err)
	}
	s, err := el.Text()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A backer opens the home page, finds the Geneva campaign, clicks through to it and sees its
// rewards with what is left of each; "back this" leads to the reward's pledge form.
func TestBrowserBackerFindsCampaignAndTiers(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	d := s.demo()
	p := tab(t, "en-GB,en")
	navigate(t, p, s.base+"/")
	link, err := p.ElementR("a", "Lake Léman linen")
	if err != nil {
		t.Fatal(err)
	}
	wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	if err := link.Click(proto.InputMouseButtonLeft, 1); err != nil {
		t.Fatal(err)
	}
	wait()
	if info := p.MustInfo(); !strings.HasSuffix(info.URL, "/campaigns/"+d.Geneva.Slug) {
		t.Fatalf("clicked through to %s", info.URL)
	}
	tiers, err := p.Elements(".tier")
	if err != nil || len(tiers) != 4 {
		t.Fatalf("%d tiers, %v", len(tiers), err)
	}
	want := map[string]string{
		"The Pâquis linen coat":               "37 left of 40",
		"Zero-waste pattern-cutting workshop": "9 left of 12",
		"Guided tour of Geneva's ateliers":    "19 left of 20",
	}
	for _, tier := range tiers {
		title := tier.MustElement("h3").MustText()
		body := tier.MustText()
		if left, ok := want[title]; ok && !strings.Contains(body, left) {
			t.Errorf("%s: %q lacks %q", title, body, left)
		}
		if strings.Contains(title, "workshop") && !strings.Contains(body, "nothing ships") {
			t.Errorf("workshop says it ships: %q", body)
		}
	}
	// The progress bar is drawn by the stylesheet, which the policy lets load.
	if w := p.MustEval(`() => getComputedStyle(document.querySelector('progress')).width`).Str(); w == "" || w == "auto" {
		t.Errorf("stylesheet not applied: progress width %q", w)
	}
	back, err := p.ElementR("#tier-"+d.Geneva.Tiers["Zero-waste pattern-cutting workshop"]+" a", "Back this")
	if err != nil {
		t.Fatal(err)
	}
	wait = p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	back.MustClick()
	wait()
	if h := text(t, p, "h1"); h != "Back: Zero-waste pattern-cutting workshop" {
		t.Errorf("pledge page heading %q", h)
	}
	if price := text(t, p, ".reward .price"); price != "CHF\u00a090.00" {
		t.Errorf("pledge page price %q", price)
	}
}

// A browser set to French gets French; the visible switch turns it to English, which stays.
func TestBrowserFrenchAndTheSwitch(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	d := s.demo()
	p := tab(t, "fr-CH,fr")
	navigate(t, p, s.base+"/campaigns/"+d.Geneva.Slug)
	if lang := p.MustEval(`() => document.documentElement.lang`).Str(); lang != "fr" {
		t.Fatalf("lang %q", lang)
	}
	if h := text(t, p, "#rewards"); h != "Contreparties" {
		t.Errorf("rewards heading %q", h)
	}
	if fig := text(t, p, ".figures"); fig != "1\u202f396.00\u00a0CHF\npromis sur 15\u202f000.00\u00a0CHF" {
		t.Errorf("figures %q", fig)
	}
	sw := p.MustElement("a.lang")
	if sw.MustText() != "English" {
		t.Fatalf("switch says %q", sw.MustText())
	}
	wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	sw.MustClick()
	wait()
	if info := p.MustInfo(); !strings.HasSuffix(info.URL, "/campaigns/"+d.Geneva.Slug) {
		t.Errorf("switch landed on %s", info.URL)
	}
	navigate(t, p, s.base+"/")
	if lang := p.MustEval(`() => document.documentElement.lang`).Str(); lang != "en" {
		t.Errorf("the choice was not remembered: lang %q", lang)
	}
	if h := text(t, p, "h1"); h != "Back independent fashion" {
		t.Errorf("home heading %q", h)
	}
}

// Hostile text shows as the characters typed and runs nothing.
func TestBrowserHostileTextShownAsText(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	c := s.hostileCampaign()
	p := tab(t, "en")
	navigate(t, p, s.base+"/campaigns/"+c.Slug)
	if h := text(t, p, "h1"); h != hostileTitle {
		t.Errorf("title shown as %q", h)
	}
	if got := text(t, p, "#tier-"+c.Tiers[hostileTier]+" h3"); got != hostileTier {
		t.Errorf("tier title shown as %q", got)
	}
	if n := p.MustEval(`() => document.querySelectorAll('script:not([src]), script[src]:not([src^="/static/app."]), img, b').length`).Int(); n != 0 {
		t.Errorf("%d elements came from user text", n)
	}
	if story := text(t, p, ".story"); !strings.Contains(story, "First <script>alert(1)</script>") {
		t.Errorf("story shown as %q", story)
	}
}

// A backer opens her magic link in a real browser (the token leaves the address bar), changes her
// coat's size with the keyboard-free form, and cancels; the forms post under the page's policy.
func TestBrowserBackerChangesAndCancelsHerPledge(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t)
	d := s.demo()
	mine := s.pledgeCoat(d, "Camille")
	p := tab(t, "en-GB,en")
	navigate(t, p, s.base+"/pledges/"+mine.id+"/manage?token="+url.QueryEscape(mine.token))
	if info := p.MustInfo(); info.URL != s.base+"/pledges/"+mine.id {
		t.Fatalf("the magic link left the browser at %s", info.URL)
	}
	click := func(selector, label string) {
		t.Helper()
		el, err := p.ElementR(selector, label)
		if err != nil {
			t.Fatalf("%s %q: %v", selector, label, err)
		}
		wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
		el.MustClick()
		wait()
	}
	click("a", "Change my pledge")
	p.MustElement(`select[name="option_b"]`).MustSelect("XL")
	click("button", "Save the change")
	if got := text(t, p, "main"); !strings.Contains(got, "Your pledge was changed.") {
		t.Fatalf("after saving: %q", got)
	}
	if body := text(t, p, "main"); !strings.Contains(body, "XL") {
		t.Fatalf("the page does not show the new size: %q", body)
	}
	click("a", "Cancel my pledge")
	click("button", "Yes, cancel my pledge")
	if got := text(t, p, ".flash"); got != "Your pledge was cancelled." {
		t.Fatalf("after cancelling: %q", got)
	}
	if got := s.apiPledge(mine); got["status"] != "cancelled" || got["options"].(map[string]any)["Size"] != "XL" {
		t.Fatalf("the API says %v %v", got["status"], got["options"])
	}
}
