//go:build !production

package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/pledge"
)

// browserForm is a browser (cookie jar) that has loaded a page with a form and posts it.
type browserForm struct {
	t      *testing.T
	s      *service
	client *http.Client
	csrf   string
}

func (s *service) openForm(path string) *browserForm {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browserForm{t: s.t, s: s, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	code, page := b.get(path)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if code != 200 || m == nil {
		s.t.Fatalf("GET %s: %d, no form:\n%s", path, code, page)
	}
	b.csrf = m[1]
	return b
}

func (b *browserForm) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.client.Get(b.s.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (b *browserForm) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form.Get("csrf_token") == "" {
		form.Set("csrf_token", b.csrf)
	}
	res, err := b.client.PostForm(b.s.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// A backer who lost her links asks by email: the page answers the same bytes whether the address
// has pledges, has none, or asked too often; the address with pledges gets one message with a
// new working link per pledge, which opens that pledge only; the old links keep working.
func TestRecoverPledgesByEmail(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	first, firstToken := s.collectedFlexible(c, 5000, "recover-1")
	second, _ := s.collectedFlexible(c, 7000, "recover-2")
	s.secret(firstToken)
	s.secret("nobody@example.com")
	s.relay() // the approval and the two confirmations
	ms.mu.Lock()
	ms.deliveries = nil
	ms.mu.Unlock()

	b := s.openForm("/pledges/recover")
	knownCode, known := b.post("/pledges/recover", url.Values{"email": {"flex@example.com"}})
	unknownCode, unknown := b.post("/pledges/recover", url.Values{"email": {"nobody@example.com"}})
	if knownCode != 200 || unknownCode != 200 || known != unknown {
		t.Fatalf("known address → %d, unknown → %d; the pages differ: %v", knownCode, unknownCode, known != unknown)
	}
	if !strings.Contains(known, "If this address has pledges") {
		t.Fatalf("the answer does not say what happens next:\n%s", known)
	}
	s.relay()
	if got := ms.to("nobody@example.com", ""); len(got) != 0 {
		t.Fatalf("an address without pledges got %d messages", len(got))
	}
	got := ms.to("flex@example.com", "")
	if len(got) != 1 {
		t.Fatalf("the backer got %d messages, want 1", len(got))
	}
	d := got[0]
	s.checkMessage(d)
	if !strings.Contains(d.Subject, "links to your pledges") || strings.Count(d.Text, "Pledge test flexible") != 2 {
		t.Fatalf("subject %q; the message should list both pledges:\n%s", d.Subject, d.Text)
	}
	links := map[string]string{}
	for _, l := range plainLinks.FindAllString(d.Text, -1) {
		id, token := manageToken(t, l)
		links[id] = token
		s.secret(token)
	}
	if len(links) != 2 || links[first] == "" || links[second] == "" || links[first] == firstToken {
		t.Fatalf("links %v: want a new token for each of %s and %s", links, first, second)
	}
	// Followed in a browser, a link opens its pledge's page.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(s.base + "/pledges/" + first + "/manage?" + url.Values{"token": {links[first]}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/pledges/"+first || !strings.Contains(string(page), "50.00") {
		t.Fatalf("following the link: %d at %s", res.StatusCode, res.Request.URL)
	}
	if r := s.manage("GET", first, firstToken, nil); r.Status != 200 {
		t.Errorf("the original link stopped working: %d", r.Status)
	}
	if r := s.manage("GET", second, links[first], nil); r.Status != 404 {
		t.Errorf("one pledge's new token opened another pledge: %d", r.Status)
	}

	// The per-address limit: the fourth request in the hour sends nothing, and looks the same.
	for i := range 3 {
		if code, body := b.post("/pledges/recover", url.Values{"email": {"Flex@Example.com "}}); code != 200 || body != known {
			t.Fatalf("request %d: %d, or another page", i+2, code)
		}
	}
	s.relay()
	if got := ms.to("flex@example.com", ""); len(got) != 3 {
		t.Fatalf("%d messages after four requests, want 3 (the limit per address)", len(got))
	}

	// The per-network-address limit: past it, even an address never asked for gets nothing.
	for i := range pledge.RecoverPerAddress - 5 {
		b.post("/pledges/recover", url.Values{"email": {fmt.Sprintf("stranger%d@example.com", i)}})
	}
	// An address with a pledge, never asked for: only the network address's limit stops it.
	s.must(201, "POST", "/api/v1/campaigns/"+c.slug+"/pledges", "", map[string]any{"amount": chf(3000),
		"backer": map[string]any{"email": "backer@example.com", "name": "Bea"}}, "Idempotency-Key", "recover-3")
	if code, body := b.post("/pledges/recover", url.Values{"email": {"backer@example.com"}}); code != 200 || body != known {
		t.Fatalf("over the network address's limit: %d, or another page", code)
	}
	before := len(ms.received())
	s.relay()
	for _, d := range ms.received()[before:] {
		if strings.Contains(d.Subject, "links to your pledges") {
			t.Fatalf("a message was sent past the network address's limit: to %s", d.To)
		}
	}
}

// Hostile input on the form: told the address is not valid, shown escaped, nothing sent, never
// a 500; a post without the form's token is refused.
func TestRecoverRefusesHostileInput(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	s.relay()
	b := s.openForm("/pledges/recover")
	for _, email := range []string{"", "not-an-address", `"><script>alert(1)</script>@example.com`,
		"flex@example.com\r\nBcc: evil@example.com", strings.Repeat("a", 5000) + "@example.com", "\x00@example.com"} {
		code, page := b.post("/pledges/recover", url.Values{"email": {email}})
		if code != 422 || !strings.Contains(page, "Enter a valid email address.") {
			t.Errorf("%.40q → %d", email, code)
		}
		if strings.Contains(page, "<script>alert(1)") {
			t.Errorf("%.40q is shown unescaped", email)
		}
	}
	if code, _ := b.post("/pledges/recover", url.Values{"email": {"flex@example.com"}, "csrf_token": {"forged"}}); code != 403 {
		t.Errorf("a forged form → %d, want 403", code)
	}
	if n := s.relay(); n != 0 {
		t.Errorf("%d messages sent for hostile input", n)
	}
}
