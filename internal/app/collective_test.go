//go:build !production

package app_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/seed"
)

// The seed's scenario end to end: the Geneva collective's campaign with twenty rewards of five
// kinds, made through the API and backed in CHF from Switzerland and abroad, succeeds; the
// settlement report ties out to the cent with shipping in; backers answer the survey; the
// designer marks the fulfilment from a CSV (the dry run is clean, the import applies once), reads
// the exports, a backer is erased after the payout, and reconciliation is clean with every
// pledge's shipping itemised.
func TestGenevaCollectiveScenario(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_SESSION_TTL": "2000h"})
	ctx := context.Background()
	g, err := seed.GenevaCollective(ctx, &seed.Client{Base: s.base, HTTP: s.http}, s.store, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	page := s.must(200, "GET", "/api/v1/campaigns/"+g.Slug, "", nil)
	kinds := map[string]int{}
	for _, tier := range page["tiers"].([]any) {
		tm := tier.(map[string]any)
		kind := tm["kind"].(string)
		if tm["options"] != nil {
			kind += "+sizes"
		}
		if ses, _ := tm["sessions"].([]any); len(ses) > 0 && ses[0].(map[string]any)["online"] == true {
			kind += "+online"
		}
		kinds[kind]++
	}
	if len(page["tiers"].([]any)) != 20 || kinds["physical+sizes"] != 6 || kinds["physical"] != 3 || kinds["experience+online"] != 2 || kinds["experience"] != 9 {
		t.Fatalf("the collective's rewards: %v", kinds)
	}
	var sum, shipping int64
	for _, p := range g.Pledges {
		sum += p.Amount
		shipping += p.Shipping
	}
	s.waitWebhooks()
	s.passDeadline(g.Slug)
	if err := s.app.Settler().Settle(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	s.waitWebhooks()
	report := s.must(200, "GET", "/api/v1/campaigns/"+g.ID+"/settlement", g.Owner, nil)
	if report["collected"].(map[string]any)["amount"] != float64(sum) || report["collected_shipping"].(map[string]any)["amount"] != float64(shipping) {
		t.Fatalf("settlement: collected %v shipping %v, want %d and %d", report["collected"], report["collected_shipping"], sum, shipping)
	}
	// Survey: everyone with a reward that ships or has dates answers; one backer moves to the
	// workshop's second date.
	for _, p := range g.Pledges {
		if p.Tier == "" || (p.Country == "" && len(g.Sessions[p.Tier]) == 0) {
			continue
		}
		var body map[string]any = map[string]any{}
		if p.Tier == "Zero-waste pattern-cutting workshop" && p == g.Pledges[10] {
			body["session_id"] = g.Sessions[p.Tier][1]
		}
		s.must(200, "POST", "/api/v1/pledges/"+p.ID+"/survey", "", body, "X-Manage-Token", p.ManageToken)
	}
	sv := s.must(200, "GET", "/api/v1/campaigns/"+g.ID+"/survey", g.Owner, nil)
	if len(sv["unanswered"].([]any)) != 0 || len(sv["answered"].([]any)) != len(g.Pledges)-1 {
		t.Fatalf("survey report: %v", sv)
	}
	// Fulfilment from a CSV: parcels by email, experiences attended by pledge id.
	var csvBody strings.Builder
	csvBody.WriteString("pledge_id,email,status,carrier,tracking_number\n")
	physical := 0
	for i, p := range g.Pledges {
		switch {
		case p.Country != "":
			physical++
			fmt.Fprintf(&csvBody, ",%s,shipped,Swiss Post,99.00.%06d\n", p.Email, i)
		case p.Tier != "":
			fmt.Fprintf(&csvBody, "%s,,attended,,\n", p.ID)
		}
	}
	url := "/api/v1/campaigns/" + g.ID + "/fulfilment.csv"
	dry := s.csvCall(url+"?dry_run=true", g.Owner, csvBody.String())
	if dry.Status != 200 || len(dry.JSON(t)["errors"].([]any)) != 0 || len(dry.JSON(t)["changes"].([]any)) != len(g.Pledges)-1 {
		t.Fatalf("dry run: %d %s", dry.Status, dry.Body)
	}
	if r := s.csvCall(url, g.Owner, csvBody.String()); r.Status != 200 || r.JSON(t)["applied"] != float64(len(g.Pledges)-1) {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	if r := s.csvCall(url, g.Owner, csvBody.String()); r.Status != 200 || r.JSON(t)["applied"] != float64(0) {
		t.Fatalf("import again: %d %s", r.Status, r.Body)
	}
	// Exports.
	backers := readCSV(t, s.call("GET", "/api/v1/campaigns/"+g.ID+"/exports/backers.csv", g.Owner, nil))
	if len(backers) != len(g.Pledges) { // header + every pledge with a reward (the patron has none)
		t.Fatalf("backers export: %d rows", len(backers))
	}
	packing := readCSV(t, s.call("GET", "/api/v1/campaigns/"+g.ID+"/exports/packing.csv", g.Owner, nil))
	packed := 0
	for _, r := range packing[1:] {
		n, _ := strconv.Atoi(r[3])
		packed += n
		if r[4] != "0" {
			t.Errorf("packing list after shipping everything: %v", r)
		}
	}
	if packed != physical {
		t.Fatalf("packing list counts %d pieces, want %d", packed, physical)
	}
	workshop := g.Tiers["Zero-waste pattern-cutting workshop"]
	for i, want := range []int{1, 1} {
		att := readCSV(t, s.call("GET", "/api/v1/campaigns/"+g.ID+"/tiers/"+workshop+"/sessions/"+g.Sessions["Zero-waste pattern-cutting workshop"][i]+"/attendance.csv", g.Owner, nil))
		if len(att)-1 != want || att[1][len(att[1])-1] != "attended" {
			t.Fatalf("attendance of date %d: %v", i, att)
		}
	}
	// Payout, then an erasure.
	s.must(201, "POST", "/api/v1/designers/me/payouts/onboarding", g.Owner, nil)
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
	erased := g.Pledges[1] // shipped to Portugal
	s.must(200, "POST", "/api/v1/pledges/"+erased.ID+"/erase", "", nil, "X-Manage-Token", erased.ManageToken)
	// Reconciliation: clean, and its pledge rows itemise the shipping collected.
	admin := s.admin()
	run := s.reconcileRun(admin, g.ID)
	if run["open_findings"] != float64(0) {
		t.Fatalf("reconciliation: %v", run["findings"])
	}
	rows := readCSV(t, s.call("GET", "/api/v1/admin/reconciliations/"+run["id"].(string)+"?format=csv", admin, nil))
	var itemised, amounts int64
	for _, r := range rows[1:] {
		if r[2] == "pledge" {
			n, _ := strconv.ParseInt(r[13], 10, 64)
			a, _ := strconv.ParseInt(r[6], 10, 64)
			itemised += n
			amounts += a
		}
	}
	if itemised != shipping || amounts != sum {
		t.Fatalf("reconciliation rows: shipping %d of %d, amounts %d of %d", itemised, shipping, amounts, sum)
	}
}
