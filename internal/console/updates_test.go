package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/testenv"
)

// A designer posts updates to her launched campaign from the console, through the update
// service behind the API: what it refuses is said beside the fields with everything typed kept;
// hostile text stays inert (Markdown rendered safe); a public update reaches the campaign page,
// a backers-only one does not.
func TestPostUpdatesFromTheConsole(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	owner := v.cookie("session").Value
	c := liveWithShipping(t, s, owner)
	path := "/designer/campaigns/" + c.ID + "/updates"
	if e := v.get("/designer/campaigns/" + c.ID); !strings.Contains(e.body, `href="`+path+`"`) {
		t.Error("the editor of a launched campaign has no link to its updates")
	}
	p := v.get(path)
	if p.status != 200 || !strings.Contains(p.body, `action="`+path+`"`) || !strings.Contains(p.body, "No update posted yet.") {
		t.Fatalf("updates page: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "updates", p.body, "en")

	// Refused: no title, a made-up visibility; the body comes back as typed, inert.
	typed := "Kept <b>as typed</b> & whole"
	p = v.post(path, path, url.Values{"title": {""}, "body": {typed}, "visibility": {"everyone"}})
	if p.status != 422 || !strings.Contains(p.body, `<p class="error" id="title-error">`) || !strings.Contains(p.body, `<p class="error" id="visibility-error">`) ||
		!strings.Contains(p.body, "Kept &lt;b&gt;as typed&lt;/b&gt; &amp; whole</textarea>") {
		t.Fatalf("refused update: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "refused update", p.body, "en")

	title := `<script>alert(1)</script> First coats cut`
	body := "The **linen** arrived. <img src=x onerror=alert(1)> [more](javascript:alert(1))"
	p = v.post(path, path, url.Values{"title": {title}, "body": {body}, "visibility": {"public"}})
	if p.status != 303 || p.location() != path+"?notice=update_posted" {
		t.Fatalf("post update: %d %q\n%s", p.status, p.location(), p.body)
	}
	// The same form sent again (a double click, a browser resending it) posts one update; the
	// form's key with other words is refused; a post without a key is shown again with one.
	sizes := url.Values{"title": {"Sizes for backers"}, "body": {"Send me your size."}, "visibility": {"backers"}}
	form := keyField.FindStringSubmatch(v.get(path).body)[1]
	for range 2 {
		sizes.Set("key", form)
		if p = v.post(path, path, sizes); p.status != 303 || p.location() != path+"?notice=update_posted" {
			t.Fatalf("post backers-only update: %d %q\n%s", p.status, p.location(), p.body)
		}
	}
	other := url.Values{"title": {"Other words"}, "body": {"Same form."}, "visibility": {"public"}, "key": {form}}
	if p = v.post(path, path, other); p.status != 409 || !strings.Contains(p.body, "This update was already sent") {
		t.Errorf("the form's key with other words: %d\n%s", p.status, p.body)
	}
	keyless := url.Values{"title": {"No key"}, "body": {"Hand-made."}, "visibility": {"public"}, "key": {"x"}}
	if p = v.post(path, path, keyless); p.status != 422 || !strings.Contains(p.body, "No key") || !keyField.MatchString(p.body) {
		t.Errorf("a post without a valid key: %d\n%s", p.status, p.body)
	}
	p = v.get(path + "?notice=update_posted")
	escapedTitle := "&lt;script&gt;alert(1)&lt;/script&gt; First coats cut"
	for _, want := range []string{"Update posted.", escapedTitle, "<strong>linen</strong>", "Sizes for backers", `status-backers">Backers only`, `status-public">Public`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the updates page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "javascript:") {
		t.Errorf("hostile text rendered as markup:\n%s", p.body)
	}
	testenv.CheckHTML(t, "updates posted", p.body, "en")

	// The API reads the same updates, and the campaign page shows the public one only.
	got, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+c.ID+"/updates", owner, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got["data"].([]any)); n != 2 {
		t.Errorf("the API lists %d updates, want 2", n)
	}
	public := s.visitor("en").get("/campaigns/" + c.Slug)
	if public.status != 200 || !strings.Contains(public.body, escapedTitle) || !strings.Contains(public.body, "<strong>linen</strong>") ||
		strings.Contains(public.body, "Sizes for backers") || strings.Contains(public.body, "<img src=x") {
		t.Errorf("campaign page after the updates: %d\n%s", public.status, public.body)
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		both.Check("updates", v.get(path).body, lang)
	}
}

// A campaign that has not launched has nobody to tell: the page says so and offers no form,
// and a post is refused by the service's rule with nothing posted.
func TestUpdatesOfADraftAreRefused(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("fr")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	path := editor + "/updates"
	if e := v.get(editor); strings.Contains(e.body, `href="`+path+`"`) {
		t.Error("the editor of a draft links to updates")
	}
	p := v.get(path)
	if p.status != 200 || strings.Contains(p.body, `name="title"`) || !strings.Contains(p.body, "une fois la campagne lancée") {
		t.Fatalf("a draft's updates page: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "draft updates", p.body, "fr")
	// A hand-made post (the page has no form, so no form key: it brings its own).
	p = v.post(path, path, url.Values{"title": {"Too early"}, "body": {"News."}, "visibility": {"public"}, "key": {strings.Repeat("0f", 16)}})
	if p.status != 409 || !strings.Contains(p.body, `class="form-error"`) {
		t.Fatalf("update of a draft: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "draft update refused", p.body, "fr")
	got, err := s.api.Call(context.Background(), 200, "GET", "/api/v1/campaigns/"+campaignID(editor)+"/updates", v.cookie("session").Value, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got["data"].([]any)); n != 0 {
		t.Errorf("a draft has %d updates", n)
	}
}
