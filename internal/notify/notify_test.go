package notify

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv/french"
)

// Every message renders in every language from the data the outbox writes for it: a template
// naming data its kind lacks, or a catalogue key missing, fails here rather than at 3 a.m.; French
// ones are punctuated the French way.
func TestEveryMessageRendersInEveryLanguage(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{"name": "Ana", "campaign": "Linen coats", "reward": "Coat", "amount": "CHF 320.00",
		"charged": "Charged on 7 November", "pledge_url": "https://b.example/pledges/p1", "fix_url": "https://b.example/pledges/p1",
		"campaign_url": "https://b.example/campaigns/linen", "manage_url": "https://b.example/pledges/p1/manage?token=t",
		"decline": "Declined.", "refund": "CHF 30.00", "reason": "More photos.", "pledged": "CHF 500.00", "goal": "CHF 400.00",
		"backers": "3", "outcome": "It succeeded.", "paid": "CHF 450.00", "raised": "CHF 500.00", "reset_url": "https://b.example/designer/password/reset?token=t",
		"inviter": "Rita <b>Reviewer</b>", "invite_url": "https://b.example/admin/join?token=t",
		"title": "Buttons <b>are</b> sewn", "body": "The **last** coats ship on Monday.",
		"unsubscribe_url": "https://b.example/unsubscribe?token=u",
		"new_pledges":     "2", "new_amount": "CHF 640.00", "sources": "instagram (2)", "off_url": "https://b.example/unsubscribe/digest?token=d",
		"count": "2", "queue_url": "https://b.example/admin", "designer": "Mara", "review_url": "https://b.example/admin/campaigns/c1",
		"open": "3", "counts": "missing_charge × 3", "finished": "7 November 2026", "run_url": "https://b.example/admin/reconciliations/r1",
		"session": "12 December 2026, 14:00", "place": "Rue du Rhône 1", "deadline": "7 December 2026", "if_nothing": "It stays.",
		"closes": "20 December 2026", "lead": "The survey closes soon."}
	recovered := []Link{{Label: "Linen coats", Detail: "CHF 320.00", URL: "https://b.example/pledges/p1/manage?token=t"}}
	links := regexp.MustCompile(`https://b\.example[^\s"<]*`)
	english := map[Kind]Rendered{}
	for _, lang := range locale.Languages {
		for _, k := range Kinds {
			d := maps.Clone(data)
			// About an account, and about several pledges: no campaign in the subject.
			aboutNone := k == PasswordReset || k == PledgesRecovered || k == AdminInvite || k == ReviewDigest || k == ReconcileFindings
			if k == PasswordReset || k == AdminInvite {
				delete(d, "campaign")
			}
			out, err := r.Render(Message{ID: "msg_1", Kind: k, Lang: lang, Data: d, Links: recovered})
			if err != nil {
				t.Fatalf("%s/%s: %v", lang, k, err)
			}
			if strings.HasPrefix(out.Subject, "email.") || strings.Contains(out.Subject, "%!") || !aboutNone != strings.Contains(out.Subject, "Linen coats") {
				t.Errorf("%s/%s: subject %q", lang, k, out.Subject)
			}
			for _, body := range []string{out.Text, out.HTML} {
				if strings.Contains(body, "email.") || strings.Contains(body, "<no value>") || strings.Contains(body, "%!") {
					t.Errorf("%s/%s: untranslated or missing text:\n%s", lang, k, body)
				}
			}
			if lang == "en" {
				english[k] = out
			} else {
				french.CheckText(t, lang+"/"+string(k)+" subject", out.Subject, english[k].Subject)
				french.CheckText(t, lang+"/"+string(k)+" text", out.Text, english[k].Text)
				french.CheckHTML(t, lang+"/"+string(k)+" HTML", out.HTML, english[k].HTML)
			}
			text, html := links.FindAllString(out.Text, -1), links.FindAllString(strings.ReplaceAll(out.HTML, "&amp;", "&"), -1)
			if len(text) == 0 || !slices.Equal(text, html) {
				t.Errorf("%s/%s: plain text links %v, HTML links %v", lang, k, text, html)
			}
		}
	}
	if _, err := r.Render(Message{ID: "msg_2", Kind: RefundIssued, Lang: "en", Data: map[string]string{"name": "Ana"}}); err == nil {
		t.Error("a message lacking its data rendered")
	}
}

// Which changes of a pledge are told to its backer, and which are not.
func TestBackerNews(t *testing.T) {
	now := time.Now()
	p := func(s pledge.Status) pledge.Pledge { return pledge.Pledge{Status: s} }
	failedBefore := p(pledge.StatusCharging)
	failedBefore.FirstFailedAt = &now
	refunded := p(pledge.StatusPartiallyRefunded)
	refunded.AmountRefunded = 100
	raised := p(pledge.StatusActive)
	raised.Amount.Amount = 500
	otherTier := p(pledge.StatusActive)
	otherTier.TierID = "tier_2"
	pendingRaised := p(pledge.StatusPending)
	pendingRaised.Amount.Amount = 500
	for _, tc := range []struct {
		name       string
		prev, next pledge.Pledge
		want       []Kind
	}{
		{"confirmed (all or nothing)", p(pledge.StatusPending), p(pledge.StatusActive), []Kind{PledgeConfirmed}},
		{"confirmed (flexible)", p(pledge.StatusPending), p(pledge.StatusCollected), []Kind{PledgeConfirmed}},
		{"hold ran out", p(pledge.StatusPending), p(pledge.StatusExpired), nil},
		{"cancelled", p(pledge.StatusActive), p(pledge.StatusCancelled), []Kind{PledgeCancelled}},
		{"cancelled before it was confirmed", p(pledge.StatusPending), p(pledge.StatusCancelled), nil},
		{"deadline charge starts", p(pledge.StatusActive), p(pledge.StatusCharging), []Kind{CampaignSucceeded}},
		{"a retry starts", p(pledge.StatusPaymentFailed), p(pledge.StatusCharging), nil},
		{"goal missed", p(pledge.StatusActive), p(pledge.StatusVoid), []Kind{CampaignFailed}},
		{"never had a card at the deadline", p(pledge.StatusPending), p(pledge.StatusVoid), nil},
		{"first decline", p(pledge.StatusCharging), p(pledge.StatusPaymentFailed), []Kind{ChargeFailed}},
		{"a retry declined", failedBefore, p(pledge.StatusPaymentFailed), []Kind{ChargeReminder}},
		{"dunning window closed", p(pledge.StatusPaymentFailed), p(pledge.StatusDropped), []Kind{PledgeDropped}},
		{"amount changed", p(pledge.StatusActive), raised, []Kind{PledgeChanged}},
		{"tier changed", p(pledge.StatusActive), otherTier, []Kind{PledgeChanged}},
		{"changed before it was confirmed", p(pledge.StatusPending), pendingRaised, nil},
		{"refund", p(pledge.StatusCollected), refunded, []Kind{RefundIssued}},
		{"nothing new", p(pledge.StatusActive), p(pledge.StatusActive), nil},
	} {
		if got := backerNews(tc.prev, tc.next); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRetryDelayGrowsToACap(t *testing.T) {
	if retryDelay(1) != time.Minute || retryDelay(2) != 2*time.Minute || retryDelay(4) != 8*time.Minute || retryDelay(30) != maxRetryDelay {
		t.Errorf("delays %v %v %v %v", retryDelay(1), retryDelay(2), retryDelay(4), retryDelay(30))
	}
}

// A digest is due from 08:00 local time and covers the 24 local hours before, however long the
// day is: on the night clocks go back in Zurich the window is 25 hours of UTC.
func TestDigestDayFollowsTheCampaignsZone(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := digestDay(time.Date(2026, 10, 25, 6, 59, 0, 0, time.UTC), zurich); ok {
		t.Error("due at 07:59 in Zurich")
	}
	// Clocks went back at 03:00 on 25 October 2026.
	day, from, to, ok := digestDay(time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC), zurich)
	if !ok || day != "2026-10-25" || !to.Equal(time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC)) || to.Sub(from) != 25*time.Hour {
		t.Errorf("the morning after the clocks went back: %s from %s to %s (%v)", day, from, to, ok)
	}
	// Late in the evening it is still that day's digest, not the next one's.
	if day, _, _, _ := digestDay(time.Date(2026, 10, 26, 22, 30, 0, 0, time.UTC), zurich); day != "2026-10-26" {
		t.Errorf("23:30 in Zurich is digest day %s", day)
	}
}
