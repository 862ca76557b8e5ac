package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/testenv"
)

// A designer edits her profile: what is wrong is said beside the field and nothing is saved;
// hostile text is kept as typed and shown inert everywhere it appears.
func TestProfileIsValidatedAndShownInert(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	email := v.signUp("Ana")
	p := v.get("/designer/profile")
	if p.status != 200 || !strings.Contains(p.body, email) || !strings.Contains(p.body, `value="Ana"`) {
		t.Fatalf("profile page: %d\n%s", p.status, p.body)
	}
	p = v.post("/designer/profile", "/designer/profile", url.Values{"name": {"Ana"}, "website": {"javascript:alert(1)"}, "instagram": {"<b>ana</b>"}, "bio": {"Linen."}})
	if p.status != 422 || !strings.Contains(p.body, `id="website-error"`) || !strings.Contains(p.body, `id="instagram-error"`) ||
		!strings.Contains(p.body, "Linen.") {
		t.Fatalf("bad profile: %d\n%s", p.status, p.body)
	}
	if strings.Contains(p.body, "<b>ana</b>") || strings.Contains(p.body, `href="javascript`) {
		t.Error("refused input echoed unescaped")
	}
	if p := v.get("/designer/profile"); strings.Contains(p.body, "Linen.") {
		t.Error("a refused profile was partly saved")
	}

	hostile := `Ana <img src=x onerror=alert(1)> "&"`
	p = v.post("/designer/profile", "/designer/profile", url.Values{"name": {hostile}, "bio": {"<script>alert(1)</script>\r\nLinen & wool."},
		"website": {"atelier-ana.ch"}, "instagram": {"@atelier.ana"}, "location": {"Genève"}})
	if p.status != 303 || p.location() != "/designer/profile?notice=profile_saved" {
		t.Fatalf("save profile: %d %q\n%s", p.status, p.location(), p.body)
	}
	for _, path := range []string{"/designer/profile?notice=profile_saved", "/designer"} {
		p = v.get(path)
		if strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "<script>alert") {
			t.Errorf("%s shows hostile text as markup", path)
		}
		if !strings.Contains(p.body, "Ana &lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("%s does not show the name as typed", path)
		}
		testenv.CheckHTML(t, path, p.body, "en")
	}
	p = v.get("/designer/profile")
	for _, want := range []string{`value="https://atelier-ana.ch"`, `value="@atelier.ana"`, `value="Genève"`, "Linen &amp; wool."} {
		if !strings.Contains(p.body, want) {
			t.Errorf("saved profile lacks %s", want)
		}
	}
	// The name backers see follows the profile.
	me, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/me", v.cookie("session").Value, nil)
	if err != nil || me["name"] != hostile {
		t.Errorf("the account's name is %v (%v)", me["name"], err)
	}
}

// Changing the password needs the current one; it ends every other session (another browser,
// an API token) and keeps this browser signed in with a new session.
func TestChangePasswordEndsTheOtherSessions(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("fr")
	email := v.signUp("Ana")
	other := s.visitor("en")
	if p := other.post("/designer/login", "/designer/login", url.Values{"email": {email}, "password": {password}}); p.status != 303 {
		t.Fatalf("second log-in: %d", p.status)
	}
	apiToken, err := s.api.Call(ctx, 201, "POST", "/api/v1/sessions", "", map[string]any{"email": email, "password": password})
	if err != nil {
		t.Fatal(err)
	}
	token := apiToken["token"].(string)
	before := v.cookie("session").Value

	p := v.post("/designer/profile", "/designer/profile/password", url.Values{"current_password": {"not my password"}, "password": {"a brand new passphrase"}})
	if p.status != 422 || !strings.Contains(p.body, `<p class="error" id="current_password-error">Ce n’est pas votre mot de passe actuel.`) {
		t.Fatalf("wrong current password: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "wrong current password", p.body, "fr")
	p = v.post("/designer/profile", "/designer/profile/password", url.Values{"current_password": {password}, "password": {"short"}})
	if p.status != 422 || !strings.Contains(p.body, `id="password-error"`) {
		t.Fatalf("short new password: %d\n%s", p.status, p.body)
	}
	if other.get("/designer").status != 200 {
		t.Fatal("a refused change ended the other session")
	}

	next := "a brand new passphrase"
	p = v.post("/designer/profile", "/designer/profile/password", url.Values{"current_password": {password}, "password": {next}})
	if p.status != 303 || p.location() != "/designer/profile?notice=password_changed" {
		t.Fatalf("change password: %d %q\n%s", p.status, p.location(), p.body)
	}
	if c := v.cookie("session"); c == nil || c.Value == before {
		t.Error("this browser kept its old session token")
	}
	if p := v.get(p.location()); p.status != 200 || !strings.Contains(p.body, "Mot de passe changé") {
		t.Errorf("after the change this browser is signed out: %d", p.status)
	}
	if p := other.get("/designer"); p.status != 303 || !strings.HasPrefix(p.location(), "/designer/login") {
		t.Errorf("the other browser is still signed in: %d", p.status)
	}
	for _, old := range []string{token, before} {
		if _, err := s.api.Call(ctx, 401, "GET", "/api/v1/me", old, nil); err != nil {
			t.Errorf("an old session outlived the change: %v", err)
		}
	}
	if _, err := s.api.Call(ctx, 401, "POST", "/api/v1/sessions", "", map[string]any{"email": email, "password": password}); err != nil {
		t.Errorf("the old password still logs in: %v", err)
	}
	if _, err := s.api.Call(ctx, 201, "POST", "/api/v1/sessions", "", map[string]any{"email": email, "password": next}); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
}

// The profile page is valid in both languages.
func TestProfilePageIsValidInBothLanguages(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		p := v.get("/designer/profile")
		both.Check("profile", p.body, lang)
	}
}

// Her profile is on her campaign's public page, "about the designer", as text: hostile markup
// inert, the website a nofollow link, the Instagram handle a link to it. A change shows at once,
// though the page was cached, and GET /api/v1/me returns it.
func TestProfileShowsOnThePublicPageAtOnce(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	token := v.cookie("session").Value
	id := launch(t, s, token)
	c, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+id, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	public := "/campaigns/" + c["slug"].(string)
	backer := s.visitor("en")
	if p := backer.get(public); p.status != 200 || strings.Contains(p.body, `class="about"`) {
		t.Fatalf("public page before a profile: %d", p.status)
	}

	hostile := `Ana <img src=x onerror=alert(1)>`
	p := v.post("/designer/profile", "/designer/profile", url.Values{"name": {hostile},
		"bio":     {"<script>alert(1)</script>\r\nLinen & wool.\r\n\r\n\"Slow\" fashion."},
		"website": {"atelier-ana.ch/?a=1&b=<2>"}, "instagram": {"@atelier.ana"}, "location": {"Genève <i>"}})
	if p.status != 303 {
		t.Fatalf("save profile: %d\n%s", p.status, p.body)
	}
	for _, lang := range []string{"en", "fr"} {
		page := s.visitor(lang).get(public)
		if page.status != 200 {
			t.Fatalf("public page (%s): %d", lang, page.status)
		}
		for _, bad := range []string{"<img src=x", "<script>alert", "<i>", "<2>"} {
			if strings.Contains(page.body, bad) {
				t.Errorf("public page (%s) shows %q as markup", lang, bad)
			}
		}
		for _, want := range []string{`class="about"`, "Ana &lt;img src=x onerror=alert(1)&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;<br>Linen &amp; wool.",
			"Genève &lt;i&gt;", `href="https://atelier-ana.ch/?a=1&amp;b=%3c2%3e" rel="nofollow ugc"`,
			`href="https://www.instagram.com/atelier.ana/" rel="nofollow ugc"`, "@atelier.ana"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("public page (%s) lacks %s", lang, want)
			}
		}
		testenv.CheckHTML(t, public, page.body, lang)
	}
	me, err := s.api.Call(ctx, 200, "GET", "/api/v1/me", token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if prof, _ := me["profile"].(map[string]any); prof["instagram"] != "atelier.ana" || prof["location"] != "Genève <i>" ||
		prof["website"] != "https://atelier-ana.ch/?a=1&b=<2>" || !strings.HasPrefix(prof["bio"].(string), "<script>") {
		t.Errorf("GET /api/v1/me: %v", me)
	}

	// Cached for anonymous visitors, yet a new name shows on the next view, with nothing left of
	// the old one, on the page and in the campaign list.
	if p := v.post("/designer/profile", "/designer/profile", url.Values{"name": {"Ana Muster"}, "bio": {"Linen."}}); p.status != 303 {
		t.Fatalf("second save: %d", p.status)
	}
	page := backer.get(public)
	if !strings.Contains(page.body, "Ana Muster") || strings.Contains(page.body, "onerror") || strings.Contains(page.body, "atelier.ana") {
		t.Errorf("the public page still shows the old profile")
	}
	if home := backer.get("/"); !strings.Contains(home.body, "Ana Muster") {
		t.Errorf("the home page's card still shows the old name")
	}

	// The API's PUT /api/v1/me/profile has the form's rules and the same effect.
	if _, err := s.api.Call(ctx, 422, "PUT", "/api/v1/me/profile", token, map[string]any{"name": "Ana", "website": "javascript:alert(1)"}); err != nil {
		t.Error(err)
	}
	got, err := s.api.Call(ctx, 200, "PUT", "/api/v1/me/profile", token, map[string]any{"name": "Atelier Ana", "instagram": "instagram.com/ana.wool/"})
	if err != nil {
		t.Fatal(err)
	}
	if got["profile"].(map[string]any)["instagram"] != "ana.wool" {
		t.Errorf("PUT /api/v1/me/profile answered %v", got)
	}
	if page := backer.get(public); !strings.Contains(page.body, "About Atelier Ana") || !strings.Contains(page.body, "@ana.wool") {
		t.Errorf("the public page does not show the profile set over the API")
	}
}
