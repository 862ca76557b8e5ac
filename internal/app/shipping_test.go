//go:build !production

package app_test

import (
	"context"
	"testing"
)

func addressIn(country string) map[string]any {
	return map[string]any{"name": "Ana Muster", "line1": "Rua Augusta 1", "postal_code": "1100-048", "city": "Lisboa", "country": country}
}

func totePledge(tier string, amount int, country string) map[string]any {
	return map[string]any{"tier_id": tier, "amount": map[string]any{"amount": amount, "currency": "CHF"},
		"backer": map[string]any{"email": "backer@example.com", "name": "Bea Backer"}, "shipping_address": addressIn(country)}
}

// Shipping is priced by destination: a tote ships to Lausanne for less than to Lisbon, and not at
// all to New York. The pledge itemises reward, shipping and extra; moving the address to another
// zone moves the amount; the settlement report and a reconciliation run tie out with shipping in.
func TestShippingIsPricedByDestination(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"})
	c := s.pledgeSetup("all_or_nothing", 10)
	money := func(amount int) map[string]any { return map[string]any{"amount": amount, "currency": "CHF"} }
	tote := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers", c.owner, map[string]any{
		"title": "Linen tote", "kind": "physical", "price": money(4000),
		"shipping_rates": []map[string]any{{"zone": "CH", "price": money(700)}, {"zone": "EU", "price": money(1500)}}})
	toteID := tote["id"].(string)
	for _, bad := range []map[string]any{
		{"title": "Bad", "kind": "physical", "price": money(100), "shipping_rates": []map[string]any{{"zone": "Europe", "price": money(1)}}},
		{"title": "Bad", "kind": "physical", "price": money(100), "shipping_rates": []map[string]any{{"zone": "CH", "price": map[string]any{"amount": 1, "currency": "EUR"}}}},
		{"title": "Bad", "kind": "digital", "price": money(100), "shipping_rates": []map[string]any{{"zone": "CH", "price": money(1)}}},
	} {
		if r := s.call("POST", "/api/v1/campaigns/"+c.id+"/tiers", c.owner, bad); r.Status != 422 {
			t.Fatalf("bad shipping rates %v: %d %s", bad["shipping_rates"], r.Status, r.Body)
		}
	}
	// Switzerland: reward + 7.00 shipping.
	ch := s.pledge(c.slug, totePledge(toteID, 4700, "CH"), "tote-ch").JSON(t)
	if ch["shipping"].(map[string]any)["amount"] != float64(700) || ch["items"].(map[string]any)["extra"].(map[string]any)["amount"] != float64(0) {
		t.Fatalf("Swiss pledge: %v", ch)
	}
	// Portugal is in the EU zone: 4,700 no longer covers it; 5,500 does.
	if r := s.pledge(c.slug, totePledge(toteID, 4700, "PT"), "tote-pt-short"); r.Status != 422 || r.JSON(t)["code"] != "amount_below_tier_price" {
		t.Fatalf("Portuguese pledge short of shipping: %d %s", r.Status, r.Body)
	}
	pt := s.pledge(c.slug, totePledge(toteID, 6000, "PT"), "tote-pt").JSON(t)
	items := pt["items"].(map[string]any)
	if items["price"].(map[string]any)["amount"] != float64(4000) || items["shipping"].(map[string]any)["amount"] != float64(1500) || items["extra"].(map[string]any)["amount"] != float64(500) {
		t.Fatalf("Portuguese pledge items: %v", items)
	}
	// No rate for the United States: refused, saying so.
	if r := s.pledge(c.slug, totePledge(toteID, 9000, "US"), "tote-us"); r.Status != 422 || r.fieldCode(t, "shipping_address.country") != "not_shipped_there" {
		t.Fatalf("pledge to a country without a rate: %d %s", r.Status, r.Body)
	}
	for _, p := range []map[string]any{ch, pt} {
		s.must(200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", p["manage_token"].(string))
	}
	s.waitWebhooks()
	// The Swiss backer moves to Lisbon before the deadline: shipping and amount follow, and the
	// campaign's total with them.
	moved := s.manage("PATCH", ch["id"].(string), ch["manage_token"].(string), map[string]any{"shipping_address": addressIn("PT")}).JSON(t)
	if moved["amount"].(map[string]any)["amount"] != float64(5500) || moved["shipping"].(map[string]any)["amount"] != float64(1500) {
		t.Fatalf("after moving to Portugal: %v", moved)
	}
	if r := s.manage("PATCH", ch["id"].(string), ch["manage_token"].(string), map[string]any{"shipping_address": addressIn("US")}); r.Status != 422 {
		t.Fatalf("moving to a country without a rate: %d %s", r.Status, r.Body)
	}
	if pledged, _ := s.campaignTotals(c.slug); pledged != 11500 {
		t.Fatalf("campaign total after the move: %v, want 11500", pledged)
	}
	// A big pledge without reward meets the goal; at the deadline the saved cards are charged the
	// amounts as they stand now.
	big := s.pledge(c.slug, map[string]any{"amount": money(1_500_000), "backer": map[string]any{"email": "backer@example.com", "name": "Patron"}}, "tote-patron").JSON(t)
	s.must(200, "POST", "/api/v1/pledges/"+big["id"].(string)+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", big["manage_token"].(string))
	s.waitWebhooks()
	s.passDeadline(c.slug)
	if err := s.app.Settler().Settle(context.Background(), c.id); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	var charged int64
	for _, pi := range s.double().PaymentIntents() {
		if pi.Metadata["pledge_id"] == ch["id"] {
			charged = pi.Amount
		}
	}
	if charged != 5500 {
		t.Fatalf("the moved pledge was charged %d, want 5500", charged)
	}
	admin := s.admin()
	report := s.must(200, "GET", "/api/v1/campaigns/"+c.id+"/settlement", admin, nil)
	if report["collected"].(map[string]any)["amount"] != float64(1_511_500) || report["collected_shipping"].(map[string]any)["amount"] != float64(3000) {
		t.Fatalf("settlement report: collected %v, shipping %v", report["collected"], report["collected_shipping"])
	}
	if run := s.reconcileRun(admin, c.id); run["open_findings"] != float64(0) {
		t.Fatalf("reconciliation with shipping: %v", run["findings"])
	}
}
