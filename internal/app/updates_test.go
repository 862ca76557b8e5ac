//go:build !production

package app_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/pledge"
)

const hostileTitle = `Buttons <script>alert("x")</script> & "seams"`

// Posting: its designer only, once the campaign launched, with every field checked; reading:
// the public updates for anyone, all of them for the designer and admins.
func TestUpdatesAPI(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 10)
	admin := s.admin()
	other, _ := s.designer("Other")
	public := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
		map[string]any{"title": hostileTitle, "body": "The **coats** ship on Monday.", "visibility": "public"}, "Idempotency-Key", "upd-1")
	if public["title"] != hostileTitle || public["visibility"] != "public" || public["campaign_id"] != c.id {
		t.Fatalf("posted %v", public)
	}
	s.clock.Advance(time.Minute)
	s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
		map[string]any{"title": "For backers", "body": "Your discount code is SEW10.", "visibility": "backers"}, "Idempotency-Key", "upd-2")

	titles := func(token string) []string {
		var out []string
		for _, u := range s.must(200, "GET", "/api/v1/campaigns/"+c.slug+"/updates", token, nil)["data"].([]any) {
			out = append(out, u.(map[string]any)["title"].(string))
		}
		return out
	}
	for who, token := range map[string]string{"anonymous": "", "another designer": other} {
		if got := titles(token); len(got) != 1 || got[0] != hostileTitle {
			t.Errorf("%s reads %v, want the public update only", who, got)
		}
	}
	for who, token := range map[string]string{"owner": c.owner, "admin": admin} {
		if got := titles(token); len(got) != 2 || got[0] != "For backers" {
			t.Errorf("%s reads %v, want both, newest first", who, got)
		}
	}

	post := func(token string, body any) response {
		return s.call("POST", "/api/v1/campaigns/"+c.id+"/updates", token, body, "Idempotency-Key", fmt.Sprint(time.Now().UnixNano()))
	}
	valid := map[string]any{"title": "T", "body": "B", "visibility": "public"}
	if r := post(other, valid); r.Status != 403 {
		t.Errorf("another designer → %d, want 403", r.Status)
	}
	if r := post(admin, valid); r.Status != 403 {
		t.Errorf("an admin → %d, want 403 (admins do not speak for designers)", r.Status)
	}
	for field, body := range map[string]map[string]any{
		"title":      {"title": " ", "body": "B", "visibility": "public"},
		"body":       {"title": "T", "body": strings.Repeat("x", 20_001), "visibility": "public"},
		"visibility": {"title": "T", "body": "B", "visibility": "everyone"},
		"status":     {"title": "T", "body": "B", "visibility": "public", "status": "sent"},
	} {
		if r := post(c.owner, body); r.Status != 422 || r.fieldCode(t, field) == "" {
			t.Errorf("bad %s → %d %s", field, r.Status, r.Body)
		}
	}
	if r := post(c.owner, map[string]any{"title": "T\u202e", "body": "B", "visibility": "public"}); r.Status != 422 || r.fieldCode(t, "title") != "bidi_control" {
		t.Errorf("a title with a bidi override → %d %s", r.Status, r.Body)
	}
	draft := s.must(201, "POST", "/api/v1/campaigns", c.owner, s.campaignBody("Not launched"))
	if r := s.call("POST", "/api/v1/campaigns/"+draft["id"].(string)+"/updates", c.owner, valid, "Idempotency-Key", "upd-draft"); r.Status != 409 || r.JSON(t)["code"] != "campaign_not_live" {
		t.Errorf("an update of a draft → %d %s", r.Status, r.Body)
	}
}

// A public update shows on the campaign page at once (its cached copy is dropped) and in its
// Atom feed, escaped, with absolute links; a backers-only update shows in neither.
func TestPublicUpdatesOnThePageAndInTheFeed(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 10)
	get := func(path string) (int, http.Header, string) {
		res, err := s.http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	if _, _, page := get("/campaigns/" + c.slug); strings.Contains(page, "Buttons") {
		t.Fatal("an update before any was posted")
	}
	s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
		map[string]any{"title": hostileTitle, "body": "The **coats** ship [soon](javascript:alert(1)).", "visibility": "public"}, "Idempotency-Key", "feed-1")
	s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
		map[string]any{"title": "Secret sale", "body": "Backers only.", "visibility": "backers"}, "Idempotency-Key", "feed-2")

	code, _, page := get("/campaigns/" + c.slug)
	if code != 200 || !strings.Contains(page, "Buttons &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;seams&#34;") || !strings.Contains(page, "<strong>coats</strong>") {
		t.Fatalf("the page (%d) does not show the update, escaped, at once:\n%s", code, page)
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "javascript:") || strings.Contains(page, "Secret sale") {
		t.Fatal("the page shows a script, a javascript: link or the backers' update")
	}

	code, h, body := get("/campaigns/" + c.slug + "/updates.atom")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("feed: %d %s", code, h.Get("Content-Type"))
	}
	var feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		ID      string   `xml:"id"`
		Title   string   `xml:"title"`
		Updated string   `xml:"updated"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Entries []struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Updated string `xml:"updated"`
			Link    struct {
				Href string `xml:"href,attr"`
			} `xml:"link"`
			Content struct {
				Type string `xml:"type,attr"`
				Body string `xml:",chardata"`
			} `xml:"content"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(body), &feed); err != nil {
		t.Fatalf("the feed is not Atom XML: %v\n%s", err, body)
	}
	if len(feed.Entries) != 1 || feed.Title != "Pledge test flexible" || feed.Updated == "" {
		t.Fatalf("feed %+v", feed)
	}
	e := feed.Entries[0]
	if e.Title != hostileTitle || e.Content.Type != "html" || !strings.Contains(e.Content.Body, "<strong>coats</strong>") || strings.Contains(e.Content.Body, "javascript:") {
		t.Errorf("entry %+v", e)
	}
	if _, err := time.Parse(time.RFC3339, e.Updated); err != nil {
		t.Errorf("entry updated %q: %v", e.Updated, err)
	}
	for _, l := range append([]string{feed.ID, e.ID, e.Link.Href}, feed.Links[0].Href, feed.Links[1].Href) {
		if !strings.HasPrefix(l, "http://localhost:8080/campaigns/"+c.slug) {
			t.Errorf("link %q is not absolute on BACKSTITCH_PUBLIC_URL", l)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("the feed carries markup unescaped")
	}
	if code, _, _ := get("/campaigns/no-such-campaign/updates.atom"); code != 404 {
		t.Errorf("the feed of no campaign → %d", code)
	}
}

// An update reaches each address with an active or collected pledge once, with RFC 8058 headers;
// following the link changes nothing, the one-click POST stops that campaign's updates, and the
// backer still hears about her money.
func TestUpdateEmailAndOneClickUnsubscribe(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	backers := s.backAll(c, 20000, "pm_card_visa", "pm_card_visa") // backer@example.com, twice
	s.secret("pending@example.com")
	s.pledge(c.slug, map[string]any{"amount": chf(5000), "backer": map[string]any{"email": "pending@example.com", "name": "Pat"}}, "upd-pending")
	s.relay()
	ms.mu.Lock()
	ms.deliveries = nil
	ms.mu.Unlock()

	postUpdate := func(title, key string) {
		s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
			map[string]any{"title": title, "body": "Hello **backers**.", "visibility": "backers"}, "Idempotency-Key", key)
		if _, err := s.app.Updates().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.relay()
	}
	postUpdate("Fabric arrived", "mail-upd-1")
	if got := ms.to("pending@example.com", ""); len(got) != 0 {
		t.Errorf("a pledge never confirmed got the update")
	}
	got := ms.to("backer@example.com", "Fabric arrived")
	if len(got) != 1 {
		t.Fatalf("the backer of two pledges got %d copies, want 1", len(got))
	}
	d := got[0]
	s.checkMessage(d)
	if d.Subject != "Pledge test all_or_nothing: Fabric arrived" || !strings.Contains(d.HTML, "<strong>backers</strong>") {
		t.Errorf("subject %q, HTML:\n%s", d.Subject, d.HTML)
	}
	m := regexp.MustCompile(`^<(http://localhost:8080/unsubscribe\?token=[^>]+)>$`).FindStringSubmatch(d.Header.Get("List-Unsubscribe"))
	if m == nil || d.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers List-Unsubscribe %q, List-Unsubscribe-Post %q", d.Header.Get("List-Unsubscribe"), d.Header.Get("List-Unsubscribe-Post"))
	}
	if !strings.Contains(d.Text, m[1]) {
		t.Errorf("the message's own unsubscribe link is not the header's")
	}
	link, _ := url.Parse(m[1])
	path := "/unsubscribe?" + link.RawQuery

	// Opening the link (a scanner, a preview) shows a button and changes nothing.
	res, err := s.http.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), `method="post"`) || !strings.Contains(string(page), "Pledge test all_or_nothing") {
		t.Fatalf("GET the link: %d\n%s", res.StatusCode, page)
	}
	if left, _ := s.store.Unsubscribed(context.Background(), c.id); len(left) != 0 {
		t.Fatal("a GET unsubscribed")
	}
	// A tampered token is refused, and changes nothing.
	tampered := strings.Replace(path, "token=cam_", "token=cam_x", 1)
	for _, p := range []string{tampered, path[:len(path)-3], "/unsubscribe?token=" + url.QueryEscape("<script>")} {
		res, err := s.http.Post(s.base+p, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("POST %.60s → %d, want 404", p, res.StatusCode)
		}
	}
	if left, _ := s.store.Unsubscribed(context.Background(), c.id); len(left) != 0 {
		t.Fatal("a tampered token unsubscribed")
	}
	// RFC 8058's POST: no cookie, no form token, the body the mail client sends.
	for range 2 {
		res, err := s.http.Post(s.base+path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("one-click POST → %d", res.StatusCode)
		}
	}
	postUpdate("Buttons chosen", "mail-upd-2")
	if got := ms.to("backer@example.com", "Buttons chosen"); len(got) != 0 {
		t.Fatalf("an unsubscribed backer got the next update")
	}
	// Messages about money are not updates: cancelling still tells her.
	if r := s.manage("POST", backers[0].id, backers[0].token, nil); r.Status != 200 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	s.relay()
	if got := ms.to("backer@example.com", "is cancelled"); len(got) != 1 {
		t.Fatalf("%d cancellation messages after unsubscribing from updates, want 1", len(got))
	}
}

// An update to 1,000 backers: 1,000 messages, one per backer, although the fan-out dies after its
// first batch and a second instance finishes it, and a relay dies mid-way through sending while
// the other instance's relay sends too. The instances are in-process (two App values on one
// store), and "dies" is a fault hook stopping the work at that point, as a SIGKILL would.
func TestUpdateToAThousandBackersOnceAcrossInstancesAndCrashes(t *testing.T) {
	const n = 1000
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	s.relay() // the approval
	s.thousandBackers(c, n)
	upd := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
		map[string]any{"title": "Thousand", "body": "To everyone.", "visibility": "public"}, "Idempotency-Key", "thousand")

	// The fan-out dies after writing its second batch, before recording it.
	ctx := context.Background()
	crash := errors.New("killed")
	batches := 0
	s.app.Updates().SetFaultHook(func(p notify.FaultPoint) error {
		if p == notify.BatchWritten {
			if batches++; batches == 2 {
				return crash
			}
		}
		return nil
	})
	if _, err := s.app.Updates().Tick(ctx); !errors.Is(err, crash) {
		t.Fatalf("the fan-out did not stop at the fault: %v", err)
	}
	if w, err := other.app.Updates().Tick(ctx); err != nil || w != 0 {
		t.Fatalf("the other instance wrote %d while the claim held (%v)", w, err)
	}
	s.clock.Advance(notify.FanOutTTL + time.Second)
	if _, err := other.app.Updates().Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.app.Updates().Tick(ctx); w != 0 {
		t.Fatalf("a finished fan-out wrote %d more", w)
	}

	// Two relays send at once; the first dies after the server accepted its 20th message,
	// before recording it. The other goes on; the lost claim runs out and the message goes
	// out again with its Message-ID (SMTP's one at-least-once window, see notify).
	sent := 0
	s.app.Relay().SetFaultHook(func(p notify.FaultPoint) error {
		if p == notify.AfterSend {
			if sent++; sent == 20 {
				return crash
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.app.Relay().Tick(ctx); !errors.Is(err, crash) {
			t.Errorf("the relay did not stop at the fault: %v", err)
		}
	})
	wg.Go(func() {
		if _, err := other.app.Relay().Tick(ctx); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	other.relay()
	s.clock.Advance(notify.ClaimTTL + time.Second)
	other.relay()

	deliveries := s.updateDeliveries(ms, "Thousand", upd["id"].(string), n)
	// 1,000 messages; the one whose sending was cut may arrive twice, with one Message-ID.
	if deliveries < n || deliveries > n+1 {
		t.Fatalf("%d deliveries, want %d (or one more, a copy with the same Message-ID)", deliveries, n)
	}
	t.Logf("%d deliveries of %d messages to %d backers", deliveries, n, n)
}

// updateDeliveries checks that the update's messages (subjects ending ": "+title) reached n
// backers, each under one Message-ID of that update however often it was delivered, and
// returns the number of deliveries.
func (s *service) updateDeliveries(ms *mailServer, title, updateID string, n int) (deliveries int) {
	s.t.Helper()
	perBacker := map[string]map[string]bool{}
	for _, d := range ms.received() {
		if !strings.HasSuffix(d.Subject, ": "+title) {
			continue
		}
		deliveries++
		if !strings.HasPrefix(d.MessageID, "<msg_"+updateID+".") {
			s.t.Fatalf("Message-ID %s is not the update's", d.MessageID)
		}
		if perBacker[d.To] == nil {
			perBacker[d.To] = map[string]bool{}
		}
		perBacker[d.To][d.MessageID] = true
	}
	if len(perBacker) != n {
		s.t.Fatalf("%d backers got the update, want %d", len(perBacker), n)
	}
	for to, ids := range perBacker {
		if len(ids) != 1 || !strings.HasPrefix(to, "b") {
			s.t.Fatalf("%s got %d different messages", to, len(ids))
		}
	}
	return deliveries
}

// thousandBackers writes n backers' pledges on c straight to the store (making them through
// Stripe would test pledging, not mail): every address b0000@example.com... once, 50 of them
// twice, and 30 pledges that must not hear of an update (cancelled, or still pending).
func (s *service) thousandBackers(c pledgeSetup, n int) {
	s.t.Helper()
	ctx := context.Background()
	camp, err := s.store.FindCampaign(ctx, c.id)
	if err != nil {
		s.t.Fatal(err)
	}
	created := s.clock.Now().Add(-time.Hour)
	mk := func(id, email string, st pledge.Status) {
		p := pledge.Pledge{ID: id, CampaignID: camp.ID, FundingModel: campaign.Flexible, Status: st, Locale: "en",
			Amount: money.Money{Amount: 1000, Currency: "CHF"}, Backer: pledge.Backer{Email: email, Name: "Backer"}, CreatedAt: created}
		if err := s.store.CreatePledge(ctx, p); err != nil {
			s.t.Fatal(err)
		}
	}
	for i := range n {
		mk(fmt.Sprintf("plg_bulk%05d", i), fmt.Sprintf("b%04d@example.com", i), []pledge.Status{pledge.StatusCollected, pledge.StatusActive}[i%2])
	}
	for i := range 50 {
		mk(fmt.Sprintf("plg_twice%04d", i), fmt.Sprintf("b%04d@example.com", i*7), pledge.StatusCollected)
	}
	for i := range 30 {
		mk(fmt.Sprintf("plg_silent%03d", i), fmt.Sprintf("silent%d@example.com", i), []pledge.Status{pledge.StatusCancelled, pledge.StatusPending}[i%2])
	}
}
