package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pages"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
	"github.com/backstitch/backstitch/templates"
)

// Every page answers with a complete, valid page in both languages, with the security headers
// and French punctuation in French; addresses that lead nowhere answer the 404 page.
func TestEveryPageIsValidHTMLInBothLanguages(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	paths := map[string]int{
		"/":                            200,
		"/campaigns/" + d.Geneva.Slug:  200,
		"/campaigns/" + d.Carouge.Slug: 200,
		"/campaigns/" + d.Kyoto.Slug:   200,
		"/campaigns/" + d.Geneva.Slug + "/pledge?tier=" + d.Geneva.Tiers["Zero-waste pattern-cutting workshop"]: 200,
		"/campaigns/" + d.Geneva.Slug + "/pledge?tier=tier_nope":                                                404,
		"/campaigns/no-such-campaign": 404,
		"/no/such/page":               404,
	}
	for path, want := range paths {
		both := testenv.NewBilingual(t)
		for _, lang := range locale.Languages {
			p := s.get(path, lang+"-CH")
			where := lang + " " + path
			if p.status != want {
				t.Errorf("%s: %d, want %d", where, p.status, want)
				continue
			}
			checkHeaders(t, where, p.header)
			both.Check(path, p.body, lang)
			if p.header.Get("Content-Language") != lang {
				t.Errorf("%s: Content-Language %q", where, p.header.Get("Content-Language"))
			}
		}
	}
	// The API keeps answering problem documents for what it does not have.
	if p := s.get("/api/v1/campaigns/no-such-campaign", "en"); p.status != 404 || !strings.Contains(p.body, `"code":"not_found"`) {
		t.Errorf("API 404: %d %s", p.status, p.body)
	}
}

// The campaign page shows what a backer needs to decide, formatted for the visitor.
func TestCampaignPageShowsTiersMoneyAndDeadline(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	en := s.get("/campaigns/"+d.Geneva.Slug, "en-CH").body
	mustContain(t, "en", en,
		"Léa Favre, Atelier Pâquis",
		"<strong>CHF\u00a01’396.00</strong> pledged of CHF\u00a015’000.00", // 3 coats (332+362+332 with shipping), 3 workshops (90+90+120), a tour, a thank-you
		"9% funded", "8 backers", "24 days left",
		"Ends on 26 November 2026 at 23:59 (Zurich time)", "All or nothing: you are charged only if the goal is met on 26 November 2026.",
		"9 left of 12", "A piece that ships to you, estimated delivery April 2027.",
		"An experience (workshop, tour, coaching or meeting): nothing ships.",
		"19 left of 20", "CHF\u00a090.00",
		`href="/campaigns/`+d.Geneva.Slug+`/pledge?tier=`+d.Geneva.Tiers["Guided tour of Geneva&#39;s ateliers"],
	)
	fr := s.get("/campaigns/"+d.Geneva.Slug, "fr-CH,fr;q=0.9").body
	mustContain(t, "fr", fr, "<strong>1\u202f396.00\u00a0CHF</strong> promis sur 15\u202f000.00\u00a0CHF", "8 contributeurs", "24 jours restants",
		"Se termine le 26 novembre 2026 à 23:59 (heure de Zurich)", "Tout ou rien\u202f: vous n’êtes débité que si l’objectif est atteint le 26 novembre 2026.",
		"9 disponibles sur 12", "livraison estimée en avril 2027", "rien n’est expédié",
		"<dt>Suisse</dt><dd>12.00\u00a0CHF</dd>", "Size\u202f: XS, S, M, L, XL") // option names are the designer's words
	// JPY has no decimals; Tokyo's deadline is Tokyo's day.
	jp := s.get("/campaigns/"+d.Kyoto.Slug, "en-US").body
	mustContain(t, "kyoto", jp, "<strong>JPY\u00a00</strong> pledged of JPY\u00a01,500,000", "JPY\u00a048,000", "12 December 2026 at 23:59 (Tokyo time)")
	// Flexible funding says so; the home page puts the campaign ending within the week first.
	mustContain(t, "carouge", s.get("/campaigns/"+d.Carouge.Slug, "en").body, "Flexible funding: you are charged when you pledge")
	home := s.get("/", "en").body
	soon, live := strings.Index(home, "Ending soon"), strings.Index(home, "Live campaigns")
	if soon < 0 || live < soon || !strings.Contains(home[soon:live], "Carouge silk") || strings.Contains(home[soon:live], "Lake Léman") {
		t.Errorf("ending soon section wrong:\n%s", home)
	}
	mustContain(t, "home", home[live:], "Lake Léman linen", "Boro indigo", "by Léa Favre, Atelier Pâquis", "24 days left")
	mustContain(t, "home", home[soon:live], "5 days left", "1 backer")
	// A campaign found by id has one address: its slug's.
	if p := s.get("/campaigns/"+d.Geneva.ID, "en"); p.status != 301 || p.header.Get("Location") != "/campaigns/"+d.Geneva.Slug {
		t.Errorf("by id: %d %q", p.status, p.header.Get("Location"))
	}
}

// Accept-Language chooses; the switch overrides, is remembered in a cookie, and sends the visitor
// back to the same address without the parameter.
func TestLanguageSwitchIsRemembered(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	path := "/campaigns/" + d.Geneva.Slug
	if p := s.get(path, "fr-CH"); !strings.Contains(p.body, `<html lang="fr">`) || !strings.Contains(p.body, `href="?lang=en"`) {
		t.Fatalf("French by Accept-Language, with a switch to English: %s", p.body)
	}
	sw := s.get(path+"?lang=en&utm_source=instagram", "fr-CH")
	if sw.status != 303 || sw.header.Get("Location") != path+"?utm_source=instagram" {
		t.Fatalf("switch: %d → %q", sw.status, sw.header.Get("Location"))
	}
	cookies := (&http.Response{Header: sw.header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != "lang" || cookies[0].Value != "en" || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].MaxAge < 300*24*3600 {
		t.Fatalf("switch cookie: %+v", sw.header.Values("Set-Cookie"))
	}
	p := s.get(path, "fr-CH", cookies[0])
	// English words, Swiss number conventions from the browser's fr-CH.
	mustContain(t, "remembered", p.body, `<html lang="en">`, "Rewards", "CHF\u00a015’000.00")
	// A language we do not speak changes nothing, and the switch never leaves the site.
	if p := s.get("/?lang=xx", "fr"); p.status != 303 || p.header.Get("Location") != "/" || len(p.header.Values("Set-Cookie")) != 0 {
		t.Errorf("unknown language: %d %q %v", p.status, p.header.Get("Location"), p.header.Values("Set-Cookie"))
	}
}

// Text a designer writes is shown as text: markup, quotes and script are escaped everywhere.
func TestHostileTextIsEscaped(t *testing.T) {
	s := startSite(t)
	c := s.hostileCampaign()
	for _, path := range []string{"/", "/campaigns/" + c.Slug, "/campaigns/" + c.Slug + "/pledge?tier=" + c.Tiers[hostileTier]} {
		for _, lang := range locale.Languages {
			p := s.get(path, lang)
			testenv.CheckHTML(t, path, p.body, lang)
			// One script element: the page's own script file.
			if strings.Count(p.body, "<script") != 1 || strings.Contains(p.body, "<img") || strings.Contains(p.body, "<b>") {
				t.Errorf("%s: markup from user text reached the page:\n%s", path, p.body)
			}
		}
	}
	p := s.get("/campaigns/"+c.Slug, "en")
	mustContain(t, "escaped", p.body, "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
		"by &#34;&gt;&lt;b&gt;Mallory")
	// The story is Markdown: a web link is marked as the designer's, a javascript: one is no link.
	mustContain(t, "story links", p.body, `<a href="https://example.com/" rel="nofollow ugc">site</a>`)
	if strings.Contains(p.body, "javascript:") {
		t.Errorf("a javascript: link reached the page")
	}
}

const (
	hostileTitle = `"><script>alert('title')</script>`
	hostileTier  = `<b>Bold</b> "tier" & co`
)

// hostileCampaign is a live campaign whose every text tries to become markup.
func (s *site) hostileCampaign() (c struct {
	Slug  string
	Tiers map[string]string
}) {
	s.t.Helper()
	ctx := context.Background()
	owner, err := s.api.Designer(ctx, `"><b>Mallory</b>`)
	if err != nil {
		s.t.Fatal(err)
	}
	made, err := s.api.Launch(ctx, owner, s.admin, map[string]any{
		"title": hostileTitle, "blurb": `<img src=x onerror=alert(1)>`,
		"story": "First <script>alert(1)</script>\n\n<img src=x onerror=alert(1)> and 'quotes' \"too\"\n\n" +
			"[click](javascript:alert(1)) [site](https://example.com/)",
		"goal": map[string]any{"amount": 100000, "currency": "CHF"}, "funding_model": "flexible", "timezone": "Europe/Zurich",
		"deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{{"title": hostileTier, "kind": "experience", "price": map[string]any{"amount": 5000, "currency": "CHF"},
		"description": `</li></ul><script>alert("d")</script>`}})
	if err != nil {
		s.t.Fatal(err)
	}
	c.Slug, c.Tiers = made.Slug, made.Tiers
	return c
}

// Succeeded, failed and cancelled campaigns keep their page and say how they ended; a campaign
// that never launched has no page.
func TestEndedCampaignsKeepTheirPage(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	owner, err := s.api.Designer(ctx, "Léa")
	if err != nil {
		t.Fatal(err)
	}
	launch := func(title, model string) seed.Campaign {
		c, err := s.api.Launch(ctx, owner, s.admin, map[string]any{"title": title, "story": "Coats.",
			"goal": map[string]any{"amount": 100000, "currency": "CHF"}, "funding_model": model, "timezone": "Europe/Zurich",
			"deadline": s.clock.Now().AddDate(0, 0, 10).Format(time.DateOnly)},
			[]map[string]any{{"title": "Coat", "kind": "physical", "ships": true, "price": map[string]any{"amount": 40000, "currency": "CHF"}}})
		if err != nil {
			t.Fatal(err)
		}
		if model == "flexible" {
			if err := s.api.Pledge(ctx, c, "Coat", nil, 40000, "CHF", "Camille", true); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	succeeded, failed, cancelled := launch("Flexible coats", "flexible"), launch("Ambitious coats", "all_or_nothing"), launch("Cancelled coats", "all_or_nothing")
	draft, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns", owner, map[string]any{"title": "Secret draft", "story": "x",
		"goal": map[string]any{"amount": 100000, "currency": "CHF"}, "funding_model": "flexible", "timezone": "Europe/Zurich",
		"deadline": s.clock.Now().AddDate(0, 0, 10).Format(time.DateOnly)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/campaigns/"+cancelled.ID+"/cancel", owner, map[string]any{"reason": `The mill closed <for good>.`}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(11 * 24 * time.Hour)
	if s.admin, err = s.api.Admin(ctx, s.store, s.clock.Now()); err != nil { // the first session has expired
		t.Fatal(err)
	}
	for _, c := range []seed.Campaign{succeeded, failed} {
		if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+c.ID+"/settle", s.admin, nil); err != nil {
			t.Fatal(err)
		}
	}
	for slug, want := range map[string][]string{
		succeeded.Slug: {"This campaign succeeded: CHF\u00a0400.00 pledged of a CHF\u00a01’000.00 goal.", "Ended on 12 November 2026"},
		failed.Slug:    {"This campaign did not reach its goal. Nobody was charged."},
		cancelled.Slug: {"This campaign was cancelled on 2 November 2026.", "Reason given: The mill closed &lt;for good&gt;.", "every charge is refunded in full"},
	} {
		for _, lang := range locale.Languages {
			p := s.get("/campaigns/"+slug, lang)
			if p.status != 200 {
				t.Fatalf("%s: %d", slug, p.status)
			}
			testenv.CheckHTML(t, slug, p.body, lang)
			if strings.Contains(p.body, "/pledge?tier=") {
				t.Errorf("%s: an ended campaign offers to back it", slug)
			}
			if lang == "en" {
				mustContain(t, slug, p.body, want...)
			}
		}
	}
	if p := s.get("/campaigns/"+draft["slug"].(string), "en"); p.status != 404 || !strings.Contains(p.body, "Page not found") {
		t.Errorf("a draft has a page: %d", p.status)
	}
	// Ended campaigns leave the home page's live list; a successful one is shown as such.
	home := s.get("/", "en").body
	live, done, found := strings.Cut(home, `id="succeeded"`)
	if !found || strings.Contains(live, "Flexible coats") || strings.Contains(home, "Cancelled coats") || strings.Contains(home, "Ambitious coats") {
		t.Errorf("ended campaigns listed as live, or no recently successful section")
	}
	if !strings.Contains(done, "Flexible coats") {
		t.Errorf("the successful campaign is not under Recently successful")
	}
}

// The stylesheet is served once per version and cached for a year; other names are not served.
func TestStylesheetIsCachedByItsHash(t *testing.T) {
	s := startSite(t)
	p := s.get(templates.StylesheetPath, "")
	if p.status != 200 || p.header.Get("Content-Type") != "text/css; charset=utf-8" ||
		p.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || p.body != string(templates.Stylesheet) {
		t.Errorf("stylesheet: %d %v", p.status, p.header)
	}
	if !regexp.MustCompile(`^/static/style\.[0-9a-f]{12}\.css$`).MatchString(templates.StylesheetPath) {
		t.Errorf("stylesheet path %q carries no hash", templates.StylesheetPath)
	}
	if p := s.get("/static/style.000000000000.css", "en"); p.status != 404 {
		t.Errorf("old stylesheet name: %d", p.status)
	}
	if home := s.get("/", "en").body; !strings.Contains(home, `<link rel="stylesheet" href="`+templates.StylesheetPath+`">`) {
		t.Errorf("home does not link the stylesheet")
	}
}

// The policy is built in one place: nothing from elsewhere, scripts only from our own files (no
// inline script at all, so no nonce: a page's bytes are the same for everyone and can be cached),
// no framing; the page loads the script file, which is served like the stylesheet.
func TestContentSecurityPolicy(t *testing.T) {
	if got, want := pages.ContentSecurityPolicy("https://checkout.stripe.com"), "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' https://checkout.stripe.com; base-uri 'none'; frame-ancestors 'none'"; got != want {
		t.Errorf("policy %q, want %q", got, want)
	}
	s := startSite(t)
	home := s.get("/", "en")
	// Offline, Checkout is the Stripe double's own loopback address.
	if csp := home.header.Get("Content-Security-Policy"); !regexp.MustCompile(`^default-src 'none'; script-src 'self'; .*form-action 'self' http://127\.0\.0\.1:\d+; base-uri 'none'; frame-ancestors 'none'$`).MatchString(csp) {
		t.Errorf("home's policy %q", home.header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(home.body, `<script src="`+templates.ScriptPath+`" defer></script>`) || strings.Count(home.body, "<script") != 1 {
		t.Errorf("home should load the script file and nothing inline")
	}
	js := s.get(templates.ScriptPath, "")
	if js.status != 200 || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		js.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || js.body != string(templates.Script) {
		t.Errorf("script: %d %v", js.status, js.header)
	}
	if !regexp.MustCompile(`^/static/app\.[0-9a-f]{12}\.js$`).MatchString(templates.ScriptPath) {
		t.Errorf("script path %q carries no hash", templates.ScriptPath)
	}
}

// Every `t "key"`, `label "key"` and `plural "key"` a template calls exists in the catalogues, and
// no template writes a label's colon itself: `label` sets it with the language's spacing.
func TestTemplatesUseOnlyKnownMessages(t *testing.T) {
	src, err := templates.Sources()
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\b(t|plural|label) "([^"]+)"`)
	colon := regexp.MustCompile(`\{\{-?\s*t "[^"]+"\s*-?\}\}\s?:`)
	n := 0
	for file, text := range src {
		for _, bad := range colon.FindAllString(text, -1) {
			t.Errorf("%s: %s writes its colon: use label", file, bad)
		}
		for _, m := range call.FindAllStringSubmatch(text, -1) {
			n++
			for _, lang := range locale.Languages {
				var got string
				if m[1] != "plural" {
					got = locale.T(lang, m[2])
				} else {
					got = locale.Plural(lang, m[2], 2)
				}
				if got == m[2] {
					t.Errorf("%s: %s %q is not in the %s catalogue", file, m[1], m[2], lang)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d message calls in the templates", n)
	}
}

// When the store fails, a page answers the error page (500) in the visitor's language with the
// request id to quote, never a problem document or half a page.
func TestStoreFailureAnswersTheErrorPage(t *testing.T) {
	// A store of its own, not dropped after the test: it is closed under the service's feet.
	store, err := mongostore.Open(context.Background(), testenv.StoreOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	s := startSiteOn(t, store)
	if err := store.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := s.get("/", "fr-CH")
	if p.status != 500 {
		t.Fatalf("%d %s", p.status, p.body)
	}
	checkHeaders(t, "error", p.header)
	testenv.CheckHTML(t, "error", p.body, "fr")
	mustContain(t, "error", p.body, "Une erreur s’est produite", "indiquez cette référence\u202f: ")
	if id := regexp.MustCompile(`référence\x{202f}: ([0-9a-f-]{36})`).FindStringSubmatch(p.body); id == nil {
		t.Errorf("no request id on the error page:\n%s", p.body)
	}
}

// A slug in another script survives the switch: the redirect keeps the address as it was sent.
func TestSwitchKeepsAnEncodedAddress(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	owner, err := s.api.Designer(ctx, "Aya")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.api.Launch(ctx, owner, s.admin, map[string]any{"title": "藍染めのジャケット", "story": "Indigo.",
		"goal": map[string]any{"amount": 100000, "currency": "JPY"}, "funding_model": "flexible", "timezone": "Asia/Tokyo",
		"deadline": s.clock.Now().AddDate(0, 0, 10).Format(time.DateOnly)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := "/campaigns/" + url.PathEscape(c.Slug)
	if p := s.get(path, "en"); p.status != 200 {
		t.Fatalf("%s: %d", path, p.status)
	}
	if p := s.get(path+"?lang=fr", "en"); p.status != 303 || p.header.Get("Location") != path {
		t.Errorf("switch on %s: %d → %q", path, p.status, p.header.Get("Location"))
	}
}
