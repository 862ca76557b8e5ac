package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/console"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/testenv"
)

// A designer signs up and is signed in by a cookie the browser keeps from scripts and other
// sites; the cookie's token is the API's bearer token too; logging out kills it for both.
func TestSignUpLogInLogOutWithTheSessionCookie(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	email := v.signUp("Ana Muster")
	sc := v.get("/designer")
	if sc.status != 200 || !strings.Contains(sc.body, "Ana Muster") || !strings.Contains(sc.body, "Welcome") && !strings.Contains(sc.body, "My campaigns") {
		t.Fatalf("dashboard after sign-up: %d\n%s", sc.status, sc.body)
	}
	raw := v.post("/designer/login", "/designer/login", url.Values{"email": {email}, "password": {password}})
	setCookie := raw.header.Get("Set-Cookie")
	for _, want := range []string{"session=", "HttpOnly", "SameSite=Lax", "path=/"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("session cookie %q lacks %s", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("development over http cannot keep a Secure cookie: %q", setCookie)
	}
	token := v.cookie("session").Value
	ctx := context.Background()
	if _, err := s.api.Call(ctx, 200, "GET", "/api/v1/me", token, nil); err != nil {
		t.Fatalf("the console's session is not the API's: %v", err)
	}
	// The API does not read the cookie: a cross-site request riding on it is anonymous there.
	req, _ := http.NewRequest("GET", s.base+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: token})
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("API with the cookie alone: %v %v", res.StatusCode, err)
	}
	out := v.post("/designer", "/designer/logout", nil)
	if out.status != 303 || out.location() != "/designer/login" {
		t.Fatalf("logout: %d %s", out.status, out.location())
	}
	if v.cookie("session") != nil {
		t.Errorf("the cookie outlived the logout")
	}
	if _, err := s.api.Call(ctx, 401, "GET", "/api/v1/me", token, nil); err != nil {
		t.Errorf("the token outlived the logout: %v", err)
	}
	if p := v.get("/designer"); p.status != 303 {
		t.Errorf("dashboard after logout: %d", p.status)
	}
}

// Served over https, the cookie is __Host-session and Secure.
func TestSessionCookieIsSecureOverHTTPS(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_PUBLIC_URL": "https://backstitch.example"})
	v := s.visitor("en")
	p := v.post("/designer/signup", "/designer/signup", url.Values{"name": {"Ana"}, "email": {"ana.secure@atelier.example"}, "password": {password}})
	if p.status != 303 {
		t.Fatalf("sign-up: %d %s", p.status, p.body)
	}
	var got string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-session=") {
			got = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "secure", "path=/"} {
		if !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
			t.Errorf("session cookie %q lacks %s", got, want)
		}
	}
	if strings.Contains(strings.ToLower(got), "domain=") {
		t.Errorf("a __Host- cookie has no Domain: %q", got)
	}
}

// A session token planted in the browser before log-in (session fixation) is not the one the
// designer gets, and it is dead afterwards.
func TestLogInNeverKeepsAPlantedSession(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	planted, err := s.api.Designer(ctx, "Mallory")
	if err != nil {
		t.Fatal(err)
	}
	victim := s.visitor("en")
	email := victim.signUp("Ana")
	victim.post("/designer", "/designer/logout", nil)
	u, _ := url.Parse(s.base)
	victim.http.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: planted, Path: "/"}})
	if p := victim.post("/designer/login", "/designer/login", url.Values{"email": {email}, "password": {password}}); p.status != 303 {
		t.Fatalf("login: %d", p.status)
	}
	if got := victim.cookie("session").Value; got == planted {
		t.Fatal("the planted token became the victim's session")
	}
	if _, err := s.api.Call(ctx, 401, "GET", "/api/v1/me", planted, nil); err != nil {
		t.Errorf("the planted session still lives: %v", err)
	}
}

// Without a session every console page sends the visitor to log in (and back afterwards); a
// form without our CSRF token is refused before anything happens.
func TestAnonymousIsSentToLogInAndForgedFormsAreRefused(t *testing.T) {
	s := startSite(t, nil)
	owner := s.visitor("en")
	owner.signUp("Ana")
	editor := owner.createDraft("Linen coat")
	id := campaignID(editor)
	anon := s.visitor("en")
	open := []string{"GET /designer/signup", "POST /designer/signup", "GET /designer/login", "POST /designer/login", "POST /designer/logout",
		"GET /designer/password", "POST /designer/password", "GET /designer/password/reset", "POST /designer/password/reset"}
	for _, r := range console.Routes {
		method, pattern, _ := strings.Cut(r, " ")
		path := strings.NewReplacer(":id", id, ":tier_id", "tier_x").Replace(pattern)
		if method == "GET" {
			p := anon.get(path)
			if slices.Contains(open, r) {
				if p.status != 200 {
					t.Errorf("%s: %d", r, p.status)
				}
				continue
			}
			if p.status != 303 || p.location() != "/designer/login?next="+url.QueryEscape(path) {
				t.Errorf("%s as anonymous: %d %q", r, p.status, p.location())
			}
			continue
		}
		// No token at all, a token for another cookie, and a cross-site post: 403.
		if p := anon.do("POST", path, url.Values{"title": {"x"}}); p.status != 403 {
			t.Errorf("%s without a CSRF token: %d", r, p.status)
		}
		if p := owner.do("POST", path, url.Values{"csrf_token": {"forged"}, "title": {"Hijacked"}}); p.status != 403 {
			t.Errorf("%s with a forged CSRF token: %d", r, p.status)
		}
		if !slices.Contains(open, r) {
			if p := anon.post("/designer/login", path, url.Values{"title": {"x"}}); p.status != 303 || !strings.HasPrefix(p.location(), "/designer/login") {
				t.Errorf("%s as anonymous with a token: %d %q", r, p.status, p.location())
			}
		}
	}
	// The owner's own post with a token from another browser's cookie is refused too.
	theirs := tokenField.FindStringSubmatch(anon.get("/designer/login").body)[1]
	if p := owner.do("POST", editor, url.Values{"csrf_token": {theirs}, "title": {"Hijacked"}}); p.status != 403 {
		t.Errorf("a token from another browser: %d", p.status)
	}
	if p := owner.get(editor); strings.Contains(p.body, "Hijacked") {
		t.Error("a forged form changed the campaign")
	}
}

// Another designer never reaches a campaign that is not hers: a draft does not exist for her
// (404), a live one is not hers to change (403), on every console route; nothing changes.
func TestAnotherDesignersCampaignIsOutOfReach(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	owner := s.visitor("en")
	owner.signUp("Ana")
	draft := owner.createDraft("Secret draft")
	owner.addTier(draft, "Coat", "physical", "320")
	ownerToken := owner.cookie("session").Value
	liveID := launch(t, s, ownerToken)
	tierOf := func(id string) string {
		c, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+id, ownerToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c["tiers"].([]any)[0].(map[string]any)["id"].(string)
	}
	other := s.visitor("en")
	other.signUp("Mallory")
	for _, c := range []struct {
		id   string
		want int
	}{{campaignID(draft), 404}, {liveID, 403}} {
		tier := tierOf(c.id)
		for _, r := range console.Routes {
			method, pattern, _ := strings.Cut(r, " ")
			if !strings.Contains(pattern, ":id") {
				continue
			}
			path := strings.NewReplacer(":id", c.id, ":tier_id", tier).Replace(pattern)
			var p page
			if method == "GET" {
				p = other.get(path)
			} else {
				p = other.post("/designer", path, url.Values{"title": {"Hijacked"}, "goal": {"1"}, "currency": {"CHF"}, "kind": {"digital"}, "price": {"1"}})
			}
			if p.status != c.want || strings.Contains(p.body, "Secret draft") || strings.Contains(p.body, "Coat") {
				t.Errorf("%s on another's campaign: %d, want %d", r, p.status, c.want)
			}
			// Every refusal is a console page, the CSV link's (the API's export) too.
			if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, `href="/designer"`) {
				t.Errorf("%s on another's campaign answers %s, not a console page", r, p.header.Get("Content-Type"))
			}
		}
		got, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+c.id, ownerToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got["title"] == "Hijacked" || len(got["tiers"].([]any)) != 1 || got["tiers"].([]any)[0].(map[string]any)["title"] != "Coat" {
			t.Errorf("another designer changed the campaign: %v", got)
		}
	}
	// An admin's session is not a designer's.
	adminVisitor := s.visitor("en")
	u, _ := url.Parse(s.base)
	adminVisitor.http.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: s.admin, Path: "/"}})
	if p := adminVisitor.get("/designer"); p.status != 403 {
		t.Errorf("an admin on the designers' dashboard: %d", p.status)
	}
}

// launch makes a live campaign of the owner's through the API.
func launch(t *testing.T, s *site, owner string) string {
	t.Helper()
	c, err := s.api.Launch(context.Background(), owner, s.admin, map[string]any{
		"title": "Live coat", "story": "Coats.", "goal": map[string]any{"amount": 100000, "currency": "CHF"},
		"timezone": "Europe/Zurich", "deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{{"title": "Coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 5}})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// The editor answers the API's validation messages beside each field and keeps what was typed.
func TestEditorShowsTheAPIsMessagesAndKeepsWhatWasTyped(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	story := "A long story about linen & wool <3, kept as typed."
	p := v.post("/designer/campaigns/new", "/designer/campaigns/new", url.Values{
		"title": {""}, "blurb": {"Coats"}, "story": {story}, "goal": {"1500.50"}, "currency": {"CHF"},
		"funding_model": {"all_or_nothing"}, "deadline": {"2026-11-03"}, "timezone": {"Europe/Zurich"},
	})
	if p.status != 422 {
		t.Fatalf("invalid draft: %d", p.status)
	}
	for _, want := range []string{`id="title-error"`, "title must",
		"A long story about linen &amp; wool &lt;3, kept as typed.", `value="1500.50"`, `value="Coats"`, `aria-invalid="true"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the form lacks %q", want)
		}
	}
	soon := v.post("/designer/campaigns/new", "/designer/campaigns/new", url.Values{
		"title": {"Coat"}, "goal": {"1500"}, "currency": {"CHF"}, "funding_model": {"flexible"}, "deadline": {"2026-11-02"}, "timezone": {"Europe/Zurich"}})
	if soon.status != 422 || !strings.Contains(soon.body, `id="deadline-error"`) || !strings.Contains(soon.body, "deadline must be at least") {
		t.Errorf("a deadline too soon: %d", soon.status)
	}
	bad := v.post("/designer/campaigns/new", "/designer/campaigns/new", url.Values{
		"title": {"Coat"}, "goal": {"lots"}, "currency": {"CHF"}, "funding_model": {"flexible"}, "deadline": {"2026-12-10"}, "timezone": {"Mars/Olympus"}})
	if bad.status != 422 || !strings.Contains(bad.body, `id="goal-error"`) {
		t.Errorf("a goal that is no number: %d", bad.status)
	}
	bad = v.post("/designer/campaigns/new", "/designer/campaigns/new", url.Values{
		"title": {"Coat"}, "goal": {"1500"}, "currency": {"CHF"}, "funding_model": {"flexible"}, "deadline": {"2026-12-10"}, "timezone": {"Mars/Olympus"}})
	if bad.status != 422 || !strings.Contains(bad.body, `id="timezone-error"`) || !strings.Contains(bad.body, "not a canonical IANA time zone") {
		t.Errorf("an unknown time zone: %d", bad.status)
	}
	// French amounts are read as typed.
	editor := v.createDraft("Linen coat")
	if p := v.post(editor, editor, url.Values{"title": {"Linen coat"}, "goal": {"1 500,50"}, "currency": {"CHF"},
		"funding_model": {"all_or_nothing"}, "deadline": {"2026-12-10"}, "timezone": {"Europe/Zurich"}}); p.status != 303 {
		t.Fatalf("save: %d\n%s", p.status, p.body)
	}
	if p := v.get(editor); !strings.Contains(p.body, `value="1500.50"`) {
		t.Errorf("goal not saved as typed")
	}
}

// Once live, goal, currency, funding model, deadline and time zone show locked with why, and a
// post that sends them anyway changes only what may change.
func TestLiveCampaignShowsItsLocks(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	token := v.cookie("session").Value
	id := launch(t, s, token)
	editor := "/designer/campaigns/" + id
	p := v.get(editor)
	if !strings.Contains(p.body, `disabled aria-describedby="locked-why"`) || !strings.Contains(p.body, "Locked since launch") {
		t.Errorf("live editor shows no lock:\n%s", p.body)
	}
	saved := v.post(editor, editor, url.Values{"title": {"Live coat, lined"}, "story": {"New story."}, "goal": {"1"}, "currency": {"JPY"},
		"funding_model": {"flexible"}, "deadline": {"2027-06-01"}, "timezone": {"Asia/Tokyo"}})
	if saved.status != 303 {
		t.Fatalf("save: %d\n%s", saved.status, saved.body)
	}
	c, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+id, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	goal := c["goal"].(map[string]any)
	if c["title"] != "Live coat, lined" || goal["amount"] != float64(100000) || goal["currency"] != "CHF" || c["timezone"] != "Europe/Zurich" || c["funding_model"] != "all_or_nothing" {
		t.Errorf("after saving a live campaign: %v", c)
	}
}

// Tiers: added, edited and deleted with the API's rules; one with backers keeps its price and
// cannot be deleted, and the page says why.
func TestTiersEditorFollowsTheAPIsRules(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	v.addTier(editor, "Coat", "physical", "320")
	bad := v.post(editor, editor+"/tiers", url.Values{"title": {"Tour"}, "kind": {"experience"}, "price": {"0.10"}, "limit": {"0"}, "description": {"Meet at Plainpalais."}})
	if bad.status != 422 || !strings.Contains(bad.body, `id="tier-price-error"`) || !strings.Contains(bad.body, `id="tier-limit-error"`) || !strings.Contains(bad.body, "Meet at Plainpalais.") {
		t.Errorf("invalid tier: %d", bad.status)
	}
	token := v.cookie("session").Value
	id := launch(t, s, token)
	c, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+id, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	tierID := c["tiers"].([]any)[0].(map[string]any)["id"].(string)
	cam := struct {
		ID, Slug string
		Tiers    map[string]string
	}{id, c["slug"].(string), map[string]string{"Coat": tierID}}
	if err := s.api.Pledge(ctx, cam, "Coat", nil, 32000+1500, "CHF", "Bo", true); err != nil {
		t.Fatal(err)
	}
	tierPage := "/designer/campaigns/" + id + "/tiers/" + tierID
	p := v.get(tierPage)
	if !strings.Contains(p.body, "Backers have chosen this reward") || strings.Contains(p.body, "/delete") {
		t.Errorf("a tier with backers shows no lock, or a delete button")
	}
	if d := v.post(tierPage, tierPage+"/delete", nil); d.status != 409 || !strings.Contains(d.body, "has backers") {
		t.Errorf("deleting a tier with backers: %d", d.status)
	}
	// Price and kind posted anyway are ignored; the title changes.
	if e := v.post(tierPage, tierPage, url.Values{"title": {"Coat, lined"}, "kind": {"digital"}, "price": {"1"}, "limit": {"5"}}); e.status != 303 {
		t.Fatalf("edit: %d\n%s", e.status, e.body)
	}
	c, _ = s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+id, token, nil)
	tier := c["tiers"].([]any)[0].(map[string]any)
	if tier["title"] != "Coat, lined" || tier["kind"] != "physical" || tier["price"].(map[string]any)["amount"] != float64(32000) {
		t.Errorf("tier after edit: %v", tier)
	}
	if e := v.post(tierPage, tierPage, url.Values{"title": {"Coat"}, "limit": {"0"}}); e.status != 422 || !strings.Contains(e.body, "limit") {
		t.Errorf("limit below what backers hold: %d", e.status)
	}
	// A tier nobody backed is deleted.
	draftTier := tierIDs(t, s, token, campaignID(editor))[0]
	if d := v.post(editor, editor+"/tiers/"+draftTier+"/delete", nil); d.status != 303 {
		t.Errorf("delete: %d\n%s", d.status, d.body)
	}
	if n := len(tierIDs(t, s, token, campaignID(editor))); n != 0 {
		t.Errorf("%d tiers left after delete", n)
	}
}

func tierIDs(t *testing.T, s *site, token, id string) []string {
	t.Helper()
	c, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+id, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tier := range c["tiers"].([]any) {
		out = append(out, tier.(map[string]any)["id"].(string))
	}
	return out
}

// Submit, reject with a reason the designer reads, submit again, approve, launch: the dashboard
// then shows the campaign live with its figures.
func TestReviewStepsFromTheConsole(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	id := campaignID(editor)
	v.addTier(editor, "Coat", "physical", "320")
	if p := v.post(editor, editor+"/launch", nil); p.status != 409 {
		t.Errorf("launching a draft: %d", p.status)
	}
	if p := v.post(editor, editor+"/submit", nil); p.status != 303 {
		t.Fatalf("submit: %d\n%s", p.status, p.body)
	}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+id+"/reject", s.admin, map[string]any{"reason": "Add photos of the <lining>."}); err != nil {
		t.Fatal(err)
	}
	if p := v.get(editor); !strings.Contains(p.body, "Add photos of the &lt;lining&gt;.") {
		t.Errorf("the reviewer's reason is not shown")
	}
	if p := v.get("/designer"); !strings.Contains(p.body, "Add photos of the &lt;lining&gt;.") {
		t.Errorf("the dashboard does not show the reason")
	}
	v.post(editor, editor+"/submit", nil)
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", s.admin, nil); err != nil {
		t.Fatal(err)
	}
	if p := v.post(editor, editor+"/launch", nil); p.status != 303 {
		t.Fatalf("launch: %d\n%s", p.status, p.body)
	}
	d := v.get("/designer")
	for _, want := range []string{"Live", "CHF\u00a00.00", "pledged of CHF\u00a015’000.00", "0 backers", "38 days left"} {
		if !strings.Contains(d.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

// Hostile Markdown in a story is inert in the preview (and on the public page, see pages).
func TestPreviewRendersHostileMarkdownInert(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	hostile := "<script>alert(1)</script>\n\n[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n[site](https://example.com/)"
	if p := v.post(editor, editor, url.Values{"title": {"Linen coat"}, "story": {hostile}, "goal": {"15000"}, "currency": {"CHF"},
		"funding_model": {"all_or_nothing"}, "deadline": {"2026-12-10"}, "timezone": {"Europe/Zurich"}}); p.status != 303 {
		t.Fatalf("save: %d", p.status)
	}
	p := v.get(editor + "/preview")
	// The layout's one script is our own file; nothing else may become an element.
	if strings.Count(p.body, "<script") != 1 || strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<img") || strings.Contains(p.body, "javascript:") {
		t.Errorf("hostile Markdown reached the preview:\n%s", p.body)
	}
	if !strings.Contains(p.body, `<a href="https://example.com/" rel="nofollow ugc">site</a>`) || !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the story is not rendered:\n%s", p.body)
	}
}

// Log-in attempts through the console count against the same limits as the API's.
func TestLogInLimitsAreSharedWithTheAPI(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_LOGIN_LIMIT_PER_ACCOUNT": "3"})
	v := s.visitor("en")
	email := v.signUp("Ana")
	v.post("/designer", "/designer/logout", nil)
	// The sign-up's own log-in was the first attempt.
	for i := 0; i < 2; i++ {
		if p := v.post("/designer/login", "/designer/login", url.Values{"email": {email}, "password": {"wrong password!"}}); p.status != 401 {
			t.Fatalf("wrong password %d: %d", i, p.status)
		}
	}
	if p := v.post("/designer/login", "/designer/login", url.Values{"email": {email}, "password": {password}}); p.status != 429 || p.header.Get("Retry-After") == "" {
		t.Errorf("the right password past the limit: %d", p.status)
	}
	if _, err := s.api.Call(context.Background(), 429, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": password}); err != nil {
		t.Errorf("the API does not share the console's count: %v", err)
	}
}

// After log-in the designer lands on the page she asked for, never on another site.
func TestLogInReturnsToTheConsoleOnly(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	email := v.signUp("Ana")
	for next, want := range map[string]string{"/designer/campaigns/new": "/designer/campaigns/new", "//evil.example/designer": "/designer",
		"https://evil.example/": "/designer", "/designer/../admin": "/designer/../admin", "/designer\\evil": "/designer"} {
		v.post("/designer", "/designer/logout", nil)
		p := v.post("/designer/login?next="+url.QueryEscape(next), "/designer/login", url.Values{"email": {email}, "password": {password}, "next": {next}})
		if p.status != 303 || p.location() != want && !(want == "/designer/../admin" && strings.HasPrefix(p.location(), "/designer")) {
			t.Errorf("next %q → %d %q", next, p.status, p.location())
		}
	}
}

// Every console page is complete, labelled HTML in both languages, with French punctuation in
// French.
func TestConsolePagesAreValidInBothLanguages(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	v.addTier(editor, "Coat", "physical", "320")
	tier := tierIDs(t, s, v.cookie("session").Value, campaignID(editor))[0]
	anon := s.visitor("")
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		for _, who := range []*visitor{v, anon} {
			who.lang = lang
		}
		for _, path := range []string{"/designer/login", "/designer/signup", "/designer/password", "/designer/password/reset?token=x"} {
			p := anon.get(path)
			both.Check(path, p.body, lang)
		}
		for _, path := range []string{"/designer", "/designer/campaigns/new", editor, editor + "/preview", editor + "/tiers/" + tier} {
			p := v.get(path)
			if p.status != 200 || p.header.Get("Cache-Control") != "no-store" || !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("%s: %d %v", path, p.status, p.header)
			}
			both.Check(path, p.body, lang)
		}
	}
}
