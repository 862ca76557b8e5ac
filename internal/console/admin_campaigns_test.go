//go:build !production

package console_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
)

const hostileTitle = `<script>alert("x")</script> Coat & co`

// dueCampaign launches an all-or-nothing campaign with a hostile title and backers pledges
// of 320.00 CHF (goal 1,000.00), deadline in 20 days.
func (s *site) dueCampaign(owner string, backers int) seed.Campaign {
	s.t.Helper()
	c, err := s.api.Launch(context.Background(), owner, s.admin, map[string]any{
		"title": hostileTitle, "story": "Coats.", "goal": map[string]any{"amount": 100000, "currency": "CHF"},
		"timezone": "Europe/Zurich", "deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{{"title": "Coat", "kind": "physical", "ships": true, "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 100}})
	if err != nil {
		s.t.Fatal(err)
	}
	for i := range backers {
		back(s.t, s, c, "Coat", "Backer "+string(rune('A'+i)), "", "", 32000)
	}
	return c
}

var settleLink = regexp.MustCompile(`<a class="settle-now" href="([^"]+)"`)

// The admins' list shows every campaign of a status with its settlement step once its deadline
// has passed, and "settle now" only while it is due; its text is escaped, its pages valid in
// both languages. "Settle now" asks for a confirmation, runs once per confirmation, is audited,
// and a designer cannot run it.
func TestAdminListsCampaignsAndSettlesOneNow(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h"})
	ctx := context.Background()
	owner := s.visitor("en")
	owner.signUp("Ana")
	c := s.dueCampaign(owner.cookie("session").Value, 4)
	adm := s.adminVisitor("en")

	live := adm.get("/admin/campaigns")
	if live.status != 200 || !strings.Contains(live.body, `href="/admin/campaigns/`+c.ID+`"`) {
		t.Fatalf("live campaigns: %d\n%s", live.status, live.body)
	}
	if strings.Contains(live.body, "<script>alert") || !strings.Contains(live.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Coat &amp; co") {
		t.Errorf("the title is not escaped:\n%s", live.body)
	}
	if settleLink.MatchString(live.body) || strings.Contains(live.body, `data-state=`) {
		t.Errorf("a campaign before its deadline has a settlement state or 'settle now':\n%s", live.body)
	}
	if p := adm.get("/admin/campaigns/" + c.ID + "/settle"); p.status != 409 {
		t.Errorf("settle form before the deadline: %d", p.status)
	}
	if p := adm.get("/admin/campaigns?status=bogus"); p.status != 404 {
		t.Errorf("unknown status: %d", p.status)
	}

	s.clock.Advance(21 * 24 * time.Hour)
	live = adm.get("/admin/campaigns?status=live")
	m := settleLink.FindStringSubmatch(live.body)
	if m == nil || m[1] != "/admin/campaigns/"+c.ID+"/settle" || !strings.Contains(live.body, `data-state="closing"`) {
		t.Fatalf("a campaign past its deadline should be closing, with 'settle now':\n%s", live.body)
	}
	form := m[1]
	for _, lang := range locale.Languages {
		adm.lang = lang
		for _, path := range []string{"/admin/campaigns", "/admin/campaigns?status=succeeded", form} {
			p := adm.get(path)
			if p.status != 200 {
				t.Fatalf("%s %s: %d", lang, path, p.status)
			}
			testenv.CheckHTML(t, lang+" "+path, p.body, lang)
		}
	}
	adm.lang = "en"

	// A designer, even with a valid token of her own and a well-formed key, settles nothing.
	if p := owner.post("/designer", form, url.Values{"key": {strings.Repeat("b", 32)}}); p.status != 403 {
		t.Errorf("a designer's settle now: %d", p.status)
	}
	// Without the confirmation's key, nothing either.
	if p := adm.post("/admin/campaigns", form, url.Values{"key": {"nope"}}); p.status != 422 {
		t.Errorf("settle without a confirmation: %d", p.status)
	}
	if got := s.app.Double().PaymentIntents(); len(got) != 0 {
		t.Fatalf("charged before anyone settled: %d PaymentIntents", len(got))
	}

	confirm := adm.get(form)
	key := html.UnescapeString(keyField.FindStringSubmatch(confirm.body)[1])
	done := adm.post(form, form, url.Values{"key": {key}})
	if done.status != 303 || done.location() != "/admin/campaigns?status=succeeded&notice=settled" {
		t.Fatalf("settle now: %d %q\n%s", done.status, done.location(), done.body)
	}
	// The same confirmation sent again settles nothing more and is not audited again.
	if again := adm.post(form, form, url.Values{"key": {key}}); again.status != 303 || again.location() != done.location() {
		t.Errorf("the same form again: %d %q", again.status, again.location())
	}
	// A new confirmation for a campaign settled meanwhile has nothing to settle.
	if late := adm.post("/admin/campaigns", form, url.Values{"key": {strings.Repeat("c", 32)}}); late.status != 409 || !strings.Contains(late.body, "Nothing to settle") {
		t.Errorf("settle now once settled: %d", late.status)
	}
	checkChargedOnce(t, s, c.ID, 4)
	after := adm.get(done.location())
	if !strings.Contains(after.body, `data-state="payable"`) || !strings.Contains(after.body, "Settlement run") || settleLink.MatchString(after.body) {
		t.Errorf("after settling, the campaign should be payable with no 'settle now':\n%s", after.body)
	}
	log, err := s.api.Call(ctx, 200, "GET", "/api/v1/admin/audit-log?action=campaign.settle", s.admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if entries := log["entries"].([]any); len(entries) != 1 || entries[0].(map[string]any)["target"] != c.ID {
		t.Errorf("audit log: one campaign.settle entry expected, got %v", entries)
	}
}

// checkChargedOnce: every pledge of the campaign is collected with exactly one PaymentIntent.
func checkChargedOnce(t *testing.T, s *site, campaignID string, want int) {
	t.Helper()
	intents := map[string]int{}
	for _, pi := range s.app.Double().PaymentIntents() {
		intents[pi.Metadata["pledge_id"]]++
	}
	n := 0
	err := s.store.FindCampaignPledges(context.Background(), campaignID, func(p pledge.Pledge) error {
		n++
		if p.Status != pledge.StatusCollected || intents[p.ID] != 1 {
			t.Errorf("pledge %s: %s with %d PaymentIntents, want collected with one", p.ID, p.Status, intents[p.ID])
		}
		return nil
	})
	if err != nil || n != want {
		t.Fatalf("%d pledges (%v), want %d", n, err, want)
	}
}

// "Settle now" and the scheduler's tick, racing on one due campaign, charge each pledge once:
// both go through the settler under the campaign's lease, so whichever comes second either
// finds the lease taken (409 for the admin, nothing done, the form's key given back; a skip for
// the tick) or finds the work done. The tick starts at once, then a little after the request,
// so that each side wins once.
func TestSettleNowRacingASchedulerTickChargesEachPledgeOnce(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h"})
	owner := s.visitor("en")
	owner.signUp("Ana")
	adm := s.adminVisitor("en")
	const backers = 8
	won := map[int]int{}
	for _, tickAfter := range []time.Duration{0, 20 * time.Millisecond} {
		c := s.dueCampaign(owner.cookie("session").Value, backers)
		s.clock.Advance(21 * 24 * time.Hour)
		form := "/admin/campaigns/" + c.ID + "/settle"
		confirm := adm.get(form)
		values := url.Values{"csrf_token": {html.UnescapeString(tokenField.FindStringSubmatch(confirm.body)[1])},
			"key": {html.UnescapeString(keyField.FindStringSubmatch(confirm.body)[1])}}

		var wg sync.WaitGroup
		var now page
		var tickErr error
		wg.Add(2)
		go func() { defer wg.Done(); now = adm.do("POST", form, values) }()
		go func() {
			defer wg.Done()
			time.Sleep(tickAfter)
			tickErr = s.app.Settler().Tick(context.Background())
		}()
		wg.Wait()
		if tickErr != nil {
			t.Fatalf("tick: %v", tickErr)
		}
		won[now.status]++
		switch now.status {
		case 303:
		case 409:
			if !strings.Contains(now.body, "Already being settled") {
				t.Errorf("409 without saying why:\n%s", now.body)
			}
			// The key was given back (else: "already sent"); the tick has settled it all by now.
			if again := adm.do("POST", form, values); again.status != 409 || !strings.Contains(again.body, "Nothing to settle") {
				t.Errorf("the same form after the tick: %d\n%s", again.status, again.body)
			}
		default:
			t.Fatalf("settle now: %d\n%s", now.status, now.body)
		}
		// A second tick finds nothing to charge.
		if err := s.app.Settler().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkChargedOnce(t, s, c.ID, backers)
	}
	t.Logf("settle now answered: %v (303: it settled; 409: the tick held the lease)", won)
}
