//go:build !production

package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/reconcile"
)

// tickSchedule runs the scheduled messages' tick on every instance at once, as several do.
func tickSchedule(t *testing.T, instances ...*service) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range instances {
		wg.Go(func() {
			if err := s.app.Schedule().Tick(context.Background()); err != nil {
				t.Errorf("schedule tick: %v", err)
			}
		})
	}
	wg.Wait()
}

// frenchDesigner signs up a designer who reads French and returns her token and address.
func (s *service) frenchDesigner() (token, email string) {
	s.t.Helper()
	email = "lea." + time.Now().Format("150405.000000000") + "@atelier.example"
	pw := "lin et laine, toujours"
	s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": email, "password": pw, "name": "Léa", "locale": "fr"})
	s.secret(pw)
	return s.login(email, pw), email
}

// inBrowser follows a message's link (written on the public URL) on the test's address.
func (s *service) inBrowser(link string) (*http.Response, string) {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(strings.Replace(link, "http://localhost:8080", s.base, 1))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	return res, string(page)
}

// A designer hears each morning, at 8:00 in her campaign's zone, what the day before brought:
// how many pledges, how much, from where; once per day even with two instances ticking, nothing
// on a day with nothing new, and nothing once she turned it off from the message's one-click link.
func TestDesignerDailyDigest(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	owner, email := s.frenchDesigner()
	admin := s.admin()
	// Launched at 10:00 in Zurich (09:00 UTC) on 2 November.
	id, slug := s.liveCampaign(owner, admin, "Capes en laine")
	tickSchedule(t, s, other)
	s.relay()
	if got := ms.to(email, "résumé"); len(got) != 0 {
		t.Fatalf("a digest before any pledge: %+v", got)
	}
	tiers := s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)["tiers"].([]any)
	tier := tiers[0].(map[string]any)["id"].(string)
	for i, ref := range []string{"instagram", "instagram", ""} {
		body := map[string]any{"tier_id": tier, "amount": chf(32000 + i*1000), "shipping_address": address,
			"backer": map[string]any{"email": "backer@example.com", "name": "Bea"}}
		if ref != "" {
			body["source"] = map[string]any{"ref": ref}
		}
		p := s.pledge(slug, body, "digest-"+string(rune('a'+i))).JSON(t)
		s.secret(p["manage_token"].(string))
		if r := s.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
			t.Fatalf("confirm: %d %s", r.Status, r.Body)
		}
	}
	s.waitWebhooks()
	// 07:30 in Zurich the next day: not yet.
	s.clock.Advance(21*time.Hour + 30*time.Minute)
	tickSchedule(t, s, other)
	s.relay()
	if got := ms.to(email, "résumé"); len(got) != 0 {
		t.Fatalf("a digest before 8:00 local time: %+v", got)
	}
	// 08:05: one digest, from two instances ticking at once, and again later that morning.
	s.clock.Advance(35 * time.Minute)
	tickSchedule(t, s, other)
	tickSchedule(t, s, other)
	s.relay()
	s.clock.Advance(3 * time.Hour)
	tickSchedule(t, s, other)
	s.relay()
	got := ms.to(email, "")
	var digests []delivery
	for _, d := range got {
		if strings.Contains(d.MessageID, ".digest.") {
			digests = append(digests, d)
		}
	}
	if len(digests) != 1 {
		t.Fatalf("%d digests on 3 November, want 1: %+v", len(digests), got)
	}
	d := digests[0]
	s.checkMessage(d)
	if d.Subject != "Capes en laine\u202f: votre résumé du jour" || d.MessageID != "<msg_"+id+".digest.2026-11-03@localhost>" {
		t.Errorf("subject %q, Message-ID %q", d.Subject, d.MessageID)
	}
	text := plainSpaces(d.Text)
	for _, want := range []string{"Bonjour Léa", "nouvelles contributions : 3, pour 990.00 CHF", "instagram (2), visites directes (1)", "de 3 contributeurs"} {
		if !strings.Contains(text, want) {
			t.Errorf("the digest does not say %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`^<(http://localhost:8080/unsubscribe/digest\?token=[^>]+)>$`).FindStringSubmatch(d.Header.Get("List-Unsubscribe"))
	if m == nil || d.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.Contains(d.Text, m[1]) {
		t.Fatalf("List-Unsubscribe %q, List-Unsubscribe-Post %q", d.Header.Get("List-Unsubscribe"), d.Header.Get("List-Unsubscribe-Post"))
	}
	// The next morning, with nothing new: nothing.
	s.clock.Advance(21 * time.Hour)
	tickSchedule(t, s, other)
	if n := s.relay(); n != 0 {
		t.Fatalf("%d messages on a day without pledges", n)
	}
	// The link opens a confirm page and changes nothing; a forged token is refused; the mail
	// client's one-click POST turns the digest off.
	path := strings.TrimPrefix(m[1], "http://localhost:8080")
	if res, page := s.inBrowser(m[1]); res.StatusCode != 200 || !strings.Contains(page, "daily summary") {
		t.Fatalf("confirm page: %d", res.StatusCode)
	}
	if u, _ := s.store.FindUserByEmail(context.Background(), email); u.DailyDigestOff {
		t.Fatal("opening the link turned the digest off")
	}
	forged := regexp.MustCompile(`token=usr_[^.]+\.`).ReplaceAllString(path, "token=usr_forged.")
	// An updates' unsubscribe token has the same signature scheme under another label.
	for _, p := range []string{forged, "/unsubscribe/digest?token=" + id + ".0123456789abcdef0123456789abcdef.AAAA"} {
		res, err := s.http.Post(s.base+p, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Fatalf("a forged token %s: %d", p, res.StatusCode)
		}
	}
	res, err := s.http.Post(s.base+path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("one-click: %d", res.StatusCode)
	}
	if u, _ := s.store.FindUserByEmail(context.Background(), email); !u.DailyDigestOff {
		t.Fatal("the one-click POST did not turn the digest off")
	}
	p := s.pledge(slug, map[string]any{"amount": chf(5000), "backer": map[string]any{"email": "late@example.com", "name": "Late"}}, "digest-late").JSON(t)
	s.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"})
	s.waitWebhooks()
	s.relay()
	s.clock.Advance(24 * time.Hour)
	tickSchedule(t, s, other)
	if n := s.relay(); n != 0 {
		t.Fatalf("%d messages after the digest was turned off", n)
	}
}

// Admins hear at once that a campaign was submitted, then each morning (08:00 UTC) which
// campaigns still wait, once a day per admin, in each admin's language; nothing once none wait.
// A reconciliation run that leaves findings open is told once, with its counts and its page.
func TestAdminsHearOfReviewsAndFindings(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	env := mailEnv(ms.addr)
	env["BACKSTITCH_SESSION_TTL"] = "2000h"
	s := startService(t, env)
	other := s.secondInstance(env)
	s.admin()
	adminToken := s.admin()
	fr, err := account.NewUser(account.SignupFields{Email: "marie@backstitch.example", Password: "relire avec soin", Name: "Marie", Locale: "fr"}, account.RoleAdmin, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateUser(context.Background(), fr); err != nil {
		t.Fatal(err)
	}
	owner, _ := s.designer("Mara")
	c := s.must(201, "POST", "/api/v1/campaigns", owner, s.campaignBody("Wool capes"))
	id := c["id"].(string)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{"title": "Cape", "kind": "physical", "price": chf(30000), "limit": 5})
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.relay()
	got := ms.to("marie@backstitch.example", "")
	if len(got) != 1 || got[0].Subject != "Wool capes a été soumise pour relecture" || !strings.Contains(got[0].Text, "http://localhost:8080/admin/campaigns/"+id) {
		t.Fatalf("the French admin's submitted notice: %+v", got)
	}
	s.checkMessage(got[0])
	// 09:00 UTC: the day's review digest, once per admin, however many ticks.
	tickSchedule(t, s, other)
	tickSchedule(t, s, other)
	s.relay()
	var review []delivery
	for _, d := range ms.received() {
		if strings.Contains(d.MessageID, "msg_review.") {
			review = append(review, d)
		}
	}
	if len(review) != 3 {
		t.Fatalf("%d review digests, want one per admin (3)", len(review))
	}
	for _, d := range review {
		s.checkMessage(d)
		if !strings.Contains(d.Text, "Wool capes") || !strings.Contains(d.Text, "http://localhost:8080/admin/campaigns/"+id) {
			t.Errorf("the review digest does not list the campaign:\n%s", d.Text)
		}
		if d.To == "marie@backstitch.example" && d.Subject != "Campagnes en attente de relecture\u202f: 1" {
			t.Errorf("French subject %q", d.Subject)
		}
	}
	// Still waiting the next morning: told again; approved, then nothing.
	s.clock.Advance(24 * time.Hour)
	tickSchedule(t, s, other)
	if n := s.relay(); n != 3 {
		t.Fatalf("%d messages the second morning, want 3 review digests", n)
	}
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", adminToken, nil)
	s.relay()
	s.clock.Advance(24 * time.Hour)
	tickSchedule(t, s, other)
	if n := s.relay(); n != 0 {
		t.Fatalf("%d messages with no campaign waiting", n)
	}

	// A finished run with two open findings (and one resolved), and one with none.
	ctx := context.Background()
	finished := s.clock.Now()
	for _, r := range []struct {
		id   string
		open int
	}{{"rec_withfindings", 2}, {"rec_clean", 0}} {
		run := reconcile.Run{ID: r.id, Status: reconcile.RunCompleted, CreatedBy: "test", CreatedAt: finished, StartedAt: &finished, FinishedAt: &finished,
			Attempt: 1, Summary: &reconcile.Summary{Findings: map[reconcile.Kind]int{}}}
		var fs []reconcile.FindingRecord
		for i := range r.open + 1 {
			if r.open == 0 {
				break
			}
			st := reconcile.FindingOpen
			if i == r.open {
				st = reconcile.FindingResolved
			}
			fs = append(fs, reconcile.FindingRecord{ID: r.id + "_f" + string(rune('0'+i)), RunID: r.id, Attempt: 1, Seq: i, Status: st,
				Finding: reconcile.Finding{Kind: reconcile.AmountMismatch, Database: money.Money{Amount: 100, Currency: "CHF"}, Stripe: money.Money{Amount: 90, Currency: "CHF"}}})
			run.Summary.Findings[reconcile.AmountMismatch]++
		}
		if err := s.store.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if len(fs) > 0 {
			if err := s.store.InsertFindings(ctx, fs); err != nil {
				t.Fatal(err)
			}
		}
	}
	tickSchedule(t, s, other)
	tickSchedule(t, s, other)
	s.relay()
	var findings []delivery
	for _, d := range ms.received() {
		if strings.Contains(d.MessageID, ".findings.") {
			findings = append(findings, d)
			if !strings.Contains(d.MessageID, "rec_withfindings") {
				t.Errorf("told about a run without open findings: %s", d.MessageID)
			}
		}
	}
	if len(findings) != 3 {
		t.Fatalf("%d findings messages, want one per admin (3)", len(findings))
	}
	for _, d := range findings {
		s.checkMessage(d)
		if !strings.Contains(d.Text, "http://localhost:8080/admin/reconciliations/rec_withfindings") {
			t.Errorf("no link to the run:\n%s", d.Text)
		}
		switch d.To {
		case "marie@backstitch.example":
			if d.Subject != "Rapprochement terminé avec 2 écarts ouverts" || !strings.Contains(d.Text, "amount_mismatch\u202f: 3") {
				t.Errorf("French findings message %q:\n%s", d.Subject, d.Text)
			}
		default:
			if d.Subject != "Reconciliation finished with 2 open findings" {
				t.Errorf("subject %q", d.Subject)
			}
		}
	}
}

// A designer cancels a workshop date: each backer booked on it hears it once, in her language,
// with a link that opens her pledge's change form, and what happens if she does nothing; the
// backers of the other date hear nothing.
func TestCancelledSessionAsksBackersToChooseAgain(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	cancelled := s.addSession(c, c.workshop, 20*24*time.Hour, 12)
	kept := s.addSession(c, c.workshop, 21*24*time.Hour, 12)
	book := func(email, lang, session, key string) (id, token string) {
		body := workshopPledge(c.workshop, session)
		body["backer"] = map[string]any{"email": email, "name": "Zoé"}
		body["locale"] = lang
		p := s.pledge(c.slug, body, key).JSON(t)
		id, token = p["id"].(string), p["manage_token"].(string)
		s.secret(token)
		s.must(200, "POST", "/api/v1/pledges/"+id+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", token)
		return id, token
	}
	frID, _ := book("zoe@example.com", "fr", cancelled, "ses-fr")
	book("ann@example.com", "en", cancelled, "ses-en")
	book("kept@example.com", "en", kept, "ses-kept")
	s.waitWebhooks()
	s.relay()
	before := len(ms.received())
	s.must(200, "DELETE", "/api/v1/campaigns/"+c.id+"/tiers/"+c.workshop+"/sessions/"+cancelled, c.owner, nil)
	tickSchedule(t, s, other)
	tickSchedule(t, s, other)
	s.relay()
	s.clock.Advance(24 * time.Hour)
	tickSchedule(t, s, other)
	s.relay()
	told := 0
	for _, d := range ms.received()[before:] {
		if strings.Contains(d.MessageID, ".session_cancelled.") {
			told++
		}
	}
	if told != 2 {
		t.Fatalf("%d messages about the cancelled date, want one per backer booked on it (2): %+v", told, ms.received()[before:])
	}
	if got := ms.to("kept@example.com", "cancelled"); len(got) != 0 {
		t.Fatalf("a backer of the other date was told: %+v", got)
	}
	en := ms.to("ann@example.com", "your date was cancelled")
	if len(en) != 1 || !strings.Contains(en[0].Text, "charged at the deadline if the campaign reaches its goal") {
		t.Fatalf("the English backer's message: %+v", en)
	}
	s.checkMessage(en[0])
	got := ms.to("zoe@example.com", "annulée")
	if len(got) != 1 {
		t.Fatalf("the French backer got %d messages", len(got))
	}
	d := got[0]
	s.checkMessage(d)
	if !strings.HasSuffix(d.Subject, "\u202f: votre date est annulée") || !strings.Contains(d.Text, "Workshop") || !strings.Contains(d.Text, "Si vous ne faites rien") {
		t.Fatalf("the French message %q:\n%s", d.Subject, d.Text)
	}
	link := regexp.MustCompile(`http://localhost:8080/pledges/[^\s]+/manage\?[^\s]+`).FindString(d.Text)
	if !strings.Contains(link, "then=change") {
		t.Fatalf("no manage link to the change form in:\n%s", d.Text)
	}
	res, page := s.inBrowser(link)
	if res.StatusCode != 200 || res.Request.URL.Path != "/pledges/"+frID+"/change" || !strings.Contains(page, "<form") {
		t.Fatalf("following the link: %d at %s", res.StatusCode, res.Request.URL)
	}
}

// After success, a backer who has not answered the survey is reminded three days before it
// closes and on its last day, once each; a backer who answered is not; nothing after it closes.
func TestSurveyRemindersStopOnceAnswered(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	env := mailEnv(ms.addr)
	env["BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS"], env["BACKSTITCH_SESSION_TTL"] = "1000", "2000h"
	s := startService(t, env)
	other := s.secondInstance(env)
	f := s.succeededWithRewards(0)
	s.relay()
	sv := s.must(200, "GET", "/api/v1/pledges/"+f.ch["id"].(string)+"/survey", "", nil, "X-Manage-Token", f.ch["manage_token"].(string))
	deadline, _ := time.Parse(time.RFC3339, sv["deadline"].(string))
	s.must(200, "POST", "/api/v1/pledges/"+f.ch["id"].(string)+"/survey", "", map[string]any{}, "X-Manage-Token", f.ch["manage_token"].(string))
	reminders := func() map[string]int {
		out := map[string]int{}
		for _, d := range ms.received() {
			if m := regexp.MustCompile(`^<msg_([^.]+)\.survey_reminder\.(\w+)@`).FindStringSubmatch(d.MessageID); m != nil {
				out[m[1]+"."+m[2]]++
				s.checkMessage(d)
			}
		}
		return out
	}
	tickSchedule(t, s, other)
	s.relay()
	if got := reminders(); len(got) != 0 {
		t.Fatalf("reminders a week before the survey closes: %v", got)
	}
	s.clock.Advance(deadline.Sub(s.clock.Now()) - 3*24*time.Hour + time.Hour)
	tickSchedule(t, s, other)
	tickSchedule(t, s, other)
	s.relay()
	pt, ws := f.pt["id"].(string), f.ws["id"].(string)
	if got := reminders(); len(got) != 2 || got[pt+".first"] != 1 || got[ws+".first"] != 1 {
		t.Fatalf("first reminders %v, want one each to the tote to Portugal and the workshop (the Swiss tote answered, the patron has no reward)", got)
	}
	first := ms.to("backer@example.com", "your answers for your reward")
	link := regexp.MustCompile(`http://localhost:8080/pledges/[^\s]+/manage\?[^\s]+`).FindString(first[0].Text)
	if res, _ := s.inBrowser(link); res.StatusCode != 200 || !strings.HasSuffix(res.Request.URL.Path, "/survey") {
		t.Fatalf("the reminder's link: %d at %s", res.StatusCode, res.Request.URL)
	}
	// The Portuguese tote answers; on the last day only the workshop is reminded.
	s.must(200, "POST", "/api/v1/pledges/"+pt+"/survey", "", map[string]any{}, "X-Manage-Token", f.pt["manage_token"].(string))
	s.clock.Advance(2*24*time.Hour + time.Hour)
	tickSchedule(t, s, other)
	tickSchedule(t, s, other)
	s.relay()
	if got := reminders(); len(got) != 3 || got[ws+".last"] != 1 || got[pt+".last"] != 0 {
		t.Fatalf("reminders %v after the last day's tick", got)
	}
	s.clock.Advance(24 * time.Hour)
	tickSchedule(t, s, other)
	if n := s.relay(); n != 0 {
		t.Fatalf("%d messages after the survey closed", n)
	}
}
