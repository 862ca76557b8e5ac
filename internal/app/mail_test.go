//go:build !production

package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/backstitch/backstitch/internal/notify"
)

// delivery is one message as the mail server received it.
type delivery struct {
	To, MessageID, Subject, Text, HTML string
	Header                             mail.Header
}

// mailServer is an SMTP server on loopback (emersion/go-smtp) that keeps what it receives.
type mailServer struct {
	t    *testing.T
	addr string
	srv  *smtp.Server

	mu         sync.Mutex
	deliveries []delivery
	// refuse, when set, answers each recipient with this error (a 4xx or 5xx).
	refuse *smtp.SMTPError
	// attempts counts recipients offered, accepted or not.
	attempts int
}

// startMailServer listens on addr ("127.0.0.1:0" for any port).
func startMailServer(t *testing.T, addr string) *mailServer {
	t.Helper()
	ms := &mailServer{t: t}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = ln.Addr().String()
	ms.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{ms: ms}, nil }))
	ms.srv.Domain = "mail.test"
	ms.srv.ReadTimeout, ms.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = ms.srv.Serve(ln) }()
	t.Cleanup(func() { _ = ms.srv.Close() })
	return ms
}

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func mailEnv(addr string) map[string]string {
	// The relay is driven by hand in tests, on the movable clock.
	return map[string]string{"BACKSTITCH_SMTP_URL": "smtp+insecure://" + addr, "BACKSTITCH_MAIL_FROM": "Backstitch <hello@backstitch.example>",
		"BACKSTITCH_MAIL_INTERVAL": "24h"}
}

type smtpSession struct {
	ms *mailServer
	to string
}

func (s *smtpSession) Reset()        { s.to = "" }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.attempts++
	if s.ms.refuse != nil {
		return s.ms.refuse
	}
	s.to = to
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	d, err := parseDelivery(s.to, raw)
	if err != nil {
		s.ms.t.Errorf("the server received a message it cannot parse: %v\n%s", err, raw)
		return err
	}
	s.ms.mu.Lock()
	s.ms.deliveries = append(s.ms.deliveries, d)
	s.ms.mu.Unlock()
	return nil
}

// parseDelivery reads the headers and the plain-text and HTML parts of a multipart/alternative message.
func parseDelivery(to string, raw []byte) (delivery, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return delivery{}, err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return delivery{}, err
	}
	d := delivery{To: to, MessageID: m.Header.Get("Message-Id"), Subject: subject, Header: m.Header}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return delivery{}, err
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return delivery{}, err
		}
		var body io.Reader = p // multipart.Reader undoes quoted-printable itself
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return delivery{}, err
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			d.Text = string(b)
		case "text/html":
			d.HTML = string(b)
		}
	}
	return d, nil
}

func (ms *mailServer) received() []delivery {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]delivery(nil), ms.deliveries...)
}

// to lists what was delivered to addr whose subject contains subject.
func (ms *mailServer) to(addr, subject string) []delivery {
	var out []delivery
	for _, d := range ms.received() {
		if strings.EqualFold(d.To, addr) && strings.Contains(d.Subject, subject) {
			out = append(out, d)
		}
	}
	return out
}

// relay runs the instance's relay once and returns how many messages it sent.
func (s *service) relay() int {
	s.t.Helper()
	n, err := s.app.Relay().Tick(context.Background())
	if err != nil {
		s.t.Fatalf("relay: %v", err)
	}
	return n
}

var hrefs = regexp.MustCompile(`href="([^"]+)"`)
var plainLinks = regexp.MustCompile(`https?://\S+`)

// checkMessage holds for every message: the plain text and the HTML carry the same links, every
// link is absolute on the public URL, and no secret of the test (passwords, session tokens) nor a
// card number is in it.
func (s *service) checkMessage(d delivery) {
	s.t.Helper()
	var html []string
	for _, m := range hrefs.FindAllStringSubmatch(d.HTML, -1) {
		html = append(html, strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	text := plainLinks.FindAllString(d.Text, -1)
	if len(text) == 0 || strings.Join(html, " ") != strings.Join(text, " ") {
		s.t.Errorf("%q: links differ between plain text %v and HTML %v", d.Subject, text, html)
	}
	for _, l := range append(html, text...) {
		if !strings.HasPrefix(l, "http://localhost:8080/") {
			s.t.Errorf("%q: link %s is not absolute on BACKSTITCH_PUBLIC_URL", d.Subject, l)
		}
	}
	if !regexp.MustCompile(`^<msg_[^@>]+@localhost>$`).MatchString(d.MessageID) {
		s.t.Errorf("%q: Message-ID %q is not the outbox id", d.Subject, d.MessageID)
	}
	// A confirmation carries its own manage token, as it must; no other secret may appear.
	body := regexp.MustCompile(`token=[A-Za-z0-9_-]+`).ReplaceAllString(d.Text+d.HTML, "token=…")
	s.secretsMu.Lock()
	defer s.secretsMu.Unlock()
	for _, secret := range append([]string{"4242424242424242", "4000000000000002"}, s.secrets...) {
		if strings.Contains(secret, "@") {
			continue // addresses: the recipient's own is in the message
		}
		if strings.Contains(body+d.Subject, secret) {
			s.t.Errorf("%q contains a secret: %.12s…", d.Subject, secret)
		}
	}
}

// manageToken is the token of a manage link.
func manageToken(t *testing.T, link string) (pledgeID, token string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := strings.CutSuffix(strings.TrimPrefix(u.Path, "/pledges/"), "/manage")
	if !ok {
		t.Fatalf("%s is not a manage link", link)
	}
	return id, u.Query().Get("token")
}

// A confirmed pledge gets one confirmation, with a manage link whose token opens the pledge;
// nothing is sent while the pledge is not confirmed, and the outbox forgets the link once sent.
func TestPledgeConfirmedSendsOneMessageWithAWorkingManageLink(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	if got := s.relay(); got != 4 || len(ms.to(s.designerEmail(c.owner), "is approved")) != 1 {
		t.Fatalf("setting up sent %d messages, want the designer's submitted, approved and live, and the admin's submitted", got)
	}
	p := s.pledge(c.slug, coatPledge(c.coatTier, 40000), "mail-confirm").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.secret(token)
	if n := s.relay(); n != 0 {
		t.Fatalf("the relay sent %d messages before the pledge was confirmed", n)
	}
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	s.waitWebhooks() // the webhook confirms the same change again: still one message
	s.relay()
	s.relay()
	got := ms.to("backer@example.com", "")
	if len(got) != 1 {
		t.Fatalf("the backer got %d messages, want 1: %+v", len(got), got)
	}
	d := got[0]
	s.checkMessage(d)
	if !strings.Contains(d.Subject, "Pledge test all_or_nothing") || !strings.Contains(d.Subject, "confirmed") {
		t.Errorf("subject %q", d.Subject)
	}
	for _, want := range []string{"Bea Backer", "Coat", "CHF", "400.00", "only if the campaign reaches its goal"} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("the confirmation does not say %q:\n%s", want, d.Text)
		}
	}
	link := plainLinks.FindString(d.Text[strings.Index(d.Text, "private link"):])
	gotID, gotToken := manageToken(t, link)
	if gotID != id || gotToken != token {
		t.Fatalf("manage link %s is not this pledge's token", link)
	}
	if r := s.manage("GET", gotID, gotToken, nil); r.Status != 200 || r.JSON(t)["status"] != "active" {
		t.Fatalf("the manage link's token does not open the pledge: %d %s", r.Status, r.Body)
	}
	// Followed in a browser (here: on the test's address), the link opens the manage page.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(strings.Replace(link, "http://localhost:8080", s.base, 1))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/pledges/"+id || !strings.Contains(string(page), "Coat") {
		t.Fatalf("following the manage link: %d at %s", res.StatusCode, res.Request.URL)
	}
	stored, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != notify.StatusSent || stored.Data["manage_url"] != "" {
		t.Errorf("after sending, the outbox holds %s with manage link %q; want sent and forgotten", stored.Status, stored.Data["manage_url"])
	}
}

// A backer who pledges in French reads her messages in French, subject included, with amounts
// written the French way; Accept-Language stands in when the body names no locale.
func TestFrenchBackerGetsFrenchMessages(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	for i, tc := range []struct {
		locale, acceptLanguage, email string
	}{{"fr", "en-GB", "anne@example.com"}, {"", "fr-CH, fr;q=0.9", "chloe@example.com"}} {
		body := map[string]any{"amount": chf(12345), "backer": map[string]any{"email": tc.email, "name": "Anne"}}
		if tc.locale != "" {
			body["locale"] = tc.locale
		}
		p := s.must(201, "POST", "/api/v1/campaigns/"+c.slug+"/pledges", "", body, "Idempotency-Key", fmt.Sprint("fr-", i), "Accept-Language", tc.acceptLanguage)
		s.secret(p["manage_token"].(string))
		if r := s.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
			t.Fatalf("pay: %d %s", r.Status, r.Body)
		}
	}
	// A payment's event that recorded the payment first is still handing the confirmation to the
	// outbox when the request answers: wait for it (as collectedFlexible does).
	s.waitWebhooks()
	s.relay()
	for _, email := range []string{"anne@example.com", "chloe@example.com"} {
		got := ms.to(email, "")
		if len(got) != 1 {
			t.Fatalf("%s got %d messages, want 1", email, len(got))
		}
		d := got[0]
		s.checkMessage(d)
		if !strings.HasPrefix(d.Subject, "Votre contribution à ") || !strings.HasSuffix(d.Subject, " est confirmée") {
			t.Errorf("%s: subject %q is not French", email, d.Subject)
		}
		for _, want := range []string{"Bonjour Anne", "Merci", "Gérer ma contribution", "123.45"} {
			if !strings.Contains(d.Text+d.HTML, want) {
				t.Errorf("%s: the message does not say %q:\n%s", email, want, d.Text)
			}
		}
	}
	if r := s.pledge(c.slug, map[string]any{"amount": chf(100), "locale": "de", "backer": map[string]any{"email": "x@example.com", "name": "X"}}, "fr-bad"); r.Status != 422 || r.fieldCode(t, "locale") != "invalid" {
		t.Errorf("an unknown locale: %d %s", r.Status, r.Body)
	}
}

// At the deadline of a funded campaign every backer hears it succeeded; the one whose card is
// declined then hears it failed, in plain words, with the link to fix the payment.
func TestDeclinedDeadlineChargeSendsTheFailureMessage(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	backers := s.backAll(c, 800000, "pm_card_visa", "pm_card_chargeCustomerFail")
	s.relay()
	s.passDeadline(c.slug)
	if err := s.app.Settler().Settle(context.Background(), c.id); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	s.relay()
	if got := ms.to("backer@example.com", "reached its goal"); len(got) != 2 {
		t.Errorf("%d 'reached its goal' messages, want one per backer", len(got))
	}
	failed := ms.to("backer@example.com", "did not go through")
	if len(failed) != 1 {
		t.Fatalf("%d charge-failed messages, want 1", len(failed))
	}
	d := failed[0]
	s.checkMessage(d)
	if !strings.Contains(d.Text, "Your bank declined the payment.") || !strings.Contains(d.Text, "http://localhost:8080/pledges/"+backers[1].id+"/manage?token=") {
		t.Errorf("the failure message lacks the decline in plain words or the fix link:\n%s", d.Text)
	}
	if strings.Contains(d.Text, "card_declined") || strings.Contains(d.Text, "generic_decline") {
		t.Errorf("the failure message shows Stripe's codes:\n%s", d.Text)
	}
}

// A refund is told once, with its amount, however many times Stripe's webhook repeats it.
func TestRefundSendsOneMessage(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	admin := s.admin()
	id, _ := s.collectedFlexible(c, 10000, "mail-refund")
	s.must(201, "POST", "/api/v1/admin/pledges/"+id+"/refunds", admin, map[string]any{"amount": chf(3000), "reason": "Hood missing"}, "Idempotency-Key", "refund-1")
	s.waitWebhooks()
	s.relay()
	got := ms.to("flex@example.com", "refund")
	if len(got) != 1 {
		t.Fatalf("%d refund messages, want 1", len(got))
	}
	s.checkMessage(got[0])
	if !strings.Contains(got[0].Text, "30.00") || !strings.Contains(got[0].Text, "CHF") {
		t.Errorf("the refund message does not give the amount:\n%s", got[0].Text)
	}
}

// A rejected campaign's designer is told, with the reviewer's reason.
func TestRejectedCampaignTellsTheDesignerWhy(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	owner, _ := s.designer("Rejected")
	admin := s.admin()
	me := s.must(200, "GET", "/api/v1/me", owner, nil)
	camp := s.must(201, "POST", "/api/v1/campaigns", owner, s.campaignBody("Wool capes"))
	id := camp["id"].(string)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Cape", "kind": "physical", "price": chf(30000), "limit": 5})
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/reject", admin, map[string]any{"reason": "Add photos of the <lining> & seams."})
	s.relay()
	got := ms.to(me["email"].(string), "needs changes")
	if len(got) != 1 {
		t.Fatalf("the designer got %d rejection messages, want 1: %+v", len(got), ms.received())
	}
	s.checkMessage(got[0])
	if !strings.Contains(got[0].Text, "Add photos of the <lining> & seams.") || !strings.Contains(got[0].HTML, "Add photos of the &lt;lining&gt; &amp; seams.") {
		t.Errorf("the reason is missing or not escaped in HTML:\n%s\n%s", got[0].Text, got[0].HTML)
	}
}

// With the mail server down, messages wait and go out when it is back; nothing is lost.
func TestMessagesWaitWhileTheMailServerIsDown(t *testing.T) {
	addr := freeAddr(t)
	s := startService(t, mailEnv(addr))
	c := s.pledgeSetup("flexible", 10)
	id, _ := s.collectedFlexible(c, 5000, "mail-down")
	if n := s.relay(); n != 0 {
		t.Fatalf("sent %d with no server", n)
	}
	m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != notify.StatusQueued || m.Attempts != 1 || m.LastError == "" {
		t.Fatalf("after a refused connection: %s, %d attempts, %q", m.Status, m.Attempts, m.LastError)
	}
	ms := startMailServer(t, addr)
	if n := s.relay(); n != 0 {
		t.Fatalf("retried at once (%d sent); want a delay", n)
	}
	s.clock.Advance(2 * time.Minute)
	if n := s.relay(); n != 6 {
		t.Fatalf("sent %d after the server came back, want 6 (the designer's submitted, approved, live, first pledge; the admin's submitted; the confirmation)", n)
	}
	if got := ms.to("flex@example.com", "confirmed"); len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
}

// A permanent refusal (5xx) is recorded with the server's answer and never retried; a temporary
// one (4xx) is retried.
func TestPermanentRefusalIsRecordedNotRetried(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	s.collectedFlexible(c, 900, "warm-up") // the designer's first pledge is told once, here
	s.relay()
	ms.mu.Lock()
	ms.attempts = 0
	ms.refuse = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	ms.mu.Unlock()
	id, _ := s.collectedFlexible(c, 5000, "mail-451")
	s.relay()
	ms.mu.Lock()
	ms.refuse = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}
	ms.mu.Unlock()
	s.clock.Advance(2 * time.Minute)
	s.relay()
	for range 3 {
		s.clock.Advance(24 * time.Hour)
		s.relay()
	}
	m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != notify.StatusFailed || !strings.Contains(m.LastError, "550") || m.Attempts != 2 {
		t.Fatalf("after 451 then 550: %s after %d attempts, %q; want failed after 2 with the 550", m.Status, m.Attempts, m.LastError)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.attempts != 2 {
		t.Fatalf("the server was offered the message %d times, want 2", ms.attempts)
	}
}

// Two instances relaying at once send each message once.
func TestTwoRelaysSendEachMessageOnce(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	s.collectedFlexible(c, 900, "warm-up") // the designer's first pledge is told once, here
	s.relay()
	ms.mu.Lock()
	ms.deliveries = nil
	ms.mu.Unlock()
	const n = 12
	for i := range n {
		s.collectedFlexible(c, 1000+i, fmt.Sprint("two-relays-", i))
	}
	var wg sync.WaitGroup
	for _, inst := range []*service{s, other, s, other} {
		wg.Go(func() {
			if _, err := inst.app.Relay().Tick(context.Background()); err != nil {
				t.Errorf("relay: %v", err)
			}
		})
	}
	wg.Wait()
	got := ms.received()
	ids := map[string]int{}
	for _, d := range got {
		ids[d.MessageID]++
	}
	if len(got) != n || len(ids) != n {
		t.Fatalf("%d deliveries of %d Message-IDs, want %d of %d", len(got), len(ids), n, n)
	}
}

// A relay that dies after the server accepted a message and before recording it: the next relay
// sends it again once the claim runs out, and the copy carries the same Message-ID, so the
// recipient's mail store keeps one. (SMTP cannot tell a sender whether a message arrived: this is
// the one at-least-once window, see the notify package.) While the claim lasts, nobody else sends it.
func TestRelayCrashAfterSend(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	s.collectedFlexible(c, 900, "warm-up") // the designer's first pledge is told once, here
	s.relay()
	ms.mu.Lock()
	ms.deliveries = nil
	ms.mu.Unlock()
	id, _ := s.collectedFlexible(c, 5000, "crash-after-send")
	crash := errors.New("killed")
	s.app.Relay().SetFaultHook(func(p notify.FaultPoint) error {
		if p == notify.AfterSend {
			return crash
		}
		return nil
	})
	if _, err := s.app.Relay().Tick(context.Background()); !errors.Is(err, crash) {
		t.Fatalf("the relay did not stop at the fault: %v", err)
	}
	if n := other.relay(); n != 0 {
		t.Fatalf("another relay sent a claimed message (%d)", n)
	}
	s.clock.Advance(notify.ClaimTTL + time.Second)
	if n := other.relay(); n != 1 {
		t.Fatalf("the message was not resent after the claim ran out (%d)", n)
	}
	other.clock.Advance(time.Hour)
	other.relay()
	got := ms.received()
	if len(got) != 2 || got[0].MessageID != got[1].MessageID {
		t.Fatalf("deliveries %+v: want the message twice with one Message-ID", got)
	}
	if m, _ := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed"); m.Status != notify.StatusSent {
		t.Fatalf("the outbox says %s", m.Status)
	}
}

// Without a mail server in development, an admin reads the outbox at /dev/mailbox after giving
// her session token once (a form with a CSRF token); its links work. Nobody else reads it.
func TestDevMailboxShowsMessagesToAdminsOnly(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 10)
	id, token := s.collectedFlexible(c, 5000, "dev-mailbox")
	s.secret(token)
	admin := s.admin()
	designer, _ := s.designer("Curious")

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(path string) (int, string) {
		res, err := browser.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	logIn := func(sessionToken string) int {
		_, page := get("/dev/mailbox")
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no login form:\n%s", page)
		}
		res, err := browser.PostForm(s.base+"/dev/mailbox/session", url.Values{"csrf_token": {m[1]}, "token": {sessionToken}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code, page := get("/dev/mailbox"); code != 200 || strings.Contains(page, "flex@example.com") {
		t.Fatalf("anonymous: %d, page shows messages: %v", code, strings.Contains(page, "flex@example.com"))
	}
	if code := logIn(designer); code != 403 {
		t.Errorf("a designer's token → %d, want 403", code)
	}
	res, err := browser.PostForm(s.base+"/dev/mailbox/session", url.Values{"token": {admin}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("a login without the CSRF token → %d, want 403", res.StatusCode)
	}
	if code := logIn(admin); code != 200 {
		t.Fatalf("admin login → %d (after the redirect), want 200", code)
	}
	code, page := get("/dev/mailbox")
	if code != 200 || !strings.Contains(page, "is confirmed") {
		t.Fatalf("admin: %d\n%s", code, page)
	}
	link := regexp.MustCompile(`href="(http://localhost:8080/pledges/[^"]+/manage\?token=[^"]+)"`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("no manage link in the mailbox:\n%s", page)
	}
	gotID, gotToken := manageToken(t, strings.ReplaceAll(link[1], "&amp;", "&"))
	if gotID != id || gotToken != token {
		t.Fatalf("the mailbox's link %s is not the pledge's", link[1])
	}
	if r := s.manage("GET", gotID, gotToken, nil); r.Status != 200 {
		t.Fatalf("the link's token does not open the pledge: %d", r.Status)
	}
	if code, html := get("/dev/mailbox/msg_" + id + ".confirmed"); code != 200 || !strings.Contains(html, "Manage my pledge") {
		t.Fatalf("the message's HTML: %d\n%s", code, html)
	}
	// The cookie is the mailbox's alone: the API does not take it.
	if code, _ := get("/api/v1/me"); code != 401 {
		t.Errorf("the mailbox cookie opened the API: %d", code)
	}
}

// A missed goal tells each backer nothing was charged; a cancelled campaign voids its pledges
// too, and must not tell them the goal was missed.
func TestGoalMissedIsToldButNotForACancelledCampaign(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	missed := s.pledgeSetup("all_or_nothing", 10)
	s.backAll(missed, 100000, "pm_card_visa")
	cancelled := s.pledgeSetup("all_or_nothing", 10)
	s.backAll(cancelled, 100000, "pm_card_visa")
	s.must(200, "POST", "/api/v1/campaigns/"+cancelled.id+"/cancel", cancelled.owner, map[string]any{"reason": "The mill closed."})
	s.passDeadline(missed.slug)
	for _, id := range []string{missed.id, cancelled.id} {
		if err := s.app.Settler().Settle(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	s.relay()
	got := ms.to("backer@example.com", "did not reach its goal")
	if len(got) != 1 {
		t.Fatalf("%d 'did not reach its goal' messages, want 1 (the missed campaign's backer only)", len(got))
	}
	s.checkMessage(got[0])
	if !strings.Contains(got[0].Text, "Nothing was charged") {
		t.Errorf("the message does not say nothing was charged:\n%s", got[0].Text)
	}
}
