package pages_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
)

// browserish is a visitor with a cookie jar that does not follow redirects, so each step's answer
// can be checked.
type browserish struct {
	t    *testing.T
	s    *site
	http *http.Client
}

func (s *site) visitor() *browserish {
	jar, _ := cookiejar.New(nil)
	return &browserish{t: s.t, s: s, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserish) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.s.base+path, body)
	req.Header.Set("Accept-Language", "en-CH")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// token is the CSRF token of the form at path.
func (b *browserish) token(path string) string {
	b.t.Helper()
	p := b.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token in the form:\n%s", path, p.status, p.body)
	}
	return m[1]
}

// pledged is a pledge made through the API, with the token its magic link carries.
type pledged struct{ id, token string }

func (s *site) pledgeCoat(d seed.Demo, name string) pledged {
	s.t.Helper()
	ctx := context.Background()
	body := map[string]any{"tier_id": d.Geneva.Tiers["The Pâquis linen coat"], "options": map[string]string{"Colour": "Oat", "Size": "M"},
		"amount":           map[string]any{"amount": 33200, "currency": "CHF"},
		"backer":           map[string]any{"email": "camille@example.com", "name": name},
		"shipping_address": map[string]any{"name": name, "line1": "Rue des Bains 12", "postal_code": "1205", "city": "Genève", "country": "CH"}}
	p, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+d.Geneva.Slug+"/pledges", "", body, "Idempotency-Key", backstitch.NewID("t"))
	if err != nil {
		s.t.Fatal(err)
	}
	out := pledged{p["id"].(string), p["manage_token"].(string)}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/pledges/"+out.id+"/confirm", "",
		map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", out.token); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *site) apiPledge(p pledged) map[string]any {
	s.t.Helper()
	out, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/pledges/"+p.id, "", nil, "X-Manage-Token", p.token)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *site) coatsLeft(d seed.Demo) float64 {
	s.t.Helper()
	c, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+d.Geneva.Slug, "", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, t := range c["tiers"].([]any) {
		if t := t.(map[string]any); t["id"] == d.Geneva.Tiers["The Pâquis linen coat"] {
			return t["remaining"].(float64)
		}
	}
	s.t.Fatal("no coat tier")
	return 0
}

// A backer opens her magic link, lands on her pledge without the token in the address, changes
// size and destination (the amount follows), and cancels; the unit goes back.
func TestBackerManagesHerPledgeFromTheMagicLink(t *testing.T) {
	s := startSite(t)
	d := s.demo()
	mine := s.pledgeCoat(d, "Camille <b>Rochat</b>")
	other := s.pledgeCoat(d, "Jonas")
	b := s.visitor()

	// Nothing without the link; a wrong token sets no cookie and says the same as a missing pledge.
	for _, path := range []string{"/pledges/" + mine.id, "/pledges/" + mine.id + "/manage?token=wrong", "/pledges/pledge_nope/manage?token=" + mine.token} {
		p := b.do("GET", path, nil)
		if p.status != http.StatusForbidden || strings.Contains(p.body, "Rue des Bains") {
			t.Fatalf("GET %s without the right token: %d\n%s", path, p.status, p.body)
		}
		if strings.Contains(p.header.Get("Set-Cookie"), "manage_token") {
			t.Fatalf("GET %s set a manage cookie: %s", path, p.header.Get("Set-Cookie"))
		}
	}

	link := b.do("GET", "/pledges/"+mine.id+"/manage?token="+url.QueryEscape(mine.token), nil)
	if link.status != http.StatusSeeOther || link.header.Get("Location") != "/pledges/"+mine.id {
		t.Fatalf("magic link: %d to %q", link.status, link.header.Get("Location"))
	}
	set := link.header.Get("Set-Cookie")
	for _, want := range []string{"manage_token=", "path=/pledges/" + mine.id, "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Errorf("magic link cookie %q lacks %q", set, want)
		}
	}
	if link.header.Get("Cache-Control") != "no-store" || link.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("magic link headers: Cache-Control %q, Referrer-Policy %q", link.header.Get("Cache-Control"), link.header.Get("Referrer-Policy"))
	}

	both := testenv.NewBilingual(t)
	for _, lang := range []string{"en", "fr"} {
		p := b.do("GET", "/pledges/"+mine.id+"?lang="+lang, nil) // the switch remembers the language
		if p.status != http.StatusSeeOther {
			t.Fatalf("language switch: %d", p.status)
		}
		p = b.do("GET", "/pledges/"+mine.id, nil)
		if p.status != 200 {
			t.Fatalf("%s manage page: %d\n%s", lang, p.status, p.body)
		}
		both.Check("manage page", p.body, lang)
		checkHeaders(t, lang+" manage page", p.header)
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("manage page Cache-Control %q", p.header.Get("Cache-Control"))
		}
	}
	b.do("GET", "/pledges/"+mine.id+"?lang=en", nil)
	p := b.do("GET", "/pledges/"+mine.id, nil)
	mustContain(t, "manage page", p.body, "Active", "The Pâquis linen coat", "Oat", "CHF\u00a0332.00", "CHF\u00a012.00",
		"Rue des Bains 12", "Switzerland", "Camille &lt;b&gt;Rochat&lt;/b&gt;")
	if strings.Contains(p.body, mine.token) || strings.Contains(p.body, "<b>Rochat") {
		t.Fatal("the manage page shows the token or unescaped text")
	}

	// The cookie of one pledge opens nothing else.
	if p := b.do("GET", "/pledges/"+other.id, nil); p.status != http.StatusForbidden {
		t.Fatalf("another pledge with my cookie: %d", p.status)
	}

	left := s.coatsLeft(d)
	form := "/pledges/" + mine.id + "/change"
	tok := b.token(form)
	// The form starts from the pledge as it stands.
	mustContain(t, "change form", b.do("GET", form, nil).body, `value="332.00"`, `value="Oat" selected`, `value="M" selected`,
		`value="Rue des Bains 12"`, `<option value="CH" selected>`)
	change := url.Values{"csrf_token": {tok}, "tier": {d.Geneva.Tiers["The Pâquis linen coat"]}, "option_a": {"Moss"},
		"option_b": {"L"}, "country": {"pt"}, "address_name": {"Camille Rochat"}, "address_line1": {"Rua Augusta 1"},
		"address_postal_code": {"1100-053"}, "address_city": {"Lisboa"}, "amount": {"1.00"}}

	// A forged form (no token, or another visitor's) changes nothing.
	forged := url.Values{}
	for k, v := range change {
		forged[k] = v
	}
	forged.Set("amount", "345.00")
	forged.Del("csrf_token")
	if p := b.do("POST", form, forged); p.status != http.StatusForbidden {
		t.Fatalf("change without the CSRF token: %d", p.status)
	}
	jonas := s.visitor()
	jonas.do("GET", "/pledges/"+other.id+"/manage?token="+url.QueryEscape(other.token), nil)
	forged.Set("csrf_token", jonas.token("/pledges/"+other.id+"/change"))
	if p := b.do("POST", form, forged); p.status != http.StatusForbidden {
		t.Fatalf("change with another visitor's CSRF token: %d", p.status)
	}

	// Too little: the form comes back with the reason beside the amount and everything typed kept.
	bad := b.do("POST", form, change)
	if bad.status != http.StatusUnprocessableEntity {
		t.Fatalf("change below the price: %d\n%s", bad.status, bad.body)
	}
	testenv.CheckHTML(t, "change form with errors", bad.body, "en")
	mustContain(t, "change form with errors", bad.body, `id="amount-error"`, `aria-invalid="true"`, `value="Rua Augusta 1"`,
		`value="Lisboa"`, `value="1.00"`, `value="Moss" selected`, `value="L" selected`)
	if got := s.apiPledge(mine); got["amount"].(map[string]any)["amount"].(float64) != 33200 {
		t.Fatalf("a refused change moved the amount: %v", got["amount"])
	}

	change.Set("amount", "345.00") // CHF 320 and CHF 25 shipping to the EU
	ok := b.do("POST", form, change)
	if ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/pledges/"+mine.id+"?done=changed" {
		t.Fatalf("change: %d to %q\n%s", ok.status, ok.header.Get("Location"), ok.body)
	}
	got := s.apiPledge(mine)
	if got["amount"].(map[string]any)["amount"].(float64) != 34500 || got["options"].(map[string]any)["Size"] != "L" ||
		got["shipping_address"].(map[string]any)["country"] != "PT" {
		t.Fatalf("after the change the API says %v %v %v", got["amount"], got["options"], got["shipping_address"])
	}
	mustContain(t, "manage page after the change", b.do("GET", "/pledges/"+mine.id+"?done=changed", nil).body,
		"Your pledge was changed.", "CHF\u00a0345.00", "CHF\u00a025.00", "Portugal", "Moss")
	if s.coatsLeft(d) != left {
		t.Fatalf("changing size moved the coats left: %v → %v", left, s.coatsLeft(d))
	}

	// Cancel: asked once more, then the coat goes back and the page says so.
	cancel := "/pledges/" + mine.id + "/cancel"
	tok = b.token(cancel)
	if p := b.do("POST", cancel, url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("cancel without the CSRF token: %d", p.status)
	}
	done := b.do("POST", cancel, url.Values{"csrf_token": {tok}})
	if done.status != http.StatusSeeOther || done.header.Get("Location") != "/pledges/"+mine.id+"?done=cancelled" {
		t.Fatalf("cancel: %d to %q", done.status, done.header.Get("Location"))
	}
	if got := s.apiPledge(mine); got["status"] != "cancelled" {
		t.Fatalf("after cancelling the API says %v", got["status"])
	}
	if s.coatsLeft(d) != left+1 {
		t.Fatalf("cancelling did not give the coat back: %v → %v", left, s.coatsLeft(d))
	}
	after := b.do("GET", "/pledges/"+mine.id+"?done=cancelled", nil).body
	mustContain(t, "manage page after cancelling", after, "Your pledge was cancelled.", "Cancelled")
	if strings.Contains(after, "/change\"") || strings.Contains(after, "/cancel\"") {
		t.Fatal("a cancelled pledge still offers to change or cancel")
	}
	// A form kept open in another tab cannot bring it back.
	if p := b.do("POST", form, change); p.status != http.StatusSeeOther || s.apiPledge(mine)["status"] != "cancelled" {
		t.Fatalf("change after cancelling: %d, status %v", p.status, s.apiPledge(mine)["status"])
	}
}
