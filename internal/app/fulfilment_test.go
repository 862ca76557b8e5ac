//go:build !production

package app_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fulfilled is a succeeded campaign with a tote shipped to Switzerland (whose backer's name is a
// spreadsheet formula), one to Portugal, a workshop booked, and a patron without reward.
type fulfilled struct {
	pledgeSetup
	tote, session string
	// small is a second date of the workshop with one place, which nobody booked.
	small      string
	ch, pt, ws map[string]any
	racers     []map[string]any
	patron     map[string]any
}

// succeededWithRewards also books racers more backers on the workshop's first date.
func (s *service) succeededWithRewards(racers int) fulfilled {
	s.t.Helper()
	c := s.pledgeSetup("all_or_nothing", 10)
	money := func(amount int) map[string]any { return map[string]any{"amount": amount, "currency": "CHF"} }
	tote := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/tiers", c.owner, map[string]any{
		"title": "Linen tote", "kind": "physical", "price": money(4000),
		"options":        []map[string]any{{"name": "colour", "values": []string{"natural", "indigo"}}},
		"shipping_rates": []map[string]any{{"zone": "CH", "price": money(700)}, {"zone": "EU", "price": money(1500)}}})["id"].(string)
	session := s.addSession(c, c.workshop, 60*24*time.Hour, 12)
	small := s.addSession(c, c.workshop, 61*24*time.Hour, 1)
	f := fulfilled{pledgeSetup: c, tote: tote, session: session, small: small}
	chBody := totePledge(tote, 4700, "CH")
	chBody["options"] = map[string]string{"colour": "indigo"}
	chBody["backer"] = map[string]any{"email": "formula@example.com", "name": `=HYPERLINK("http://evil.example","x")`}
	f.ch = s.pledge(c.slug, chBody, "ful-ch").JSON(s.t)
	ptBody := totePledge(tote, 5500, "PT")
	ptBody["options"] = map[string]string{"colour": "natural"}
	f.pt = s.pledge(c.slug, ptBody, "ful-pt").JSON(s.t)
	f.ws = s.pledge(c.slug, workshopPledge(c.workshop, session), "ful-ws").JSON(s.t)
	for i := range racers {
		body := workshopPledge(c.workshop, session)
		body["backer"] = map[string]any{"email": fmt.Sprintf("racer%d@example.com", i), "name": "Racer"}
		f.racers = append(f.racers, s.pledge(c.slug, body, fmt.Sprint("ful-racer-", i)).JSON(s.t))
	}
	f.patron = s.pledge(c.slug, map[string]any{"amount": money(1_500_000), "backer": map[string]any{"email": "patron@example.com", "name": "Patron"}}, "ful-patron").JSON(s.t)
	for _, p := range append([]map[string]any{f.ch, f.pt, f.ws, f.patron}, f.racers...) {
		s.must(200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", p["manage_token"].(string))
	}
	s.waitWebhooks()
	// Backers get a week for the survey (two by default).
	if got := s.must(200, "PATCH", "/api/v1/campaigns/"+c.id, c.owner, map[string]any{"survey_days": 7}); got["survey_days"] != float64(7) {
		s.t.Fatalf("survey_days: %v", got)
	}
	s.passDeadline(c.slug)
	if err := s.app.Settler().Settle(context.Background(), c.id); err != nil {
		s.t.Fatal(err)
	}
	s.waitWebhooks()
	return f
}

func (s *service) csvCall(path, token, body string) response {
	s.t.Helper()
	return s.call("POST", path, token, body, "Content-Type", "text/csv")
}

func readCSV(t *testing.T, r response) [][]string {
	t.Helper()
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	// Exports start with a byte order mark (see TestExportsStartWithAByteOrderMark).
	body := strings.TrimPrefix(string(r.Body), "\ufeff")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v: %s", err, r.Body)
	}
	return rows
}

// After success the designer marks each reward: a parcel shipped with its carrier and tracking
// (a link derived for a known carrier), a workshop attended. Only the campaign's designer may; a
// pledge of another campaign is not found through this one; setting the same thing twice changes
// nothing; a status that does not fit the reward is refused.
func TestFulfilmentIsMarkedByTheDesignerOnly(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_SESSION_TTL": "2000h"})
	f := s.succeededWithRewards(0)
	path := func(campaignID, pledgeID string) string {
		return "/api/v1/campaigns/" + campaignID + "/pledges/" + pledgeID + "/fulfilment"
	}
	ship := map[string]any{"status": "shipped", "carrier": "Swiss Post", "tracking_number": "99.00.123456.78901234"}
	chID := f.ch["id"].(string)
	other, _ := s.designer("Other")
	if r := s.call("PATCH", path(f.id, chID), other, ship); r.Status != 403 {
		t.Fatalf("another designer: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", path(f.id, chID), s.admin(), ship); r.Status != 403 {
		t.Fatalf("an admin writing fulfilment: %d %s", r.Status, r.Body)
	}
	if r := s.call("PATCH", path(f.id, chID), "", ship); r.Status != 401 {
		t.Fatalf("nobody signed in: %d %s", r.Status, r.Body)
	}
	// The other designer's own campaign does not reach this one's pledge.
	g := s.pledgeSetup("all_or_nothing", 5)
	if r := s.call("PATCH", path(g.id, chID), g.owner, ship); r.Status != 404 {
		t.Fatalf("a pledge through another campaign: %d %s", r.Status, r.Body)
	}
	for _, bad := range []map[string]any{
		{"status": "shipped", "carrier": "Swiss Post"},                         // no tracking number
		{"status": "attended"},                                                 // not a parcel's status
		{"status": "shipped", "carrier": "DHL", "tracking_number": "1\u202e2"}, // hidden bidi control
		{"status": "shipped", "carrier": "X", "tracking_number": "1", "tracking_url": "javascript:alert(1)"},
	} {
		if r := s.call("PATCH", path(f.id, chID), f.owner, bad); r.Status != 422 {
			t.Fatalf("bad fulfilment %v: %d %s", bad, r.Status, r.Body)
		}
	}
	got := s.must(200, "PATCH", path(f.id, chID), f.owner, ship)
	ful := got["fulfilment"].(map[string]any)
	if got["changed"] != true || ful["status"] != "shipped" || !strings.HasPrefix(ful["tracking_url"].(string), "https://service.post.ch/") {
		t.Fatalf("shipped: %v", got)
	}
	if again := s.must(200, "PATCH", path(f.id, chID), f.owner, ship); again["changed"] != false {
		t.Fatalf("the same change twice: %v", again)
	}
	// Delivered keeps the tracking it shipped with.
	got = s.must(200, "PATCH", path(f.id, chID), f.owner, map[string]any{"status": "delivered"})
	if ful := got["fulfilment"].(map[string]any); ful["status"] != "delivered" || ful["tracking_number"] != ship["tracking_number"] {
		t.Fatalf("delivered: %v", got)
	}
	wsID := f.ws["id"].(string)
	if r := s.call("PATCH", path(f.id, wsID), f.owner, ship); r.Status != 422 {
		t.Fatalf("a workshop shipped: %d %s", r.Status, r.Body)
	}
	if got := s.must(200, "PATCH", path(f.id, wsID), f.owner, map[string]any{"status": "attended"}); got["fulfilment"].(map[string]any)["status"] != "attended" {
		t.Fatalf("attended: %v", got)
	}
	// The pledge's money did not move with its fulfilment.
	stored, err := s.store.FindPledge(context.Background(), chID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != "collected" || stored.Amount.Amount != 4700 || stored.Fulfilment == nil || stored.Fulfilment.Status != "delivered" {
		t.Fatalf("stored pledge: %+v", stored)
	}
}

// A CSV of shipments: a dry run lists every bad row with its line and changes nothing; the real
// run of a file with a bad row changes nothing either; the fixed file applies once, and
// importing it again changes nothing. Hostile files (not UTF-8, unknown columns, broken quoting,
// the wrong media type, another designer) are refused with a clear 4xx.
func TestShipmentsImportFromCSV(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_SESSION_TTL": "2000h"})
	f := s.succeededWithRewards(0)
	url := "/api/v1/campaigns/" + f.id + "/fulfilment.csv"
	chID, ptID := f.ch["id"].(string), f.pt["id"].(string)
	bad := "pledge_id,email,carrier,tracking_number\n" +
		chID + ",,Swiss Post,99.1\n" +
		",backer@example.com,DHL,JD014600006\n" + // this backer has two pledges with rewards: ambiguous
		"plg_nosuchpledge,,DHL,1\n" +
		f.ws["id"].(string) + ",,DHL,2\n"
	r := s.csvCall(url+"?dry_run=true", f.owner, bad)
	if r.Status != 200 {
		t.Fatalf("dry run: %d %s", r.Status, r.Body)
	}
	dry := r.JSON(t)
	errs := dry["errors"].([]any)
	lines := map[float64]string{}
	for _, e := range errs {
		m := e.(map[string]any)
		lines[m["line"].(float64)] = m["reason"].(string)
	}
	if len(errs) != 3 || lines[3] == "" || lines[4] == "" || lines[5] == "" || len(dry["changes"].([]any)) != 1 {
		t.Fatalf("dry run report: %s", r.Body)
	}
	if r := s.csvCall(url, f.owner, bad); r.Status != 422 || r.fieldCode(t, "line 4") != "invalid" {
		t.Fatalf("real run of a bad file: %d %s", r.Status, r.Body)
	}
	if p, _ := s.store.FindPledge(context.Background(), chID); p.Fulfilment != nil {
		t.Fatalf("a refused file changed a pledge: %+v", p.Fulfilment)
	}
	good := "\xef\xbb\xbfpledge_id,carrier,tracking_number,status\r\n" +
		chID + ",Swiss Post,99.1,shipped\r\n" +
		ptID + ",CTT,\"+351 RR123\",shipped\r\n" +
		f.ws["id"].(string) + ",,,no_show\r\n"
	if r := s.csvCall(url+"?dry_run=true", f.owner, good); r.Status != 200 || len(r.JSON(t)["changes"].([]any)) != 3 || r.JSON(t)["applied"] != float64(0) {
		t.Fatalf("dry run of the good file: %d %s", r.Status, r.Body)
	}
	if p, _ := s.store.FindPledge(context.Background(), chID); p.Fulfilment != nil {
		t.Fatalf("a dry run changed a pledge: %+v", p.Fulfilment)
	}
	first := s.csvCall(url, f.owner, good)
	if first.Status != 200 || first.JSON(t)["applied"] != float64(3) {
		t.Fatalf("import: %d %s", first.Status, first.Body)
	}
	replay := s.csvCall(url, f.owner, good)
	if replay.Status != 200 || replay.JSON(t)["applied"] != float64(0) || replay.JSON(t)["unchanged"] != float64(3) {
		t.Fatalf("replayed import: %d %s", replay.Status, replay.Body)
	}
	p, _ := s.store.FindPledge(context.Background(), ptID)
	if p.Fulfilment == nil || p.Fulfilment.Carrier != "CTT" || p.Fulfilment.TrackingNumber != "+351 RR123" {
		t.Fatalf("imported shipment: %+v", p.Fulfilment)
	}
	// Hostile files.
	for name, tc := range map[string]struct {
		body   string
		status int
	}{
		"latin-1":        {"pledge_id,carrier,tracking_number\n" + chID + ",La Poste,\xe9t\xe9\n", 422},
		"unknown column": {"pledge_id,carrier,tracking_number,=cmd()\n", 422},
		"broken quotes":  {"pledge_id,carrier,tracking_number\n" + chID + ",\"Swiss Post,1\n", 422},
		"empty":          {"", 422},
		"no key column":  {"carrier,tracking_number\nDHL,1\n", 422},
		"too many rows":  {"email,carrier,tracking_number\n" + strings.Repeat(",,\n", 20_001), 422},
	} {
		if r := s.csvCall(url, f.owner, tc.body); r.Status != tc.status {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if huge := "email,carrier,tracking_number\n" + strings.Repeat("a@b.example,DHL,1\n", 20_000); !s.refusedTooLarge("POST", url, f.owner, "text/csv", huge) {
		t.Error("a file over the body limit was not refused")
	}
	if r := s.call("POST", url, f.owner, good); r.Status != 415 {
		t.Fatalf("CSV sent as JSON: %d %s", r.Status, r.Body)
	}
	other, _ := s.designer("Other")
	if r := s.csvCall(url, other, good); r.Status != 403 {
		t.Fatalf("another designer's import: %d %s", r.Status, r.Body)
	}
	if r := s.csvCall(url+"?dry_run=yes", f.owner, good); r.Status != 422 {
		t.Fatalf("dry_run=yes: %d %s", r.Status, r.Body)
	}
}

// Exports: the backers CSV with options, session, shipping and fulfilment; a packing list by
// reward and option; an attendance list per session. Cells that a spreadsheet would run as a
// formula are quoted. Only the designer and admins get them.
func TestExportsForFulfilment(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000", "BACKSTITCH_SESSION_TTL": "2000h"})
	f := s.succeededWithRewards(0)
	s.csvCall("/api/v1/campaigns/"+f.id+"/fulfilment.csv", f.owner,
		"pledge_id,carrier,tracking_number\n"+f.pt["id"].(string)+",CTT,+351RR\n")
	base := "/api/v1/campaigns/" + f.id
	rows := readCSV(t, s.call("GET", base+"/exports/backers.csv", f.owner, nil))
	if len(rows) != 4 { // header, three backers with rewards (the patron has none)
		t.Fatalf("backers export has %d rows: %v", len(rows), rows)
	}
	if again := readCSV(t, s.call("GET", base+"/pledges.csv", f.owner, nil)); fmt.Sprint(again) != fmt.Sprint(rows) {
		t.Fatalf("pledges.csv differs from exports/backers.csv:\n%v\n%v", again, rows)
	}
	// Every export starts with a byte order mark, so spreadsheet software reads its accents right.
	for _, p := range []string{"/exports/backers.csv", "/pledges.csv", "/exports/packing.csv", "/tiers/" + f.workshop + "/sessions/" + f.session + "/attendance.csv"} {
		if r := s.call("GET", base+p, f.owner, nil); !strings.HasPrefix(string(r.Body), "\ufeff") {
			t.Errorf("%s without a byte order mark: %.40q", p, r.Body)
		}
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[col["pledge_id"]]] = r
	}
	ch, pt, ws := byID[f.ch["id"].(string)], byID[f.pt["id"].(string)], byID[f.ws["id"].(string)]
	if ch == nil || pt == nil || ws == nil {
		t.Fatalf("backers export: %v", rows)
	}
	if ch[col["name"]] != `'=HYPERLINK("http://evil.example","x")` {
		t.Fatalf("a formula name was exported as %q", ch[col["name"]])
	}
	if pt[col["tracking_number"]] != "'+351RR" || pt[col["fulfilment"]] != "shipped" || pt[col["shipping"]] != "15.00" || pt[col["country"]] != "PT" {
		t.Fatalf("Portuguese row: %v", pt)
	}
	if ch[col["options"]] != "colour=indigo" || ch[col["fulfilment"]] != "to_ship" || ch[col["amount"]] != "47.00" {
		t.Fatalf("Swiss row: %v", ch)
	}
	if !strings.Contains(ws[col["session"]], "Atelier") || ws[col["fulfilment"]] != "booked" {
		t.Fatalf("workshop row: %v", ws)
	}
	packing := readCSV(t, s.call("GET", base+"/exports/packing.csv", s.admin(), nil))
	want := [][]string{{"tier_id", "reward", "options", "quantity", "to_ship"},
		{f.tote, "Linen tote", "colour=indigo", "1", "1"}, {f.tote, "Linen tote", "colour=natural", "1", "0"}}
	if fmt.Sprint(packing) != fmt.Sprint(want) {
		t.Fatalf("packing list:\n%v\nwant\n%v", packing, want)
	}
	att := readCSV(t, s.call("GET", base+"/tiers/"+f.workshop+"/sessions/"+f.session+"/attendance.csv", f.owner, nil))
	if len(att) != 2 || att[1][0] != f.ws["id"].(string) || att[1][len(att[1])-1] != "booked" {
		t.Fatalf("attendance list: %v", att)
	}
	if r := s.call("GET", base+"/tiers/"+f.workshop+"/sessions/ses_nosuchsession/attendance.csv", f.owner, nil); r.Status != 404 {
		t.Fatalf("attendance of an unknown session: %d %s", r.Status, r.Body)
	}
	other, _ := s.designer("Other")
	for _, p := range []string{"/exports/backers.csv", "/exports/packing.csv", "/tiers/" + f.workshop + "/sessions/" + f.session + "/attendance.csv"} {
		if r := s.call("GET", base+p, other, nil); r.Status != 403 {
			t.Fatalf("another designer reads %s: %d %s", p, r.Status, r.Body)
		}
	}
}
