package pages_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod/lib/proto"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
)

// surveyed is a succeeded campaign with a sized coat that ships (CHF 12 in Switzerland, 25 to the
// EU) and a workshop on two dates, a pledge to each, and the second coat backer's.
type surveyed struct {
	camp              seed.Campaign
	coat, other, shop pledged
	dates             [2]string
}

func (s *site) succeededWithSurvey() surveyed {
	s.t.Helper()
	ctx := context.Background()
	owner, err := s.api.Designer(ctx, "Léa")
	if err != nil {
		s.t.Fatal(err)
	}
	chf := func(n int) map[string]any { return map[string]any{"amount": n, "currency": "CHF"} }
	camp, err := s.api.Launch(ctx, owner, s.admin, map[string]any{"title": "Linen <i>coats</i>", "story": "Coats.",
		"goal": chf(10000), "funding_model": "all_or_nothing", "timezone": "Europe/Zurich",
		"deadline": s.clock.Now().AddDate(0, 0, 10).Format(time.DateOnly)},
		[]map[string]any{
			{"title": "Coat", "kind": "physical", "price": chf(30000),
				"options":        []map[string]any{{"name": "Colour", "values": []string{"Oat", "Moss"}}, {"name": "Size", "values": []string{"S", "M"}}},
				"shipping_rates": []map[string]any{{"zone": "CH", "price": chf(1200)}, {"zone": "EU", "price": chf(2500)}}},
			{"title": "Workshop", "kind": "experience", "price": chf(9000)},
		})
	if err != nil {
		s.t.Fatal(err)
	}
	out := surveyed{camp: camp}
	for i, days := range []int{30, 35} {
		start := s.clock.Now().AddDate(0, 0, days)
		se, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+camp.ID+"/tiers/"+camp.Tiers["Workshop"]+"/sessions", owner, map[string]any{
			"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(3 * time.Hour).Format(time.RFC3339),
			"timezone": "Europe/Zurich", "place": "Atelier, Rue des Bains 12, Genève", "capacity": 4})
		if err != nil {
			s.t.Fatal(err)
		}
		out.dates[i] = se["id"].(string)
	}
	back := func(body map[string]any) pledged {
		p, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+camp.Slug+"/pledges", "", body, "Idempotency-Key", backstitch.NewID("t"))
		if err != nil {
			s.t.Fatal(err)
		}
		made := pledged{p["id"].(string), p["manage_token"].(string)}
		if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/pledges/"+made.id+"/confirm", "",
			map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", made.token); err != nil {
			s.t.Fatal(err)
		}
		return made
	}
	coat := func(name string) pledged {
		return back(map[string]any{"tier_id": camp.Tiers["Coat"], "options": map[string]string{"Colour": "Oat", "Size": "M"}, "amount": chf(31200),
			"backer":           map[string]any{"email": "camille@example.com", "name": name},
			"shipping_address": map[string]any{"name": name, "line1": "Rue des Bains 12", "postal_code": "1205", "city": "Genève", "country": "CH"}})
	}
	out.coat, out.other = coat("Camille <b>Rochat</b>"), coat("Jonas")
	out.shop = back(map[string]any{"tier_id": camp.Tiers["Workshop"], "session_id": out.dates[0], "amount": chf(9000),
		"backer": map[string]any{"email": "ines@example.com", "name": "Inès"}})
	return out
}

// succeed ends the campaign with its goal met and settles it.
func (s *site) succeed(camp seed.Campaign) {
	s.t.Helper()
	ctx := context.Background()
	s.clock.Advance(11 * 24 * time.Hour)
	var err error
	if s.admin, err = s.api.Admin(ctx, s.store, s.clock.Now()); err != nil { // the first session has expired
		s.t.Fatal(err)
	}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+camp.ID+"/settle", s.admin, nil); err != nil {
		s.t.Fatal(err)
	}
}

// After success a backer confirms her reward on the survey page, with her pledge's cookie only:
// another pledge's cookie, a forged form and hostile text get nothing; a refusal (an address at
// another shipping rate) comes back beside its field with what she chose kept; answers go
// through the survey's rules; the survey closes at its deadline.
func TestBackerAnswersTheSurvey(t *testing.T) {
	s := startSite(t)
	f := s.succeededWithSurvey()
	b := s.visitor()
	b.do("GET", "/pledges/"+f.coat.id+"/manage?token="+url.QueryEscape(f.coat.token), nil)
	survey := "/pledges/" + f.coat.id + "/survey"

	// No survey before success: the manage page neither links to it nor shows it.
	if p := b.do("GET", survey, nil); p.status != http.StatusSeeOther || p.header.Get("Location") != "/pledges/"+f.coat.id {
		t.Fatalf("survey before success: %d to %q", p.status, p.header.Get("Location"))
	}
	if strings.Contains(b.do("GET", "/pledges/"+f.coat.id, nil).body, survey) {
		t.Fatal("the manage page links to a survey before success")
	}
	s.succeed(f.camp)

	// Nothing without the pledge's cookie, or with another pledge's.
	if p := s.visitor().do("GET", survey, nil); p.status != http.StatusForbidden || strings.Contains(p.body, "Rue des Bains") {
		t.Fatalf("survey without the cookie: %d", p.status)
	}
	jonas := s.visitor()
	jonas.do("GET", "/pledges/"+f.other.id+"/manage?token="+url.QueryEscape(f.other.token), nil)
	if p := jonas.do("GET", survey, nil); p.status != http.StatusForbidden || strings.Contains(p.body, "Rochat") {
		t.Fatalf("survey with another pledge's cookie: %d", p.status)
	}
	jonasToken := jonas.token("/pledges/" + f.other.id + "/survey")
	if p := jonas.do("POST", survey, url.Values{"csrf_token": {jonasToken}, "option_a": {"Moss"}, "option_b": {"S"}, "country": {"CH"}}); p.status != http.StatusForbidden {
		t.Fatalf("answering another pledge's survey: %d", p.status)
	}

	manage := b.do("GET", "/pledges/"+f.coat.id, nil).body
	mustContain(t, "manage page after success", manage, `href="`+survey+`"`, "Confirm your reward’s address, option and date by")
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		b.do("GET", "/pledges/"+f.coat.id+"?lang="+lang, nil)
		p := b.do("GET", survey, nil)
		if p.status != 200 {
			t.Fatalf("%s survey: %d\n%s", lang, p.status, p.body)
		}
		both.Check("survey", p.body, lang)
		checkHeaders(t, lang+" survey", p.header)
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("survey Cache-Control %q", p.header.Get("Cache-Control"))
		}
		mustContain(t, lang+" survey", p.body, `<option value="Oat" selected>`, `<option value="M" selected>`, `<option value="CH" selected>`,
			`value="Camille &lt;b&gt;Rochat&lt;/b&gt;"`, "Linen &lt;i&gt;coats&lt;/i&gt;", "2026")
		if strings.Contains(p.body, "<b>Rochat") || strings.Contains(p.body, "<i>coats") {
			t.Fatalf("%s survey shows unescaped text", lang)
		}
	}
	mustContain(t, "French survey", b.do("GET", survey, nil).body, "Confirmez votre contrepartie", "d’ici au")
	b.do("GET", "/pledges/"+f.coat.id+"?lang=en", nil)
	mustContain(t, "English survey", b.do("GET", survey, nil).body, "Confirm your reward for", "by ")

	tok := b.token(survey)
	answer := url.Values{"csrf_token": {tok}, "option_a": {"Moss"}, "option_b": {"S"}, "country": {"PT"},
		"address_name": {"Camille Rochat"}, "address_line1": {"Rua Augusta 1"}, "address_postal_code": {"1100-053"}, "address_city": {"Lisboa"}}
	// A forged form (no token, or another visitor's) changes nothing.
	forged := url.Values{}
	for k, v := range answer {
		forged[k] = v
	}
	forged.Del("csrf_token")
	if p := b.do("POST", survey, forged); p.status != http.StatusForbidden {
		t.Fatalf("survey without the CSRF token: %d", p.status)
	}
	forged.Set("csrf_token", jonasToken)
	if p := b.do("POST", survey, forged); p.status != http.StatusForbidden {
		t.Fatalf("survey with another visitor's CSRF token: %d", p.status)
	}
	// Portugal ships at the EU rate, not the Swiss one paid: refused beside the country.
	bad := b.do("POST", survey, answer)
	if bad.status != http.StatusUnprocessableEntity {
		t.Fatalf("survey to another rate: %d\n%s", bad.status, bad.body)
	}
	testenv.CheckHTML(t, "survey with errors", bad.body, "en")
	mustContain(t, "survey with errors", bad.body, `id="country-error"`, `href="#country"`, "Shipping there costs another amount than you paid",
		`value="Rua Augusta 1"`, `value="Lisboa"`, `<option value="Moss" selected>`, `<option value="PT" selected>`)
	if got := s.apiPledge(f.coat); got["options"].(map[string]any)["Colour"] != "Oat" || got["survey_answered_at"] != nil {
		t.Fatalf("a refused survey changed the pledge: %v %v", got["options"], got["survey_answered_at"])
	}

	answer.Set("country", "CH")
	answer.Set("address_line1", `Rue du Bourg 1 <script>alert(1)</script>`)
	answer.Set("address_city", "Lausanne")
	answer.Set("address_postal_code", "1003")
	ok := b.do("POST", survey, answer)
	if ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/pledges/"+f.coat.id+"?done=survey" {
		t.Fatalf("survey: %d to %q\n%s", ok.status, ok.header.Get("Location"), ok.body)
	}
	got := s.apiPledge(f.coat)
	if got["options"].(map[string]any)["Colour"] != "Moss" || got["options"].(map[string]any)["Size"] != "S" ||
		got["shipping_address"].(map[string]any)["city"] != "Lausanne" || got["amount"].(map[string]any)["amount"].(float64) != 31200 {
		t.Fatalf("after the survey the API says %v %v %v", got["options"], got["shipping_address"], got["amount"])
	}
	after := b.do("GET", "/pledges/"+f.coat.id+"?done=survey", nil).body
	mustContain(t, "manage page after the survey", after, "Thank you: your answers are saved.", "Moss", "Lausanne", "&lt;script&gt;")
	if strings.Contains(after, "<script>alert") || strings.Contains(b.do("GET", survey, nil).body, "<script>alert") {
		t.Fatal("hostile text shown unescaped")
	}
	mustContain(t, "survey answered", b.do("GET", survey, nil).body, "You answered on")

	// A workshop backer moves to the other date from her survey, which lists both with places left.
	w := s.visitor()
	w.do("GET", "/pledges/"+f.shop.id+"/manage?token="+url.QueryEscape(f.shop.token), nil)
	shopSurvey := "/pledges/" + f.shop.id + "/survey"
	page := w.do("GET", shopSurvey, nil).body
	mustContain(t, "workshop survey", page, `<option value="`+f.dates[0]+`" selected>`, `<option value="`+f.dates[1]+`">`, "3 left", "4 left")
	if strings.Contains(page, `name="country"`) || strings.Contains(page, `name="option_a"`) {
		t.Fatal("a workshop's survey asks for an address or options")
	}
	if p := w.do("POST", shopSurvey, url.Values{"csrf_token": {w.token(shopSurvey)}, "session": {f.dates[1]}}); p.status != http.StatusSeeOther {
		t.Fatalf("moving date in the survey: %d\n%s", p.status, p.body)
	}
	if got := s.apiPledge(f.shop); got["session_id"] != f.dates[1] {
		t.Fatalf("after the survey the workshop pledge books %v", got["session_id"])
	}

	// Past its deadline the survey says it closed and takes nothing more.
	s.clock.Advance(15 * 24 * time.Hour) // the survey runs 14 days from success
	closed := b.do("GET", survey, nil)
	if closed.status != 200 || strings.Contains(closed.body, `name="option_a"`) {
		t.Fatalf("closed survey: %d\n%s", closed.status, closed.body)
	}
	mustContain(t, "closed survey", closed.body, "The survey closed on")
	if strings.Contains(b.do("GET", "/pledges/"+f.coat.id, nil).body, survey) {
		t.Fatal("the manage page links to a closed survey")
	}
	answer.Set("option_a", "Oat")
	if p := b.do("POST", survey, answer); p.status != http.StatusUnprocessableEntity || s.apiPledge(f.coat)["options"].(map[string]any)["Colour"] != "Moss" {
		t.Fatalf("answering a closed survey: %d", p.status)
	}
}

// The survey page has no serious or critical accessibility violation, in either language, with
// and without errors shown.
func TestBrowserSurveyAccessibilityWithAxe(t *testing.T) {
	browser.ForTest(t)
	axe := browser.AxeScript(t)
	s := startSite(t)
	f := s.succeededWithSurvey()
	s.succeed(f.camp)
	for _, lang := range locale.Languages {
		p := tab(t, lang+"-CH,"+lang)
		navigate(t, p, s.base+"/pledges/"+f.coat.id+"/manage?token="+url.QueryEscape(f.coat.token))
		navigate(t, p, s.base+"/pledges/"+f.coat.id+"/survey")
		browser.CheckAxe(t, p, axe, lang+" survey")
		p.MustElement(`select[name="country"]`).MustSelect("Portugal")
		wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
		p.MustElement(`button[type="submit"]`).MustClick()
		wait()
		if !p.MustHas("#country-error") {
			t.Fatalf("%s: the refusal is not shown", lang)
		}
		browser.CheckAxe(t, p, axe, lang+" survey with errors")
	}
}
