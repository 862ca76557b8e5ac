//go:build !production

package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"

	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
)

// awaitRun reloads a run's page (as its refresh does) until the run has completed.
func awaitRun(t *testing.T, p *rod.Page) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if st := textOf(t, p, ".run-status"); st == "Completed" || st == "Terminé" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not complete")
		}
		navigate(t, p, p.MustInfo().URL)
	}
}

// An admin logs in, approves a campaign waiting for review, finds a pledge by the backer's email
// and refunds part of it after seeing what the backer gets back, then reconciles the campaign
// and resolves the refund Stripe made that Backstitch never heard of.
func TestBrowserAdminReviewsRefundsAndReconciles(t *testing.T) {
	browser.ForTest(t)
	s := startSite(t, nil)
	ctx := context.Background()
	designer, editor := s.inReview("Lake Léman linen")
	m := s.mismatch("Carouge scarves")
	refunded := s.collected(m.campaign, "Cy Backer")
	email := s.newAdmin("Rita Reviewer")

	p := tab(t, "en-GB,en")
	navigate(t, p, s.base+"/admin")
	if !strings.HasSuffix(p.MustInfo().URL, "/designer/login?next=%2Fadmin") {
		t.Fatalf("anonymous landed on %s", p.MustInfo().URL)
	}
	fill(t, p, map[string]string{"#email": email, "#password": adminPassword})
	submit(t, p, "form.stack button[type=submit]")
	if h := textOf(t, p, "h1"); h != "Review queue" {
		t.Fatalf("after log-in: %q", h)
	}
	submit(t, p, ".review-row a")
	if h := textOf(t, p, "article.campaign h1"); h != "Lake Léman linen" {
		t.Fatalf("review page: %q", h)
	}
	submit(t, p, "form[action$='/approve'] button")
	if n := textOf(t, p, ".notice-ok"); !strings.Contains(n, "Campaign approved") {
		t.Fatalf("after approving: %q", n)
	}

	submit(t, p, ".console-bar a[href='/admin/pledges']")
	fill(t, p, map[string]string{"#q": refunded.Backer.Email})
	submit(t, p, "form.search button")
	submit(t, p, ".pledge-result a")
	submit(t, p, "a.button[href$='/refund']")
	fill(t, p, map[string]string{"#amount": "30", "#reason": "The scarf arrived torn."})
	submit(t, p, ".refund-form button")
	if gets := textOf(t, p, ".gets"); gets != "CHF\u00a030.00" {
		t.Fatalf("the backer gets back %q", gets)
	}
	if left := textOf(t, p, ".left-after"); left != "CHF\u00a070.00" {
		t.Errorf("left after: %q", left)
	}
	submit(t, p, "form[action$='/refund/confirm'] button")
	if n := textOf(t, p, ".notice-ok"); !strings.Contains(n, "Refund made") {
		t.Fatalf("after refunding: %q", n)
	}
	if r := textOf(t, p, ".refunded"); r != "CHF\u00a030.00" {
		t.Errorf("refunded: %q", r)
	}
	if got := s.pledge(refunded.ID); got.AmountRefunded != 3000 || got.Status != pledge.StatusPartiallyRefunded {
		t.Errorf("the pledge after the refund: %s %d", got.Status, got.AmountRefunded)
	}

	submit(t, p, ".console-bar a[href='/admin/reconciliations']")
	fill(t, p, map[string]string{"#campaign": m.campaign.ID})
	submit(t, p, ".start-run button")
	awaitRun(t, p)
	if open := textOf(t, p, ".open-findings"); !strings.Contains(open, "1 open finding") {
		t.Fatalf("run: %q", open)
	}
	if kind := textOf(t, p, "#kind-refund_mismatch"); !strings.Contains(kind, "Refunds differ") {
		t.Errorf("finding's kind: %q", kind)
	}
	submit(t, p, "a.resolve")
	if checked := p.MustElement("#action-resync").MustProperty("checked").Bool(); !checked {
		t.Error("resync is not offered first for a refund mismatch")
	}
	fill(t, p, map[string]string{"#note": "Refunded from Stripe's dashboard while the webhook was down."})
	submit(t, p, ".resolve-form button")
	if chosen := textOf(t, p, ".chosen"); chosen != "Resync from Stripe" {
		t.Fatalf("confirmation: %q", chosen)
	}
	submit(t, p, "form[action$='/resolve/confirm'] button")
	if n := textOf(t, p, ".notice-ok"); !strings.Contains(n, "Finding resolved") {
		t.Fatalf("after resolving: %q", n)
	}
	if open := textOf(t, p, ".open-findings"); !strings.Contains(open, "0 open findings") {
		t.Errorf("after resolving: %q", open)
	}
	if got := s.pledge(m.pledge.ID); got.AmountRefunded != 2500 {
		t.Errorf("the resynced pledge: %d refunded", got.AmountRefunded)
	}
	c, err := s.api.Call(ctx, 200, "GET", "/api/v1/campaigns/"+campaignID(editor), designer.cookie("session").Value, nil)
	if err != nil || c["status"] != "approved" {
		t.Errorf("the reviewed campaign: %v %v", c["status"], err)
	}
}

// No admin page has a serious or critical accessibility violation, in either language, with
// and without errors on its forms and on their confirmation steps.
func TestBrowserAdminAccessibilityWithAxe(t *testing.T) {
	browser.ForTest(t)
	axe := browser.AxeScript(t)
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h"})
	m := s.mismatch("Scarves")
	runID, findingID := s.runThroughAPI(m.campaign.ID)
	designer, editor := s.inReview("Linen coat")
	adm, admUser := s.signedInAdmin("en")
	session := adm.cookie("session")
	paths := adminPaths(campaignID(editor), m.pledge.ID, runID, findingID, admUser.ID)
	// A campaign back in review with changes, and one past its deadline, due to settle.
	changed := designer.createDraft("Wool coat")
	designer.addTier(changed, "Coat", "physical", "320")
	designer.post(changed, changed+"/submit", nil)
	review := "/admin/campaigns/" + campaignID(changed)
	adm.post(review, review+"/reject", url.Values{"reason": {"More photos."}})
	designer.addTier(changed, "Scarf", "physical", "80")
	designer.post(changed, changed+"/submit", nil)
	due := s.dueCampaign(designer.cookie("session").Value, 2)
	s.clock.Advance(21 * 24 * time.Hour)
	for _, lang := range locale.Languages {
		p := tab(t, lang+"-CH,"+lang)
		p.MustSetCookies(&proto.NetworkCookieParam{Name: "session", Value: session.Value, URL: s.base})
		for _, path := range []string{"/admin", paths["GET /admin/campaigns/:id"], "/admin/pledges", "/admin/pledges?q=" + url.QueryEscape(m.pledge.Backer.Email),
			paths["GET /admin/pledges/:id"], paths["GET /admin/reconciliations"], paths["GET /admin/reconciliations/:id"],
			paths["GET /admin/reconciliations/:id/findings/:finding_id"], "/admin/audit", "/admin/users",
			s.invite(adm, "invitee."+lang+"@backstitch.example", lang), review, "/admin/campaigns",
			"/admin/campaigns?status=succeeded", "/admin/campaigns/" + due.ID + "/settle", paths["GET /admin/users/:id/disable"]} {
			check(t, p, axe, s.base+path, lang)
		}
		navigate(t, p, s.base+"/admin/users")
		submit(t, p, "form[action='/admin/users/invite'] button")
		checkLoaded(t, p, axe, "invite errors", lang)
		navigate(t, p, s.base+paths["GET /admin/campaigns/:id"])
		submit(t, p, "form[action$='/reject'] button")
		checkLoaded(t, p, axe, "reject errors", lang)
		navigate(t, p, s.base+paths["GET /admin/pledges/:id/refund"])
		checkLoaded(t, p, axe, "refund form", lang)
		fill(t, p, map[string]string{"#amount": "500"})
		submit(t, p, ".refund-form button")
		checkLoaded(t, p, axe, "refund errors", lang)
		fill(t, p, map[string]string{"#amount": "5", "#reason": "Goodwill"})
		submit(t, p, ".refund-form button")
		checkLoaded(t, p, axe, "refund confirmation", lang)
		navigate(t, p, s.base+paths["GET /admin/reconciliations"])
		submit(t, p, ".start-run button")
		checkLoaded(t, p, axe, "run errors", lang)
		navigate(t, p, s.base+paths["GET /admin/reconciliations/:id/findings/:finding_id"])
		submit(t, p, ".resolve-form button")
		checkLoaded(t, p, axe, "resolve confirmation", lang)
	}
}
