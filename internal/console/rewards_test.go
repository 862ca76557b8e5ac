package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/testenv"
)

// apiTier is a tier as the API shows it to its owner.
func apiTier(t *testing.T, s *site, token, campaignID, tierID string) map[string]any {
	t.Helper()
	c, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+campaignID, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tier := range c["tiers"].([]any) {
		if m := tier.(map[string]any); m["id"] == tierID {
			return m
		}
	}
	t.Fatalf("no tier %s", tierID)
	return nil
}

// A designer sets a coat's sizes, the stock of one size and its shipping rates from the tier
// page, through the API's rules: a line she wrote wrong, and what the API refuses, come back
// beside the field with what she typed; only the owner can, and only with the page's CSRF token.
func TestTierOptionsStockAndShippingFromTheConsole(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	v.addTier(editor, "Coat", "physical", "320")
	token := v.cookie("session").Value
	id := campaignID(editor)
	tier := tierIDs(t, s, token, id)[0]
	page := editor + "/tiers/" + tier
	details := page + "/details"

	// Written wrong: the line is named, beside its field, and the text stays.
	bad := v.post(page, details, url.Values{"options": {"Size S M L"}, "stock": {"Size=M: ten"}, "shipping_rates": {"CH 12"}})
	if bad.status != 422 {
		t.Fatalf("details written wrong: %d\n%s", bad.status, bad.body)
	}
	for _, want := range []string{`id="details-options-error"`, "Line 1 is not written as the hint shows.", `id="details-stock-error"`,
		`id="details-rates-error"`, "Size S M L", "Size=M: ten", `aria-invalid="true"`} {
		if !strings.Contains(bad.body, want) {
			t.Errorf("details written wrong: page lacks %q", want)
		}
	}
	testenv.CheckHTML(t, "tier page with errors", bad.body, "en")
	// Well written, refused by the API's rules: stock of a size the coat does not have, a zone
	// that is none.
	refused := v.post(page, details, url.Values{"options": {"Size: S, M, L"}, "stock": {"Size=XXL: 4"}, "shipping_rates": {"Atlantis: 12"}})
	if refused.status != 422 || !strings.Contains(refused.body, `id="details-stock-error"`) || !strings.Contains(refused.body, `id="details-rates-error"`) ||
		!strings.Contains(refused.body, "Size=XXL: 4") {
		t.Fatalf("details the API refuses: %d\n%s", refused.status, refused.body)
	}
	if opts, _ := apiTier(t, s, token, id, tier)["options"].([]any); len(opts) != 0 {
		t.Fatalf("a refused form changed the tier: %v", opts)
	}
	// Without the page's token, or from another designer: nothing changes.
	if p := v.do("POST", details, url.Values{"options": {"Size: S"}}); p.status != 403 {
		t.Fatalf("details without the CSRF token: %d", p.status)
	}
	mallory := s.visitor("en")
	mallory.signUp("Mallory")
	if p := mallory.post("/designer", details, url.Values{"options": {"Size: S"}}); p.status != 404 {
		t.Fatalf("another designer's details: %d", p.status)
	}

	ok := v.post(page, details, url.Values{"options": {"Size: S, M, L\n\nColour: Oat, Moss"}, "stock": {"Size=M; Colour=Oat: 4"},
		"shipping_rates": {"ch: 12\nEU: 25.50"}})
	if ok.status != 303 || ok.location() != page+"?notice=details_saved#details" {
		t.Fatalf("details: %d %s\n%s", ok.status, ok.location(), ok.body)
	}
	got := apiTier(t, s, token, id, tier)
	opts, stock, rates := got["options"].([]any), got["stock"].([]any), got["shipping_rates"].([]any)
	if len(opts) != 2 || opts[1].(map[string]any)["name"] != "Colour" || len(stock) != 1 || stock[0].(map[string]any)["remaining"] != float64(4) ||
		len(rates) != 2 || rates[0].(map[string]any)["zone"] != "CH" || rates[1].(map[string]any)["price"].(map[string]any)["amount"] != float64(2550) {
		t.Fatalf("after saving the API says %v %v %v", opts, stock, rates)
	}
	after := v.get(page + "?notice=details_saved")
	for _, want := range []string{"Options, stock and shipping saved.", "Size: S, M, L\nColour: Oat, Moss", "Size=M; Colour=Oat: 4", "CH: 12.00\nEU: 25.50"} {
		if !strings.Contains(after.body, want) {
			t.Errorf("tier page after saving lacks %q", want)
		}
	}
}

// A designer adds, moves and cancels a workshop's dates from the tier page: times are the wall
// clock of the date's zone, the API's refusals stand beside their fields, hostile text is shown
// as text, and the page is valid in both languages.
func TestWorkshopDatesFromTheConsole(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Dyeing workshops")
	v.addTier(editor, "Workshop", "experience", "90")
	token := v.cookie("session").Value
	id := campaignID(editor)
	tier := tierIDs(t, s, token, id)[0]
	page := editor + "/tiers/" + tier
	sessions := page + "/sessions"
	date := s.clock.Now().AddDate(0, 1, 0).Format("2006-01-02")
	form := url.Values{"starts_at": {date + "T14:00"}, "ends_at": {date + "T17:30"}, "timezone": {"Europe/Zurich"},
		"place": {`Atelier <script>alert(1)</script>, Rue des Bains 12`}, "capacity": {"12"}}

	for name, c := range map[string]struct {
		change   url.Values
		errField string
	}{
		"ends before it starts": {url.Values{"ends_at": {date + "T10:00"}}, `id="session-new-ends-error"`},
		"no time":               {url.Values{"starts_at": {""}}, `id="session-new-starts-error"`},
		"a zone that is none":   {url.Values{"timezone": {"Mars/Olympus"}}, `id="session-new-timezone-error"`},
		"online without link":   {url.Values{"online": {"1"}, "place": {""}}, `id="session-new-link-error"`},
		"nobody":                {url.Values{"capacity": {"0"}}, `id="session-new-capacity-error"`},
	} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		for k, v := range c.change {
			bad[k] = v
		}
		p := v.post(page, sessions, bad)
		if p.status != 422 || !strings.Contains(p.body, c.errField) || !strings.Contains(p.body, `value="Atelier &lt;script&gt;`) && bad.Get("place") != "" {
			t.Errorf("date %s: %d, want 422 with %s", name, p.status, c.errField)
		}
	}
	if p := v.do("POST", sessions, form); p.status != 403 {
		t.Fatalf("a date without the CSRF token: %d", p.status)
	}
	mallory := s.visitor("en")
	mallory.signUp("Mallory")
	if p := mallory.post("/designer", sessions, form); p.status != 404 {
		t.Fatalf("another designer adds a date: %d", p.status)
	}
	if got, _ := apiTier(t, s, token, id, tier)["sessions"].([]any); len(got) != 0 {
		t.Fatalf("refused forms added dates: %v", got)
	}

	added := v.post(page, sessions, form)
	if added.status != 303 || added.location() != page+"?notice=session_added#sessions" {
		t.Fatalf("add a date: %d %s\n%s", added.status, added.location(), added.body)
	}
	se := apiTier(t, s, token, id, tier)["sessions"].([]any)[0].(map[string]any)
	zurich, _ := time.LoadLocation("Europe/Zurich")
	want, _ := time.ParseInLocation("2006-01-02T15:04", date+"T14:00", zurich)
	if at, _ := time.Parse(time.RFC3339, se["starts_at"].(string)); !at.Equal(want) || se["capacity"] != float64(12) {
		t.Fatalf("the date the API shows: %v (want start %v)", se, want)
	}
	sessionID := se["id"].(string)
	p := v.get(page + "?notice=session_added")
	if !strings.Contains(p.body, "Date added.") || !strings.Contains(p.body, `value="`+date+`T14:00"`) || strings.Contains(p.body, "<script>alert") {
		t.Fatalf("tier page after adding a date:\n%s", p.body)
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		both.Check("tier page with dates", v.get(page).body, lang)
	}
	v.lang = "en"

	// Moved an hour later, with more places; then cancelled.
	edit := url.Values{}
	for k, val := range form {
		edit[k] = val
	}
	edit.Set("starts_at", date+"T15:00")
	edit.Set("ends_at", date+"T18:00")
	edit.Set("capacity", "14")
	if e := v.post(page, sessions+"/"+sessionID, edit); e.status != 303 {
		t.Fatalf("edit a date: %d\n%s", e.status, e.body)
	}
	edit.Set("ends_at", date+"T12:00")
	if e := v.post(page, sessions+"/"+sessionID, edit); e.status != 422 || !strings.Contains(e.body, `id="session-`+sessionID+`-ends-error"`) {
		t.Fatalf("edit a date to end before it starts: %d", e.status)
	}
	se = apiTier(t, s, token, id, tier)["sessions"].([]any)[0].(map[string]any)
	if at, _ := time.Parse(time.RFC3339, se["starts_at"].(string)); !at.Equal(want.Add(time.Hour)) || se["capacity"] != float64(14) {
		t.Fatalf("after editing the API shows %v", se)
	}
	if c := v.post(page, sessions+"/"+sessionID+"/cancel", nil); c.status != 303 {
		t.Fatalf("cancel a date: %d\n%s", c.status, c.body)
	}
	if se := apiTier(t, s, token, id, tier)["sessions"].([]any)[0].(map[string]any); se["cancelled"] != true {
		t.Fatalf("after cancelling the API shows %v", se)
	}
	if p := v.post(page, sessions+"/ses_nope", form); p.status != 404 {
		t.Fatalf("a date that does not exist: %d", p.status)
	}
}
