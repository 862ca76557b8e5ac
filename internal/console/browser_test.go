package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"

	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/locale"
)

// tab opens a page in its own incognito context with the browser's languages. Each step gets
// its own timeout (see step): one for the whole tab would run out across the many pages a test
// visits.
func tab(t *testing.T, languages string) *rod.Page {
	t.Helper()
	return browser.Tab(t, languages)
}

// step bounds one browser step.
func step(p *rod.Page) *rod.Page { return p.Timeout(20 * time.Second) }

func navigate(t *testing.T, p *rod.Page, url string) {
	t.Helper()
	p = step(p)
	if err := p.Navigate(url); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLoad(); err != nil {
		t.Fatal(err)
	}
}

// fill types into the inputs named by selector, clearing what is there.
func fill(t *testing.T, p *rod.Page, values map[string]string) {
	t.Helper()
	p = step(p)
	for sel, v := range values {
		el, err := p.Element(sel)
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		if tag := el.MustEval(`() => this.tagName`).Str(); tag == "SELECT" {
			if err := el.Select([]string{v}, true, rod.SelectorTypeText); err != nil {
				t.Fatalf("%s: %v", sel, err)
			}
			continue
		}
		if typ := el.MustEval(`() => this.type`).Str(); typ == "date" || typ == "month" {
			// Date inputs take their value, not keystrokes, the same in every locale.
			el.MustEval(`(v) => { this.value = v }`, v)
			continue
		}
		if err := el.SelectAllText(); err != nil {
			t.Fatal(err)
		}
		if err := el.Input(v); err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
	}
}

// submit clicks the button and waits for the page the form leads to.
func submit(t *testing.T, p *rod.Page, button string) {
	t.Helper()
	p = step(p)
	el, err := p.Element(button)
	if err != nil {
		t.Fatalf("%s: %v", button, err)
	}
	wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	if err := el.Click(proto.InputMouseButtonLeft, 1); err != nil {
		t.Fatal(err)
	}
	wait()
}

func textOf(t *testing.T, p *rod.Page, selector string) string {
	t.Helper()
	p = step(p)
	el, err := p.Element(selector)
	if err != nil {
		t.Fatalf("%s: %v", selector, err)
	}
	return el.MustText()
}

// A designer signs up, creates a campaign with two rewards (a coat and a workshop), submits it
// for review; an admin approves it through the API; she launches it from the console and her
// dashboard shows it live.
func TestBrowserDesignerFromSignUpToLaunch(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t, nil)
	p := tab(t, "en-GB,en")
	navigate(t, p, s.base+"/designer")
	if !strings.HasSuffix(p.MustInfo().URL, "/designer/login?next=%2Fdesigner") {
		t.Fatalf("anonymous landed on %s", p.MustInfo().URL)
	}
	navigate(t, p, s.base+"/designer/signup")
	fill(t, p, map[string]string{"#name": "Ana Muster", "#email": "ana@atelier.example", "#password": password})
	submit(t, p, "form.stack button[type=submit]")
	if h := textOf(t, p, "h1"); h != "My campaigns" {
		t.Fatalf("after sign-up: %q", h)
	}
	submit(t, p, "a.button[href='/designer/campaigns/new']")
	fill(t, p, map[string]string{"#title": "Lake Léman linen", "#blurb": "Coats woven from Swiss linen.",
		"#story": "Woven by **hand** in Geneva.", "#goal": "15000", "#deadline": "2026-12-10", "#funding_model": "All or nothing"})
	if tz := p.MustElement("#timezone").MustProperty("value").Str(); tz != "Europe/Zurich" {
		t.Errorf("default time zone %q", tz)
	}
	submit(t, p, "form.editor button[type=submit]")
	if n := textOf(t, p, ".notice-ok"); !strings.Contains(n, "Draft created") {
		t.Fatalf("after create: %q", n)
	}
	editorURL := strings.SplitN(p.MustInfo().URL, "?", 2)[0]
	for _, tier := range []map[string]string{
		{"#tier-title": "The Pâquis linen coat", "#tier-price": "320", "#tier-limit": "40", "kind": "physical"},
		{"#tier-title": "Zero-waste pattern-cutting workshop", "#tier-price": "90", "#tier-limit": "12", "kind": "experience"},
	} {
		kind := tier["kind"]
		delete(tier, "kind")
		p.MustElement("#kind-" + kind).MustClick()
		fill(t, p, tier)
		submit(t, p, "form[aria-labelledby=add-tier] button[type=submit]")
		if n := textOf(t, p, ".notice-ok"); !strings.Contains(n, "Reward added") {
			t.Fatalf("after adding %s: %q\n%s", tier["#tier-title"], n, p.MustElement("main").MustText())
		}
	}
	if n := len(p.MustElements(".tier-row")); n != 2 {
		t.Fatalf("%d tiers listed", n)
	}
	// The cover, from a file on her disk.
	cover := filepath.Join(t.TempDir(), "lake-coat.jpg")
	if err := os.WriteFile(cover, photo(t, 1600, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	p.MustElement("#cover-file").MustSetFiles(cover)
	fill(t, p, map[string]string{"#cover-alt": "A sand-coloured linen coat by the lake"})
	submit(t, p, "form[action$='/cover'] button[type=submit]")
	if n := textOf(t, p, ".notice-ok"); !strings.Contains(n, "Cover picture saved") {
		t.Fatalf("after the cover upload: %q\n%s", n, p.MustElement("main").MustText())
	}
	if w := p.MustElement(".cover-editor img.picture").MustEval(`() => this.complete && this.naturalWidth`).Int(); w != 480 {
		t.Errorf("the editor's cover is %d px wide, want the 480 px card", w)
	}
	submit(t, p, "form[action$='/submit'] button")
	if st := textOf(t, p, ".review .status"); st != "In review" {
		t.Fatalf("after submit: %q", st)
	}
	id := editorURL[strings.LastIndexByte(editorURL, '/')+1:]
	if _, err := s.api.Call(context.Background(), 200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", s.admin, nil); err != nil {
		t.Fatal(err)
	}
	navigate(t, p, editorURL)
	submit(t, p, "form[action$='/launch'] button")
	if st := textOf(t, p, ".review .status"); st != "Live" {
		t.Fatalf("after launch: %q", st)
	}
	// Locked by its fieldset, as :disabled says.
	if disabled := p.MustElement("#goal").MustEval(`() => this.matches(':disabled')`).Bool(); !disabled {
		t.Error("the goal is not locked once live")
	}
	navigate(t, p, s.base+"/designer")
	row := textOf(t, p, ".console-row")
	for _, want := range []string{"Lake Léman linen", "Live", "pledged of CHF", "0 backers", "days left"} {
		if !strings.Contains(row, want) {
			t.Errorf("dashboard row %q lacks %q", row, want)
		}
	}
	// The public page shows the story as Markdown.
	navigate(t, p, s.base+"/campaigns/lake-leman-linen")
	if b := textOf(t, p, ".story strong"); b != "hand" {
		t.Errorf("story emphasis %q", b)
	}
	// ... and the cover, loaded, with the alt text she wrote.
	img := step(p).MustElement(".campaign img.picture")
	if alt := img.MustAttribute("alt"); alt == nil || *alt != "A sand-coloured linen coat by the lake" {
		t.Errorf("public cover alt %v", alt)
	}
	if w := img.MustEval(`() => this.complete && this.naturalWidth`).Int(); w == 0 {
		t.Error("the public page's cover did not load")
	}
}

// No console page has a serious or critical accessibility violation, in either language, with
// and without errors on its forms.
func TestBrowserConsoleAccessibilityWithAxe(t *testing.T) {
	browser.ForTest(t)
	axe := browser.AxeScript(t)
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	v.addTier(editor, "Coat", "physical", "320")
	tier := tierIDs(t, s, v.cookie("session").Value, campaignID(editor))[0]
	live := launch(t, s, v.cookie("session").Value)
	backed := liveWithShipping(t, s, v.cookie("session").Value)
	back(t, s, backed, "Coat", "Eve Martin", "Size M, please.", "insta-post-3", 32000)
	session := v.cookie("session")
	// Her profile makes the public page's "about the designer" box, checked below too.
	if _, err := s.api.Call(context.Background(), 200, "PUT", "/api/v1/me/profile", session.Value, map[string]any{"name": "Ana",
		"bio": "Linen coats.\n\nMade to order.", "website": "atelier-ana.example", "instagram": "@atelier.ana", "location": "Genève"}); err != nil {
		t.Fatal(err)
	}
	pub, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+live, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range locale.Languages {
		p := tab(t, lang+"-CH,"+lang)
		for _, path := range []string{"/designer/login", "/designer/password", "/designer/password/reset?token=x", "/designer/signup"} {
			check(t, p, axe, s.base+path, lang)
		}
		// A sign-up with every field wrong shows its errors.
		fill(t, p, map[string]string{"#email": "not an address", "#password": "short"})
		submit(t, p, "form.stack button[type=submit]")
		checkLoaded(t, p, axe, "signup errors", lang)
		p.MustSetCookies(&proto.NetworkCookieParam{Name: "session", Value: session.Value, URL: s.base})
		for _, path := range []string{"/designer", "/designer/campaigns/new", editor, editor + "/preview", editor + "/tiers/" + tier, "/designer/campaigns/" + live, "/designer/profile",
			"/designer/campaigns/" + backed.ID + "/backers", "/designer/campaigns/" + backed.ID + "/insights", "/designer/campaigns/" + backed.ID + "/settlement",
			"/designer/campaigns/" + backed.ID + "/fulfilment",
			"/designer/payouts", "/designer/payouts/refresh", "/campaigns/" + pub["slug"].(string)} {
			check(t, p, axe, s.base+path, lang)
		}
		navigate(t, p, s.base+"/designer/campaigns/new")
		submit(t, p, "form.editor button[type=submit]")
		checkLoaded(t, p, axe, "editor errors", lang)
	}
}

func check(t *testing.T, p *rod.Page, axe, url, lang string) {
	t.Helper()
	navigate(t, p, url)
	checkLoaded(t, p, axe, url, lang)
}

func checkLoaded(t *testing.T, p *rod.Page, axe, where, lang string) {
	t.Helper()
	browser.CheckAxe(t, step(p), axe, lang+" "+where)
}
