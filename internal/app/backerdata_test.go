//go:build !production

package app_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A backer downloads everything stored about her pledge, and has it erased once the money is
// settled: refused with the reason while a card is saved or the designer unpaid; afterwards her
// name, email, address and parcel tracking are pseudonymised on the pledge and on her Stripe
// customer, the amounts and ids stay, the erasure is in the audit log, and reconciliation is clean.
func TestBackerDataExportAndErasure(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_SESSION_TTL": "2000h"})
	f := s.succeededWithRewards(0)
	chID, chTok := f.ch["id"].(string), f.ch["manage_token"].(string)
	ctx := context.Background()
	s.must(200, "PATCH", "/api/v1/campaigns/"+f.id+"/pledges/"+chID+"/fulfilment", f.owner,
		map[string]any{"status": "shipped", "carrier": "Swiss Post", "tracking_number": "99.00.1"})
	exp := s.must(200, "GET", "/api/v1/pledges/"+chID+"/export", "", nil, "X-Manage-Token", chTok)
	if exp["backer"].(map[string]any)["email"] != "formula@example.com" || exp["shipping_address"].(map[string]any)["line1"] == nil ||
		exp["stripe"].(map[string]any)["customer"] == nil || exp["fulfilment"].(map[string]any)["tracking_number"] != "99.00.1" {
		t.Fatalf("export: %v", exp)
	}
	if _, leaked := exp["manage_token_hash"]; leaked {
		t.Fatalf("the export shows the manage token's hash: %v", exp)
	}
	if r := s.call("GET", "/api/v1/pledges/"+chID+"/export", "", nil, "X-Manage-Token", f.pt["manage_token"].(string)); r.Status != 404 {
		t.Fatalf("export with another pledge's token: %d %s", r.Status, r.Body)
	}
	if r := s.call("POST", "/api/v1/pledges/"+chID+"/erase", "", nil, "X-Manage-Token", "wrong"); r.Status != 404 {
		t.Fatalf("erase with a wrong token: %d %s", r.Status, r.Body)
	}
	// Collected, but the designer is not paid yet: refused, saying why.
	if r := s.call("POST", "/api/v1/pledges/"+chID+"/erase", "", nil, "X-Manage-Token", chTok); r.Status != 409 || !strings.Contains(string(r.Body), "not been paid") {
		t.Fatalf("erase before payout: %d %s", r.Status, r.Body)
	}
	// The designer onboards; after the dunning window the settler pays out.
	s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", f.owner, nil)
	if err := s.double().CompleteOnboarding(s.double().Accounts()[0].ID); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	s.clock.Advance(168*time.Hour + time.Minute)
	for range 2 {
		if err := s.app.Settler().Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Paid out, but another backer's parcel has not shipped: her name and address stay until it has.
	ptID, ptTok := f.pt["id"].(string), f.pt["manage_token"].(string)
	if r := s.call("POST", "/api/v1/pledges/"+ptID+"/erase", "", nil, "X-Manage-Token", ptTok); r.Status != 409 || !strings.Contains(string(r.Body), "not shipped yet") {
		t.Fatalf("erase before shipping: %d %s", r.Status, r.Body)
	}
	s.must(200, "PATCH", "/api/v1/campaigns/"+f.id+"/pledges/"+ptID+"/fulfilment", f.owner, map[string]any{"status": "shipped", "carrier": "CTT", "tracking_number": "RR1PT"})
	s.must(200, "POST", "/api/v1/pledges/"+ptID+"/erase", "", nil, "X-Manage-Token", ptTok)
	erased := s.must(200, "POST", "/api/v1/pledges/"+chID+"/erase", "", nil, "X-Manage-Token", chTok)
	if b := erased["backer"].(map[string]any); b["name"] != "Erased backer" || strings.Contains(b["email"].(string), "formula") {
		t.Fatalf("erased pledge: %v", erased)
	}
	if again := s.call("POST", "/api/v1/pledges/"+chID+"/erase", "", nil, "X-Manage-Token", chTok); again.Status != 200 {
		t.Fatalf("erasing twice: %d %s", again.Status, again.Body)
	}
	stored, _ := s.store.FindPledge(ctx, chID)
	if stored.ShippingAddress == nil || stored.ShippingAddress.Line1 != "" || stored.ShippingAddress.Country != "CH" || stored.Fulfilment.TrackingNumber != "" ||
		stored.Amount.Amount != 4700 || stored.Shipping != 700 || stored.PaymentIntentID == "" || stored.TransferID == "" {
		t.Fatalf("stored after erasure: %+v", stored)
	}
	cus, err := s.browserStripe().Customers.Get(stored.CustomerID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cus.Name != "Erased backer" || strings.Contains(cus.Email, "formula") {
		t.Fatalf("Stripe customer after erasure: %q %q", cus.Name, cus.Email)
	}
	admin := s.admin()
	log := s.must(200, "GET", "/api/v1/admin/audit-log?action=pledge.erase", admin, nil)
	// Both erasures are there (made at the same instant, so in either order).
	targets := map[any]bool{}
	for _, e := range log["entries"].([]any) {
		targets[e.(map[string]any)["target"]] = true
	}
	if !targets[chID] || !targets[ptID] {
		t.Fatalf("audit log: %v", log)
	}
	rows := readCSV(t, s.call("GET", "/api/v1/campaigns/"+f.id+"/exports/backers.csv", f.owner, nil))
	for _, r := range rows {
		if strings.Contains(strings.Join(r, ","), "formula@example.com") || strings.Contains(strings.Join(r, ","), "HYPERLINK") {
			t.Fatalf("the backers export still names the erased backer: %v", r)
		}
	}
	if run := s.reconcileRun(admin, f.id); run["open_findings"] != float64(0) {
		t.Fatalf("reconciliation after erasure: %v", run["findings"])
	}
	// A pledge still open: cancel it first.
	g := s.pledgeSetup("all_or_nothing", 5)
	p := s.pledge(g.slug, coatPledge(g.coatTier, 32000), "erase-open").JSON(t)
	if r := s.call("POST", "/api/v1/pledges/"+p["id"].(string)+"/erase", "", nil, "X-Manage-Token", p["manage_token"].(string)); r.Status != 409 || !strings.Contains(string(r.Body), "cancel it first") {
		t.Fatalf("erasing an open pledge: %d %s", r.Status, r.Body)
	}
	s.manage("POST", p["id"].(string), p["manage_token"].(string), nil)
	s.must(200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/erase", "", nil, "X-Manage-Token", p["manage_token"].(string))
}
