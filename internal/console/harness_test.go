package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/html"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
	"github.com/backstitch/backstitch/internal/testsite"
)

func TestMain(m *testing.M) { testenv.Main(m, browser.Stop) }

// site is a running Backstitch on a loopback port, on its own database and movable clock.
type site struct {
	t     *testing.T
	base  string
	api   *seed.Client
	clock *testenv.Clock
	store *mongostore.Store
	admin string
	app   *app.App
}

func startSite(t *testing.T, env map[string]string) *site {
	t.Helper()
	return startSiteLogging(t, env, zerolog.Nop())
}

// startSiteLogging runs the site with log as its logger (to read what it logs).
func startSiteLogging(t *testing.T, env map[string]string, log zerolog.Logger) *site {
	t.Helper()
	store := testenv.MustStore(t)
	clock := testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	a, base := testsite.Serve(t, testsite.Config(t, env), log, app.Deps{Store: store, Now: clock.Now})
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirect}
	t.Cleanup(client.CloseIdleConnections)
	s := &site{t: t, base: base, api: &seed.Client{Base: base, HTTP: client}, clock: clock, store: store, app: a}
	var err error
	if s.admin, err = s.api.Admin(context.Background(), store, clock.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// visitor is one browser without JavaScript: its own cookies, forms posted as a browser posts them.
type visitor struct {
	s    *site
	http *http.Client
	lang string
}

func (s *site) visitor(lang string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{s: s, lang: lang, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: noRedirect}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location() string { return p.header.Get("Location") }

func (v *visitor) do(method, path string, form url.Values) page {
	v.s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, v.s.base+path, body)
	req.Header.Set("Accept", "text/html")
	if v.lang != "" {
		req.Header.Set("Accept-Language", v.lang)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := v.http.Do(req)
	if err != nil {
		v.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

func (v *visitor) get(path string) page { return v.do("GET", path, nil) }

var (
	tokenField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	keyField   = regexp.MustCompile(`name="key" value="([^"]+)"`)
	seenField  = regexp.MustCompile(`name="seen" value="([^"]+)"`)
)

// post sends a form as the page at from would: with the CSRF token that page carries, its form
// key (the forms that must act once) and the version of the campaign it shows (the review's
// forms), unless the test sets them.
func (v *visitor) post(from, path string, form url.Values) page {
	v.s.t.Helper()
	p := v.get(from)
	m := tokenField.FindStringSubmatch(p.body)
	if m == nil {
		v.s.t.Fatalf("no CSRF token on %s (%d)", from, p.status)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", html.UnescapeString(m[1]))
	if k := keyField.FindStringSubmatch(p.body); k != nil && !form.Has("key") {
		form.Set("key", html.UnescapeString(k[1]))
	}
	if k := seenField.FindStringSubmatch(p.body); k != nil && !form.Has("seen") {
		form.Set("seen", html.UnescapeString(k[1]))
	}
	return v.do("POST", path, form)
}

func (v *visitor) cookie(name string) *http.Cookie {
	u, _ := url.Parse(v.s.base)
	for _, c := range v.http.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

const password = "linen and wool, always"

// signUp makes a designer through the console's form and leaves the visitor signed in.
func (v *visitor) signUp(name string) (email string) {
	v.s.t.Helper()
	email = strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "." + time.Now().Format("150405.000000") + "@atelier.example"
	p := v.post("/designer/signup", "/designer/signup", url.Values{"name": {name}, "email": {email}, "password": {password}})
	if p.status != 303 || !strings.HasPrefix(p.location(), "/designer") {
		v.s.t.Fatalf("sign-up: %d %s\n%s", p.status, p.location(), p.body)
	}
	return email
}

// createDraft makes a campaign through the editor and returns its editor path.
func (v *visitor) createDraft(title string) string {
	v.s.t.Helper()
	p := v.post("/designer/campaigns/new", "/designer/campaigns/new", url.Values{
		"title": {title}, "blurb": {"Linen coats from Geneva."}, "story": {"Woven by **hand**."},
		"goal": {"15000"}, "currency": {"CHF"}, "funding_model": {"all_or_nothing"},
		"deadline": {"2026-12-10"}, "timezone": {"Europe/Zurich"},
	})
	if p.status != 303 {
		v.s.t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	path, _, _ := strings.Cut(p.location(), "?")
	return path
}

func (v *visitor) addTier(editor, title, kind, price string) {
	v.s.t.Helper()
	form := url.Values{"title": {title}, "kind": {kind}, "price": {price}, "limit": {"10"}}
	if kind == "physical" {
		form.Set("ships", "1")
	}
	if p := v.post(editor, editor+"/tiers", form); p.status != 303 {
		v.s.t.Fatalf("add tier: %d\n%s", p.status, p.body)
	}
}

func campaignID(editor string) string { return editor[strings.LastIndexByte(editor, '/')+1:] }
