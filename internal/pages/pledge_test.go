package pages_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
)

// formVisitor is one browser's cookies, following no redirect so tests see each answer.
type formVisitor struct {
	s      *site
	client *http.Client
	// lang is the browser's Accept-Language.
	lang string
}

func (s *site) formVisitor() formVisitor {
	jar, _ := cookiejar.New(nil)
	return formVisitor{s: s, lang: "en", client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (v formVisitor) do(method, target string, form url.Values) page {
	v.s.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = v.s.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	req.Header.Set("Accept-Language", v.lang)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := v.client.Do(req)
	if err != nil {
		v.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

// form fetches the pledge form and returns its CSRF token.
func (v formVisitor) form(path string) (page, string) {
	v.s.t.Helper()
	p := v.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		v.s.t.Fatalf("GET %s: %d, token found %v", path, p.status, m != nil)
	}
	return p, m[1]
}

func workshopForm(token, tier string) url.Values {
	return url.Values{"csrf_token": {token}, "tier": {tier}, "amount": {"90"}, "name": {"Ana Muster"},
		"email": {"ana@example.com"}, "note": {"See you there"}}
}

func (s *site) tierRemaining(slug, title string) int {
	s.t.Helper()
	out, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+slug, "", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	tiers, _ := out["tiers"].([]any)
	for _, t := range tiers {
		tier, _ := t.(map[string]any)
		if n, ok := tier["remaining"].(float64); ok && tier["title"] == title {
			return int(n)
		}
	}
	s.t.Fatalf("no limited tier %q", title)
	return 0
}

const workshop = "Zero-waste pattern-cutting workshop"

func TestPledgeFormThroughCheckout(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	v := s.formVisitor()
	// She arrives through the designer's Instagram story: the pledge will say so.
	v.do("GET", "/campaigns/"+d.Geneva.Slug+"?ref=instagram&utm_medium=story", nil)
	path := "/campaigns/" + d.Geneva.Slug + "/pledge?tier=" + d.Geneva.Tiers[workshop]
	p, token := v.form(path)
	checkHeaders(t, "form", p.header)
	testenv.CheckHTML(t, "form", p.body, "en")
	mustContain(t, "form", p.body, "At least CHF\u00a090.00 for this reward.", "Nothing is charged today", `name="note"`)
	if strings.Contains(p.body, `name="country"`) {
		t.Errorf("a workshop asks for a shipping address")
	}
	before := s.tierRemaining(d.Geneva.Slug, workshop)

	p = v.do("POST", "/campaigns/"+d.Geneva.Slug+"/pledge", workshopForm(token, d.Geneva.Tiers[workshop]))
	checkout := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.Contains(checkout, "/_stripedouble/checkout/") {
		t.Fatalf("submit: %d → %q\n%s", p.status, checkout, p.body)
	}
	u, _ := url.Parse(checkout)
	if csp := p.header.Get("Content-Security-Policy"); csp != "" && !strings.Contains(csp, "form-action 'self' "+u.Scheme+"://"+u.Host) {
		t.Errorf("the redirect to Checkout is not allowed by form-action: %q", csp)
	}
	if csp := s.get(path, "en").header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+u.Scheme+"://"+u.Host+";") {
		t.Errorf("the form's policy does not allow Checkout's origin %s: %q", u.Host, csp)
	}
	if got := s.tierRemaining(d.Geneva.Slug, workshop); got != before-1 {
		t.Errorf("remaining %d after the pledge, want %d (the unit is held)", got, before-1)
	}

	// Back from Checkout without paying: the form again, filled in, the unit still held.
	p = v.do("GET", path, nil)
	mustContain(t, "back", p.body, `value="Ana Muster"`, `value="ana@example.com"`, ">See you there</textarea>", "is held for you until")
	token = csrfField.FindStringSubmatch(p.body)[1]
	p = v.do("POST", "/campaigns/"+d.Geneva.Slug+"/pledge", workshopForm(token, d.Geneva.Tiers[workshop]))
	second := p.header.Get("Location")
	if p.status != http.StatusSeeOther || second == checkout {
		t.Fatalf("submit again: %d → %q", p.status, second)
	}
	if got := s.tierRemaining(d.Geneva.Slug, workshop); got != before-1 {
		t.Errorf("sending the form again took another unit: %d left, want %d", got, before-1)
	}
	if p := v.do("POST", checkout, url.Values{"test_card": {"4242424242424242"}}); p.status != http.StatusGone {
		t.Errorf("the first checkout can still be paid: %d", p.status)
	}

	p = v.do("POST", second, url.Values{"card_number": {"4242 4242 4242 4242"}})
	thanks := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(thanks, s.base+"/pledges/plg_") || !strings.Contains(thanks, "/thanks?session_id=cs_test_") {
		t.Fatalf("pay: %d → %q", p.status, thanks)
	}
	p = v.do("GET", thanks, nil)
	testenv.CheckHTML(t, "thanks", p.body, "en")
	mustContain(t, "thanks", p.body, "Your pledge is active", workshop, "CHF\u00a090.00", `href="/pledges/plg_`)
	if strings.Contains(p.body, `http-equiv="refresh"`) {
		t.Errorf("an active pledge's page still refreshes")
	}
	if got := s.tierRemaining(d.Geneva.Slug, workshop); got != before-1 {
		t.Errorf("remaining %d after paying, want %d", got, before-1)
	}
	// Another browser, without the pledge's cookie, learns nothing from the address.
	if p := s.formVisitor().do("GET", thanks, nil); p.status != http.StatusNotFound {
		t.Errorf("thanks page without the manage cookie: %d", p.status)
	}
	id := strings.TrimPrefix(strings.Split(thanks, "/thanks")[0], s.base+"/pledges/")
	if stored, err := s.store.FindPledge(context.Background(), id); err != nil || stored.Source != (pledge.Source{Ref: "instagram", UTMMedium: "story"}) {
		t.Errorf("the pledge's source: %+v %v", stored.Source, err)
	}
}

func TestPledgeFormErrorsKeepWhatWasTyped(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	coat := d.Geneva.Tiers["The Pâquis linen coat"]
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v := s.formVisitor()
		_, token := v.form("/campaigns/" + d.Geneva.Slug + "/pledge?tier=" + coat)
		form := url.Values{"csrf_token": {token}, "tier": {coat}, "amount": {"12"}, "name": {"Ana"}, "email": {"not-an-email"},
			"country": {"CH"}, "address_name": {"Ana"}, "address_line1": {""}, "address_postal_code": {"8008"},
			"address_city": {"Zürich"}, "option_a": {"Moss"}, "option_b": {"M"}, "note": {"Merci"}}
		req, _ := http.NewRequest("POST", s.base+"/campaigns/"+d.Geneva.Slug+"/pledge", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", lang)
		res, err := v.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s: invalid form answered %d", lang, res.StatusCode)
		}
		both.Check("errors", body, lang)
		mustContain(t, "errors "+lang, body, `id="email-error"`, `aria-describedby="email-hint email-error"`, `aria-invalid="true"`,
			`id="address_line1-error"`, `role="alert"`, `href="#email"`, `value="not-an-email"`, `value="8008"`,
			`<option value="Moss" selected>`, `<option value="CH" selected>`, ">Merci</textarea>")
		if lang == "fr" {
			mustContain(t, "errors fr", body, "Indiquez une adresse e-mail", "Ce champ est obligatoire.")
		}
	}
	if n := s.tierRemaining(d.Geneva.Slug, "The Pâquis linen coat"); n != 37 {
		t.Errorf("an invalid form took a unit: %d left", n)
	}
}

func TestPledgeFormNeedsItsCSRFToken(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	v := s.formVisitor()
	v.form("/campaigns/" + d.Geneva.Slug + "/pledge?tier=" + d.Geneva.Tiers[workshop])
	form := workshopForm("", d.Geneva.Tiers[workshop])
	form.Del("csrf_token")
	p := v.do("POST", "/campaigns/"+d.Geneva.Slug+"/pledge", form)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") {
		t.Fatalf("POST without a token: %d", p.status)
	}
	form.Set("csrf_token", "forged")
	if p := v.do("POST", "/campaigns/"+d.Geneva.Slug+"/pledge", form); p.status != http.StatusForbidden {
		t.Fatalf("POST with a forged token: %d", p.status)
	}
	if n := s.tierRemaining(d.Geneva.Slug, workshop); n != 9 {
		t.Errorf("a refused form took a unit: %d left", n)
	}
}

// A flexible campaign's form says the card is charged now, and the pledge is collected once.
func TestFlexiblePledgeFormChargesNow(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	scarf := d.Carouge.Tiers["A pieced silk scarf"]
	v := s.formVisitor()
	p, token := v.form("/campaigns/" + d.Carouge.Slug + "/pledge?tier=" + scarf)
	mustContain(t, "flexible form", p.body, "your card is charged now", `name="country"`, "Shipping included.")
	form := url.Values{"csrf_token": {token}, "tier": {scarf}, "amount": {"85"}, "name": {"Ana"}, "email": {"ana@example.com"},
		"country": {"CH"}, "address_name": {"Ana"}, "address_line1": {"Seefeldstrasse 1"}, "address_postal_code": {"8008"},
		"address_city": {"Zürich"}}
	p = v.do("POST", "/campaigns/"+d.Carouge.Slug+"/pledge", form)
	if p.status != http.StatusSeeOther {
		t.Fatalf("submit: %d\n%s", p.status, p.body)
	}
	p = v.do("POST", p.header.Get("Location"), url.Values{"test_card": {"4242424242424242"}})
	p = v.do("GET", p.header.Get("Location"), nil)
	mustContain(t, "thanks", p.body, "your card was charged CHF\u00a085.00")
}

// The form and the API share one limit of new pledges per address: a script that claims a
// limited tier's units (each held half an hour) through the form is braked as through the API.
// The refused form keeps what was typed, says why, and takes no unit.
func TestPledgeFormSharesTheAPIsLimitPerAddress(t *testing.T) {
	s := startSiteWith(t, testenv.MustStore(t), map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "2"})
	ctx := context.Background()
	designer, err := s.api.Designer(ctx, "Léa Favre")
	if err != nil {
		t.Fatal(err)
	}
	camp, err := s.api.Launch(ctx, designer, s.admin, map[string]any{"title": "Cut without waste", "blurb": "A workshop.",
		"story": "Learn to cut a shirt with no offcuts.", "goal": map[string]any{"amount": 100000, "currency": "CHF"},
		"funding_model": "all_or_nothing", "timezone": "Europe/Zurich", "deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly)},
		[]map[string]any{{"title": workshop, "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}, "limit": 12,
			"description": "A Saturday afternoon in the atelier."}})
	if err != nil {
		t.Fatal(err)
	}
	tier := camp.Tiers[workshop]
	if err := s.api.Pledge(ctx, camp, workshop, nil, 9000, "CHF", "Marco", false); err != nil {
		t.Fatal(err) // the address's first pledge, through the API
	}
	path := "/campaigns/" + camp.Slug + "/pledge?tier=" + tier
	first := s.formVisitor()
	_, token := first.form(path)
	if p := first.do("POST", "/campaigns/"+camp.Slug+"/pledge", workshopForm(token, tier)); p.status != http.StatusSeeOther {
		t.Fatalf("the address's second pledge, through the form: %d", p.status)
	}
	before := s.tierRemaining(camp.Slug, workshop)
	for _, lang := range locale.Languages {
		third := s.formVisitor()
		third.lang = lang
		_, token = third.form(path)
		p := third.do("POST", "/campaigns/"+camp.Slug+"/pledge", workshopForm(token, tier))
		if p.status != http.StatusTooManyRequests {
			t.Fatalf("%s: a third pledge from the address answered %d", lang, p.status)
		}
		if wait, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || wait < 1 || wait > 600 {
			t.Errorf("%s: Retry-After %q", lang, p.header.Get("Retry-After"))
		}
		testenv.CheckHTML(t, "refused", p.body, lang)
		mustContain(t, "refused "+lang, p.body, `role="alert"`, `value="Ana Muster"`, `value="ana@example.com"`, ">See you there</textarea>",
			locale.T(lang, "pledge.err.rate_limited"))
	}
	if got := s.tierRemaining(camp.Slug, workshop); got != before {
		t.Errorf("refused pledges took units: %d left, want %d", got, before)
	}
	// The window ends: the address may pledge again.
	s.clock.Advance(10 * time.Minute)
	again := s.formVisitor()
	_, token = again.form(path)
	if p := again.do("POST", "/campaigns/"+camp.Slug+"/pledge", workshopForm(token, tier)); p.status != http.StatusSeeOther {
		t.Fatalf("a pledge in the next window: %d", p.status)
	}
}
