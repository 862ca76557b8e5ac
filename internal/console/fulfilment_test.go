package console_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/testenv"
)

// shipments posts a shipments file from the fulfilment page's form, as a browser does
// (multipart, with the page's CSRF token), with the button action ("check" or "apply").
func (v *visitor) shipments(from, path, action, file string) page {
	v.s.t.Helper()
	m := tokenField.FindStringSubmatch(v.get(from).body)
	if m == nil {
		v.s.t.Fatalf("no CSRF token on %s", from)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf_token", html.UnescapeString(m[1]))
	_ = mw.WriteField("action", action)
	fw, _ := mw.CreateFormFile("file", "shipments.csv")
	_, _ = io.WriteString(fw, file)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", v.s.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept-Language", v.lang)
	res, err := v.http.Do(req)
	if err != nil {
		v.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

// fulfilmentOf is a pledge's fulfilment as the API tells its designer (the backers' CSV).
func fulfilmentOf(t *testing.T, v *visitor, campaignID, pledgeID string) string {
	t.Helper()
	p := v.get("/designer/campaigns/" + campaignID + "/backers.csv")
	for _, l := range strings.Split(p.body, "\n") {
		if strings.HasPrefix(l, pledgeID+",") {
			f := strings.Split(l, ",")
			return f[len(f)-4] + " " + f[len(f)-3] + " " + f[len(f)-2]
		}
	}
	t.Fatalf("pledge %s not in the backers' CSV:\n%s", pledgeID, p.body)
	return ""
}

// The designer marks a parcel shipped in the console, with the API's rules and messages (in
// her language) beside the fields; the backer sees it on the manage page; hostile text is inert.
func TestFulfilmentFormMarksAParcelShipped(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h"})
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	c := liveWithShipping(t, s, v.cookie("session").Value)
	eve, eveToken := back(t, s, c, "Coat", "Eve", "", "", 100000) // the goal, alone
	back(t, s, c, "Workshop", "Marc", "", "", 9000)
	starts := s.clock.Now().AddDate(0, 1, 0).Truncate(time.Hour)
	session, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+c.ID+"/tiers/"+c.Tiers["Workshop"]+"/sessions", v.cookie("session").Value,
		map[string]any{"starts_at": starts, "ends_at": starts.Add(3 * time.Hour), "timezone": "Europe/Zurich", "place": "Atelier, Genève", "capacity": 8},
		"Idempotency-Key", "workshop-date")
	if err != nil {
		t.Fatal(err)
	}
	path := "/designer/campaigns/" + c.ID + "/fulfilment"

	// Before the cards are charged there is nothing to fulfil.
	if p := v.get(path); p.status != 200 || !strings.Contains(p.body, "No paid pledge with a reward yet") {
		t.Fatalf("before the deadline: %d\n%s", p.status, p.body)
	}
	s.clock.Advance(21 * 24 * time.Hour)
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+c.ID+"/settle", s.admin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/pledges/"+eve+"/survey", "", map[string]any{"shipping_address": map[string]any{
		"name": "Eve", "line1": "Rue des Bains 12", "postal_code": "1205", "city": "Genève", "country": "CH"}}, "X-Manage-Token", eveToken); err != nil {
		t.Fatal(err)
	}
	p := v.get(path)
	if p.status != 200 {
		t.Fatalf("fulfilment page: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "fulfilment", p.body, "en")
	row := rowOf(t, p.body, eve)
	if !strings.Contains(row, "To ship") || !strings.Contains(row, "Answered") {
		t.Errorf("Eve's row before shipping: %s", row)
	}
	if !strings.Contains(p.body, "Marc") || strings.Count(p.body, "Not yet") != 1 {
		t.Error("Marc, who has no survey answered, is not listed as such")
	}
	// The settlement page of the succeeded campaign and the backers page lead here.
	for _, from := range []string{"/settlement", "/backers"} {
		if b := v.get("/designer/campaigns/" + c.ID + from).body; !strings.Contains(b, `href="`+path+`"`) {
			t.Errorf("%s has no link to the fulfilment page", from)
		}
	}

	// Shipped without tracking: refused with the API's rule, beside the field, in each language.
	for lang, want := range map[string]string{"en": "A shipped parcel needs its carrier and tracking number.",
		"fr": "Un colis expédié a besoin de son transporteur et de son numéro de suivi."} {
		v.lang = lang
		bad := v.post(path, path, url.Values{"pledge_id": {eve}, "status": {"shipped"}, "carrier": {"La Poste"}})
		if bad.status != 422 || !strings.Contains(bad.body, `id="f-`+eve+`-tracking-error">`+want+`</p>`) {
			t.Errorf("%s: shipped without tracking: %d\n%s", lang, bad.status, bad.body)
		}
		testenv.CheckHTML(t, "fulfilment refused", bad.body, lang)
	}
	v.lang = "en"
	if got := fulfilmentOf(t, v, c.ID, eve); got != "to_ship  " {
		t.Errorf("a refused form changed the pledge: %q", got)
	}

	hostile := `<script>alert(1)</script>"x`
	ok := v.post(path, path, url.Values{"pledge_id": {eve}, "status": {"shipped"}, "carrier": {"La Poste"}, "tracking_number": {hostile}})
	if ok.status != 303 || !strings.HasPrefix(ok.location(), path+"?notice=fulfilment_saved") {
		t.Fatalf("shipping: %d %s\n%s", ok.status, ok.location(), ok.body)
	}
	p = v.get(ok.location())
	if !strings.Contains(p.body, "Fulfilment saved.") || !strings.Contains(rowOf(t, p.body, eve), "Shipped") ||
		!strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(p.body, "<script>alert") {
		t.Errorf("after shipping:\n%s", p.body)
	}
	testenv.CheckHTML(t, "fulfilment shipped", p.body, "en")

	// The backer sees it on the manage page, hostile text inert.
	backer := s.visitor("fr")
	m := backer.get("/pledges/" + eve + "/manage?token=" + url.QueryEscape(eveToken))
	if m.status == 303 {
		m = backer.get(m.location())
	}
	if m.status != 200 || !strings.Contains(m.body, "Expédié") || !strings.Contains(m.body, "La Poste &lt;script&gt;alert(1)&lt;/script&gt;") ||
		strings.Contains(m.body, "<script>alert") {
		t.Errorf("the backer's manage page: %d\n%s", m.status, m.body)
	}

	// The packing list downloads with the console's cookie.
	if csv := v.get("/designer/campaigns/" + c.ID + "/packing.csv"); csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") || !strings.Contains(csv.body, "Coat") {
		t.Errorf("packing list: %d %v\n%s", csv.status, csv.header, csv.body)
	}
	// So does each session's attendance list, linked from the page.
	attendance := "/designer/campaigns/" + c.ID + "/tiers/" + c.Tiers["Workshop"] + "/sessions/" + session["id"].(string) + "/attendance.csv"
	if !strings.Contains(p.body, `href="`+attendance+`"`) {
		t.Errorf("no link to the attendance list %s", attendance)
	}
	if csv := v.get(attendance); csv.status != 200 || !strings.Contains(csv.body, "pledge_id,name,email,options,session,status,attendance") {
		t.Errorf("attendance list: %d %v\n%s", csv.status, csv.header, csv.body)
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		both.Check("fulfilment", v.get(path).body, lang)
	}
}

// rowOf is a pledge's row of the fulfilment table.
func rowOf(t *testing.T, body, pledgeID string) string {
	t.Helper()
	_, row, ok := strings.Cut(body, `<tr id="pledge-`+pledgeID+`">`)
	if !ok {
		t.Fatalf("no row for %s:\n%s", pledgeID, body)
	}
	row, _, _ = strings.Cut(row, "</tr>")
	return row
}

// A shipments file with a bad row changes nothing and names the row, checked or applied; the
// fixed file checks clean, applies, and applying it again changes nothing more.
func TestFulfilmentShipmentsFile(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "2000h"})
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	c := liveWithShipping(t, s, v.cookie("session").Value)
	eve, _ := back(t, s, c, "Coat", "Eve", "", "", 100000) // the goal, alone
	marc, _ := back(t, s, c, "Workshop", "Marc", "", "", 9000)
	s.clock.Advance(21 * 24 * time.Hour)
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+c.ID+"/settle", s.admin, nil); err != nil {
		t.Fatal(err)
	}
	path := "/designer/campaigns/" + c.ID + "/fulfilment"
	bad := "pledge_id,status,carrier,tracking_number\n" + eve + ",shipped,Swiss Post,99.00.123456.78901234\n" + marc + ",shipped,,\n"
	for lang, action := range map[string]string{"en": "check", "fr": "apply"} {
		v.lang = lang
		p := v.shipments(path, path+"/import", action, bad)
		line := map[string]string{"en": "Line 3:", "fr": "Ligne 3\u202f:"}[lang]
		if p.status != 422 || !strings.Contains(p.body, "<th scope=\"row\">"+line+"</th><td>") || strings.Contains(p.body, "Line 2") || strings.Contains(p.body, "Ligne 2") {
			t.Errorf("%s %s, a bad row: %d\n%s", lang, action, p.status, p.body)
		}
		testenv.CheckHTML(t, "shipments refused", p.body, lang)
		if got := fulfilmentOf(t, v, c.ID, eve); got != "to_ship  " {
			t.Errorf("%s: a file with a bad row changed Eve's pledge: %q", action, got)
		}
	}
	v.lang = "en"
	good := strings.Replace(bad, marc+",shipped,,", marc+",attended,,", 1)
	p := v.shipments(path, path+"/import", "check", good)
	if p.status != 200 || !strings.Contains(p.body, `<dd id="import-changes">2</dd>`) {
		t.Errorf("checking the fixed file: %d\n%s", p.status, p.body)
	}
	if got := fulfilmentOf(t, v, c.ID, eve); got != "to_ship  " {
		t.Errorf("a check changed Eve's pledge: %q", got)
	}
	if p := v.shipments(path, path+"/import", "apply", good); p.status != 303 || p.location() != path+"?notice=shipments_applied" {
		t.Fatalf("applying the fixed file: %d %s\n%s", p.status, p.location(), p.body)
	}
	if got := fulfilmentOf(t, v, c.ID, eve); got != "shipped Swiss Post 99.00.123456.78901234" {
		t.Errorf("Eve after the file: %q", got)
	}
	if got := fulfilmentOf(t, v, c.ID, marc); !strings.HasPrefix(got, "attended") {
		t.Errorf("Marc after the file: %q", got)
	}
	// The same file again: nothing left to change.
	if p := v.shipments(path, path+"/import", "check", good); p.status != 200 || !strings.Contains(p.body, `<dd id="import-changes">0</dd>`) {
		t.Errorf("checking the applied file again: %d\n%s", p.status, p.body)
	}
	if p := v.shipments(path, path+"/import", "check", ""); p.status != 422 || !strings.Contains(p.body, "Choose a CSV file.") {
		t.Errorf("no file: %d", p.status)
	}
}
