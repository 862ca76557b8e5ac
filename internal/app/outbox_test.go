//go:build !production

package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
)

// designerEmail is the address of the designer signed in with token.
func (s *service) designerEmail(token string) string {
	s.t.Helper()
	return s.must(200, "GET", "/api/v1/me", token, nil)["email"].(string)
}

// plainSpaces turns the no-break spaces CLDR puts in amounts into plain ones.
func plainSpaces(s string) string {
	return strings.NewReplacer("\u00a0", " ", "\u202f", " ").Replace(s)
}

// sweepAt runs the sweeper's tick on every instance at once, as several instances do.
func sweepAt(instances ...*service) {
	var wg sync.WaitGroup
	for _, inst := range instances {
		for range 2 {
			wg.Go(func() {
				inst.app.SweepPledges(context.Background())
				inst.app.SweepCampaigns(context.Background())
			})
		}
	}
	wg.Wait()
}

// A process that dies right after storing a pledge's change, before the message it owes reaches
// the outbox: the message was recorded on the pledge by the same write, so the sweeper (once the
// change is certainly dead) writes it to the outbox, and the backer hears once. Four sweepers on
// two instances racing over it still make one message.
func TestCrashBetweenChangeAndOutboxStillSendsTheMessageOnce(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	s.relay()
	p := s.pledge(c.slug, coatPledge(c.coatTier, 40000), "crash-confirm").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.secret(token)

	// The confirmation dies after its write. Stripe's events wait meanwhile: the card's event,
	// arriving before the request's own write, confirmed the pledge itself, and the request then
	// had nothing to write and nothing to crash in (it raced so in CI).
	hold := s.double().HoldEvents(t)
	failNext(s.app.Pledges(), pledge.AfterPledgeWrite, 1)
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 503 {
		t.Fatalf("confirm with a crash after the write: %d %s", r.Status, r.Body)
	}
	// The card's event, arriving after the crash, finds the change made: it neither confirms
	// the pledge again nor owes the backer a second message.
	s.deliverHeld(hold, "setup_intent.succeeded")
	if st := s.manage("GET", id, token, nil).JSON(t)["status"]; st != "active" {
		t.Fatalf("the change was not stored: %v", st)
	}
	if p := s.findPledge(id); len(p.Owed) != 1 || transitionsTo(p, pledge.StatusActive) != 1 {
		t.Fatalf("after the late card event: owes %+v, history %+v; want one confirmation", p.Owed, p.History)
	}
	// Then the cancellation dies after its write too.
	failNext(s.app.Pledges(), pledge.AfterPledgeWrite, 1)
	if r := s.manage("POST", id, token, nil); r.Status != 503 {
		t.Fatalf("cancel with a crash after the write: %d %s", r.Status, r.Body)
	}
	if n := s.relay(); n != 0 {
		t.Fatalf("%d messages sent before the sweeper ran", n)
	}
	// While the change may still be under way, the sweeper leaves it to its writer.
	sweepAt(s, other)
	stored, err := s.store.FindPledge(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Owed) != 2 {
		t.Errorf("the pledge owes %d messages, want 2 (confirmed, cancelled): %+v", len(stored.Owed), stored.Owed)
	}
	s.clock.Advance(pledge.SettleWithin + time.Second)
	sweepAt(s, other)
	sweepAt(s, other)
	s.relay()
	other.relay()
	for _, subject := range []string{"is confirmed", "is cancelled"} {
		got := ms.to("backer@example.com", subject)
		if len(got) != 1 {
			t.Fatalf("%d messages %q, want 1", len(got), subject)
		}
		s.checkMessage(got[0])
	}
	if stored, _ = s.store.FindPledge(context.Background(), id); len(stored.Owed) != 0 || stored.OwedSince != nil || len(stored.ManageSeal) != 0 {
		t.Errorf("delivered notices stay on the pledge: %+v, with a seal of %d bytes", stored.Owed, len(stored.ManageSeal))
	}
	// The confirmation that reached the outbox late still carries the manage link.
	d := ms.to("backer@example.com", "is confirmed")[0]
	if gotID, gotToken := manageToken(t, plainLinks.FindString(d.Text[strings.Index(d.Text, "private link"):])); gotID != id || gotToken != token {
		t.Errorf("the late confirmation's manage link is not the pledge's")
	}
}

// The same for a campaign's step: a submission whose process dies after the write is told to the
// designer once, by the sweeper, however many sweep at once.
func TestCrashBetweenCampaignStepAndOutboxStillSendsTheMessageOnce(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	other := s.secondInstance(mailEnv(ms.addr))
	owner, _ := s.designer("Crashing")
	id := s.must(201, "POST", "/api/v1/campaigns", owner, s.campaignBody("Hemp shirts"))["id"].(string)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{"title": "Shirt", "kind": "physical", "price": chf(9000)})
	s.app.Campaigns().SetFaultHook(func(at campaign.FaultPoint) error {
		if at == campaign.AfterCampaignWrite {
			return pledge.ErrInjectedFault
		}
		return nil
	})
	if r := s.call("POST", "/api/v1/campaigns/"+id+"/submit", owner, nil); r.Status != 503 {
		t.Fatalf("submit with a crash after the write: %d %s", r.Status, r.Body)
	}
	s.app.Campaigns().SetFaultHook(nil)
	if st := s.must(200, "GET", "/api/v1/campaigns/"+id, owner, nil)["status"]; st != "in_review" {
		t.Fatalf("the step was not stored: %v", st)
	}
	sweepAt(s, other)
	if n := s.relay(); n != 0 {
		t.Fatalf("%d messages before the step was certainly dead", n)
	}
	s.clock.Advance(2 * time.Minute)
	sweepAt(s, other)
	sweepAt(s, other)
	s.relay()
	other.relay()
	got := ms.to(s.designerEmail(owner), "submitted for review")
	if len(got) != 1 {
		t.Fatalf("%d 'submitted' messages, want 1: %+v", len(got), ms.received())
	}
	s.checkMessage(got[0])
}

// A French backer hears in French that her pledge changed (with its new amount) and that the
// designer cancelled the campaign (with the reason, and that nothing was charged).
func TestFrenchBackerHearsOfHerChangeAndOfACancelledCampaign(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	body := coatPledge(c.coatTier, 40000)
	body["locale"] = "fr"
	p := s.pledge(c.slug, body, "fr-change").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.secret(token)
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	if r := s.manage("PATCH", id, token, map[string]any{"amount": chf(45000)}); r.Status != 200 {
		t.Fatalf("change: %d %s", r.Status, r.Body)
	}
	s.waitWebhooks()
	s.must(200, "POST", "/api/v1/campaigns/"+c.id+"/cancel", c.owner, map[string]any{"reason": "L’atelier a fermé."})
	if err := s.app.Settler().Settle(context.Background(), c.id); err != nil {
		t.Fatal(err)
	}
	s.relay()
	changed := ms.to("backer@example.com", "est modifiée")
	if len(changed) != 1 {
		t.Fatalf("%d 'changed' messages, want 1: %+v", len(changed), ms.received())
	}
	s.checkMessage(changed[0])
	if !strings.HasPrefix(changed[0].Subject, "Votre contribution à Pledge test") || !strings.Contains(changed[0].Text, "450.00") {
		t.Errorf("the change message is not French or lacks the new amount: %q\n%s", changed[0].Subject, changed[0].Text)
	}
	cancelled := ms.to("backer@example.com", "est annulée")
	if len(cancelled) != 1 {
		t.Fatalf("%d 'campaign cancelled' messages, want 1: %+v", len(cancelled), ms.received())
	}
	s.checkMessage(cancelled[0])
	for _, want := range []string{"a été annulée avant son échéance", "L’atelier a fermé.", "Rien n’a été débité"} {
		if !strings.Contains(cancelled[0].Text, want) {
			t.Errorf("the cancellation does not say %q:\n%s", want, cancelled[0].Text)
		}
	}
	if got := ms.to("backer@example.com", "n’a pas atteint"); len(got) != 0 {
		t.Errorf("a cancelled campaign's backer was told it missed its goal")
	}
}

// A declined deadline charge: the failure at once, a reminder after each scheduled retry that
// fails too, each with the fix link, and at the end of the window the notice that the pledge is
// dropped; one of each, however often the scheduler ticks.
func TestDunningRemindersFollowTheRetriesAndEndWithTheDrop(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	b := s.backAll(c, 800000, "pm_card_visa", "pm_card_chargeCustomerFail")
	s.passDeadline(c.slug)
	ctx := context.Background()
	tick := func() {
		t.Helper()
		if err := s.app.Settler().Tick(ctx); err != nil {
			t.Fatal(err)
		}
		s.waitWebhooks()
		s.relay()
	}
	tick()
	tick()
	if got := ms.to("backer@example.com", "did not go through"); len(got) != 1 {
		t.Fatalf("%d failure messages after the deadline, want 1", len(got))
	}
	reminders := func() []delivery { return ms.to("backer@example.com", "Reminder:") }
	for i, at := range []time.Duration{24 * time.Hour, 72 * time.Hour, 144 * time.Hour} {
		s.clock.Advance(at - time.Second - s.elapsedSinceDeadline(c.slug))
		tick()
		if got := len(reminders()); got != i {
			t.Fatalf("before retry %d: %d reminders, want %d", i+1, got, i)
		}
		s.clock.Advance(2 * time.Second)
		tick()
		tick()
		if got := len(reminders()); got != i+1 {
			t.Fatalf("after retry %d: %d reminders, want %d", i+1, got, i+1)
		}
	}
	for _, d := range reminders() {
		s.checkMessage(d)
		if !strings.Contains(d.Text, "http://localhost:8080/pledges/"+b[1].id) || !strings.Contains(d.Text, "Your bank declined the payment.") {
			t.Errorf("a reminder lacks the fix link or the decline:\n%s", d.Text)
		}
	}
	s.clock.Advance(168*time.Hour - s.elapsedSinceDeadline(c.slug))
	tick()
	tick()
	dropped := ms.to("backer@example.com", "is dropped")
	if len(dropped) != 1 {
		t.Fatalf("%d 'dropped' messages, want 1", len(dropped))
	}
	s.checkMessage(dropped[0])
	if !strings.Contains(dropped[0].Text, "Nothing was charged") {
		t.Errorf("the drop notice does not say nothing was charged:\n%s", dropped[0].Text)
	}
}

// elapsedSinceDeadline is how long ago the campaign's deadline passed, to the second it was
// passed by passDeadline.
func (s *service) elapsedSinceDeadline(slug string) time.Duration {
	s.t.Helper()
	c := s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)
	deadline, err := time.Parse(time.RFC3339, c["deadline"].(string))
	if err != nil {
		s.t.Fatal(err)
	}
	return s.clock.Now().Sub(deadline) - time.Second
}

// A designer who signed up in French follows her campaign in French: submitted, approved, live,
// its first pledge and its goal reached, each once.
func TestFrenchDesignerHearsEachStepOfHerCampaign(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	email := "camille." + fmt.Sprint(time.Now().UnixNano()) + "@atelier.example"
	s.secret(email)
	s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": email, "password": "lin et laine 1234", "name": "Camille", "locale": "fr"})
	owner := s.login(email, "lin et laine 1234")
	admin := s.admin()
	body := s.campaignBody("Capes en laine")
	body["goal"] = chf(50000)
	camp := s.must(201, "POST", "/api/v1/campaigns", owner, body)
	id, slug := camp["id"].(string), camp["slug"].(string)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{"title": "Cape", "kind": "physical", "price": chf(30000)})
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", owner, nil)
	for i, amount := range []int{20000, 20000, 20000, 20000} {
		p := s.pledge(slug, map[string]any{"amount": chf(amount), "backer": map[string]any{"email": "flex@example.com", "name": "Flex"}}, fmt.Sprint("fr-designer-", i)).JSON(t)
		if r := s.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
			t.Fatalf("pledge %d: %d %s", i, r.Status, r.Body)
		}
	}
	s.waitWebhooks()
	s.relay()
	s.relay()
	for _, subject := range []string{"Capes en laine est soumise à relecture", "Capes en laine est approuvée", "Capes en laine est en ligne",
		"Capes en laine a sa première contribution", "Votre campagne Capes en laine a atteint son objectif"} {
		got := ms.to(email, subject)
		if len(got) != 1 {
			t.Errorf("%d messages %q, want 1", len(got), subject)
			continue
		}
		s.checkMessage(got[0])
		if !strings.Contains(got[0].Text, "Bonjour Camille") || !strings.Contains(got[0].Text, "http://localhost:8080/designer/campaigns/"+id) {
			t.Errorf("%q is not French or lacks the link to her campaign:\n%s", subject, got[0].Text)
		}
	}
	// The first pledge's count is one backer, in the singular ("de 1 contributeurs" once).
	if got := ms.to(email, "a sa première contribution"); len(got) == 1 && !strings.Contains(plainSpaces(got[0].Text), "de 1 contributeur.") {
		t.Errorf("the first pledge's message does not count one backer in the singular:\n%s", got[0].Text)
	}
	if got := ms.to(email, "atteint son objectif"); len(got) == 1 && !strings.Contains(plainSpaces(got[0].Text), "600.00 CHF sur 500.00 CHF, de 3 contributeurs.") {
		t.Errorf("the goal message does not give the total when it was reached (the third pledge):\n%s", got[0].Text)
	}
	if r := s.call("POST", "/api/v1/designers", "", map[string]string{"email": "x@atelier.example", "password": "lin et laine 1234", "name": "X", "locale": "de"}); r.Status != 422 || r.fieldCode(t, "locale") != "invalid" {
		t.Errorf("an unknown locale at signup: %d %s", r.Status, r.Body)
	}
}

// A forgotten password is mailed (in the designer's language), once per request, and its link
// sets a new password; the link is dropped from the outbox once sent.
func TestPasswordResetIsMailed(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	email := "reset." + fmt.Sprint(time.Now().UnixNano()) + "@atelier.example"
	s.secret(email)
	s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": email, "password": "lin et laine 1234", "name": "Rose"}, "Accept-Language", "fr-CH")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(s.base + "/designer/password")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no form:\n%s", page)
	}
	for _, addr := range []string{email, "nobody@atelier.example"} {
		res, err = browser.PostForm(s.base+"/designer/password", url.Values{"csrf_token": {string(m[1])}, "email": {addr}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("ask for a reset: %d", res.StatusCode)
		}
	}
	s.relay()
	if n := len(ms.received()); n != 1 {
		t.Fatalf("%d messages, want 1 (none for an address without an account)", n)
	}
	got := ms.to(email, "Réinitialiser votre mot de passe")
	if len(got) != 1 {
		t.Fatalf("no French reset message: %+v", ms.received())
	}
	d := got[0]
	link := plainLinks.FindString(d.Text)
	if !strings.HasPrefix(link, "http://localhost:8080/designer/password/reset?token=") || !strings.Contains(d.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
		t.Fatalf("reset link %q (in the HTML too?)", link)
	}
	u, _ := url.Parse(link)
	res, err = browser.Get(s.base + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	m = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("the reset page: %d", res.StatusCode)
	}
	res, err = browser.PostForm(s.base+"/designer/password/reset", url.Values{"csrf_token": {string(m[1])}, "token": {u.Query().Get("token")}, "password": {"a new linen passphrase"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s.must(201, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": "a new linen passphrase"})
	msgs, err := s.store.RecentMessages(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range msgs {
		if msg.Data["reset_url"] != "" {
			t.Errorf("the outbox keeps the reset link after sending")
		}
	}
}

// A flexible campaign's end: each charged backer hears it ended (in her language), the designer
// gets the settlement summary, then the payout notice with what was transferred; one of each
// however often the settler ticks.
func TestFlexibleCampaignEndAndPayoutAreTold(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("flexible", 10)
	s.collectedFlexible(c, 5000, "flex-end-en")
	p := s.pledge(c.slug, map[string]any{"amount": chf(12345), "locale": "fr", "backer": map[string]any{"email": "anne@example.com", "name": "Anne"}}, "flex-end-fr").JSON(t)
	if r := s.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", c.owner, nil)
	if err := s.double().CompleteOnboarding(s.double().Accounts()[0].ID); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	designer := s.designerEmail(c.owner)
	s.passDeadline(c.slug)
	for range 3 {
		if err := s.app.Settler().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.waitWebhooks()
		s.relay()
	}
	en, fr := ms.to("flex@example.com", "has ended"), ms.to("anne@example.com", "est terminée")
	if len(en) != 1 || len(fr) != 1 {
		t.Fatalf("end messages: %d English, %d French; want 1 each", len(en), len(fr))
	}
	s.checkMessage(en[0])
	s.checkMessage(fr[0])
	if !strings.Contains(en[0].Text, "173.45") || !strings.Contains(en[0].Text, "was charged when you made it") {
		t.Errorf("the backer's end message lacks the total raised or what it means for her:\n%s", en[0].Text)
	}
	ended := ms.to(designer, "has ended: its settlement")
	if len(ended) != 1 {
		t.Fatalf("%d settlement summaries, want 1: %+v", len(ended), ms.received())
	}
	s.checkMessage(ended[0])
	if !strings.Contains(plainSpaces(ended[0].Text), "At the deadline: CHF ") || !strings.Contains(ended[0].Text, "from 2 backers") || !strings.Contains(ended[0].Text, "You keep what was raised") {
		t.Errorf("the summary:\n%s", ended[0].Text)
	}
	var paid int64
	for _, tr := range s.double().Transfers() {
		paid += tr.Amount
	}
	payout := ms.to(designer, "payout for")
	if paid == 0 || len(payout) != 1 {
		t.Fatalf("transferred %d; %d payout messages, want 1", paid, len(payout))
	}
	s.checkMessage(payout[0])
	if want := fmt.Sprintf("CHF %d.%02d", paid/100, paid%100); !strings.Contains(plainSpaces(payout[0].Text), want) {
		t.Errorf("the payout message does not say %s:\n%s", want, payout[0].Text)
	}
}
