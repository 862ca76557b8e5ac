package console_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
)

// figureCell is the amount in the settlement page's row for one of the report's figures.
func figureCell(body, id string) string {
	m := regexp.MustCompile(`(?s)<tr id="figure-` + id + `">.*?<td class="num">(.*?)</td>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// The settlement page says when a live campaign settles; once settled, it shows the API's
// report, figure for figure, in the designer's language, and the editor and insights link it.
func TestSettlementPageShowsTheReport(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h"})
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	owner := v.cookie("session").Value
	c := liveWithShipping(t, s, owner)
	back(t, s, c, "Coat", "Eve", "", "", 32000)
	back(t, s, c, "Coat", "Léa", "", "", 32000)
	back(t, s, c, "Coat", "Marc", "", "", 40000)
	back(t, s, c, "", "Zoé", "", "", 2500)

	path := "/designer/campaigns/" + c.ID + "/settlement"
	p := v.get(path)
	if p.status != 200 || !strings.Contains(p.body, "This campaign settles at its deadline") || strings.Contains(p.body, `id="figure-`) {
		t.Fatalf("before the deadline: %d\n%s", p.status, p.body)
	}
	if e := v.get("/designer/campaigns/" + c.ID); strings.Contains(e.body, `href="`+path+`"`) {
		t.Error("the editor links the settlement of a campaign still live")
	}

	s.clock.Advance(21 * 24 * time.Hour)
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+c.ID+"/settle", s.admin, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+c.ID+"/settlement", owner, nil)
	if err != nil {
		t.Fatal(err)
	}
	if amountOf(rep["collected"]) != 106500 {
		t.Fatalf("the campaign should have collected every pledge: %v", rep)
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		loc := locale.Negotiate("", lang)
		p := v.get(path)
		if p.status != 200 {
			t.Fatalf("%s settlement: %d\n%s", lang, p.status, p.body)
		}
		for id, field := range map[string]string{"collected": "collected", "shipping": "collected_shipping", "pending": "pending",
			"refunded": "refunded", "disputes_lost": "disputes_lost", "platform_fee": "platform_fee", "stripe_fees": "stripe_fees",
			"payable": "payable", "transferred": "transferred"} {
			want := loc.Money(money.Money{Amount: amountOf(rep[field]), Currency: "CHF"})
			if got := figureCell(p.body, id); got != want {
				t.Errorf("%s %s: %q, want the API's %q", lang, id, got, want)
			}
		}
		collected := rep["by_status"].(map[string]any)["collected"].(map[string]any)
		row := loc.T("pledge.status.collected") + `</span></td><td class="num">` + loc.Number(int64(collected["count"].(float64))) +
			`</td><td class="num">` + loc.Money(money.Money{Amount: amountOf(collected["amount"]), Currency: "CHF"}) + "</td>"
		if !strings.Contains(p.body, row) {
			t.Errorf("%s: no collected row %q\n%s", lang, row, p.body)
		}
		if !strings.Contains(p.body, `data-state="payable"`) || !strings.Contains(p.body, loc.T("console.settlement.explain.payable")) {
			t.Errorf("%s: the state should be payable, explained:\n%s", lang, p.body)
		}
		both.Check("settlement", p.body, lang)
	}
	v.lang = "en"
	if e := v.get("/designer/campaigns/" + c.ID); !strings.Contains(e.body, `href="`+path+`"`) {
		t.Error("the editor has no link to the settlement of an ended campaign")
	}
	if i := v.get("/designer/campaigns/" + c.ID + "/insights"); !strings.Contains(i.body, `href="`+path+`"`) {
		t.Error("the insights have no link to the settlement of an ended campaign")
	}
	// A draft has nothing to settle.
	if p := v.get(v.createDraft("Next coat") + "/settlement"); p.status != 404 {
		t.Errorf("a draft's settlement: %d", p.status)
	}
}

func amountOf(m any) int64 { return int64(m.(map[string]any)["amount"].(float64)) }

// backWithCard makes a confirmed pledge of amount without a reward, paid with the test card pm.
func backWithCard(t *testing.T, s *site, c seed.Campaign, pm string, amount int64) {
	t.Helper()
	ctx := context.Background()
	p, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+c.Slug+"/pledges", "", map[string]any{
		"amount": map[string]any{"amount": amount, "currency": "CHF"},
		"backer": map[string]any{"email": "b." + backstitch.NewID("t") + "@example.com", "name": "Backer"},
	}, "Idempotency-Key", backstitch.NewID("t"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/confirm", "",
		map[string]any{"payment_method": pm}, "X-Manage-Token", p["manage_token"].(string)); err != nil {
		t.Fatal(err)
	}
}

// A declined card at the deadline leaves the settlement dunning, its amount pending; a campaign
// that missed its goal says that nothing was charged. Each state comes with its sentence; the
// dunning one, and the designer's campaign-ended message, give the configured window in words.
func TestSettlementPageExplainsDunningAndFailure(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h", "BACKSTITCH_DUNNING_WINDOW": "240h"})
	ctx := context.Background()
	v := s.visitor("fr")
	v.signUp("Ana")
	owner := v.cookie("session").Value
	met := liveWithShipping(t, s, owner)
	backWithCard(t, s, met, "pm_card_visa", 100000)
	backWithCard(t, s, met, "pm_card_chargeCustomerFail", 7000)
	missed := liveWithShipping(t, s, owner)
	backWithCard(t, s, missed, "pm_card_visa", 5000)

	s.clock.Advance(21 * 24 * time.Hour)
	for _, c := range []seed.Campaign{met, missed} {
		if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+c.ID+"/settle", s.admin, nil); err != nil {
			t.Fatal(err)
		}
	}
	fr := locale.Negotiate("", "fr")
	p := v.get("/designer/campaigns/" + met.ID + "/settlement")
	if p.status != 200 || !strings.Contains(p.body, `data-state="dunning"`) || !strings.Contains(p.body, "ces contributeurs ont 10 jours pour payer") {
		t.Fatalf("a declined card should leave the settlement dunning, for the 10 days configured: %d\n%s", p.status, p.body)
	}
	msgs, err := s.store.RecentMessages(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	ended := 0
	for _, m := range msgs {
		if m.Kind == notify.CampaignEnded && strings.Contains(m.Data["outcome"], locale.Negotiate("", m.Lang).T("email.campaign_ended.succeeded", locale.Negotiate("", m.Lang).Span(240*time.Hour))) {
			ended++
			if !strings.Contains(m.Data["outcome"], map[string]string{"en": "10 days", "fr": "10 jours"}[m.Lang]) {
				t.Errorf("campaign ended message: %q", m.Data["outcome"])
			}
		}
	}
	if ended != 1 {
		t.Errorf("%d campaign-ended messages give the dunning window, want 1", ended)
	}
	if got, want := figureCell(p.body, "pending"), fr.Money(money.Money{Amount: 7000, Currency: "CHF"}); got != want {
		t.Errorf("pending %q, want the declined pledge's %q", got, want)
	}
	if !strings.Contains(p.body, fr.T("pledge.status.payment_failed")) {
		t.Errorf("no row for the declined pledge:\n%s", p.body)
	}
	testenv.CheckHTML(t, "fr dunning settlement", p.body, "fr")

	p = v.get("/designer/campaigns/" + missed.ID + "/settlement")
	if p.status != 200 || !strings.Contains(p.body, `data-state="failed"`) || !strings.Contains(p.body, fr.T("console.settlement.explain.failed")) {
		t.Fatalf("a campaign that missed its goal: %d\n%s", p.status, p.body)
	}
	if got, want := figureCell(p.body, "payable"), fr.Money(money.Money{Amount: 0, Currency: "CHF"}); got != want {
		t.Errorf("payable %q, want %q", got, want)
	}
}
