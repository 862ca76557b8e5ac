package pages_test

import (
	"context"

	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

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
	app   *app.App
	admin string
	// geneva is the demonstration's Geneva campaign, once a test seeded it.
	geneva seed.Campaign
}

func startSite(t *testing.T) *site {
	t.Helper()
	return startSiteOn(t, testenv.MustStore(t))
}

// startSiteOn runs the site on a store the test opened itself (to break it, say).
func startSiteOn(t *testing.T, store *mongostore.Store) *site {
	t.Helper()
	return startSiteWith(t, store, nil)
}

// startSiteWith runs the site with settings of the test's own.
func startSiteWith(t *testing.T, store *mongostore.Store, env map[string]string) *site {
	t.Helper()
	clock := testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	a, base := testsite.Serve(t, testsite.Config(t, env), zerolog.Nop(), app.Deps{Store: store, Now: clock.Now})
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(client.CloseIdleConnections)
	s := &site{t: t, base: base, api: &seed.Client{Base: base, HTTP: client}, clock: clock, store: store, app: a}
	var err error
	if s.admin, err = s.api.Admin(context.Background(), store, clock.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

// demo seeds the Geneva demonstration campaigns.
func (s *site) demo() seed.Demo {
	s.t.Helper()
	d, err := seed.Geneva(context.Background(), s.api, s.store, s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

type page struct {
	status int
	header http.Header
	body   string
}

// get fetches a page as a browser would, with Accept-Language and optional cookies.
func (s *site) get(path, acceptLanguage string, cookies ...*http.Cookie) page {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := s.api.HTTP.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

// checkHeaders fails unless a page carries the security headers every page must have.
func checkHeaders(t *testing.T, where string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", where, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy allows unsafe script: %q", where, csp)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", where, k, h.Get(k), v)
		}
	}
}

// mustContain fails unless body contains every one of want.
func mustContain(t *testing.T, where, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: page lacks %q", where, w)
		}
	}
}
