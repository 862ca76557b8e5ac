package console_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/seed"
	"github.com/backstitch/backstitch/internal/testenv"
)

// liveWithShipping launches a campaign of the owner's with a coat that ships and a workshop.
func liveWithShipping(t *testing.T, s *site, owner string) seed.Campaign {
	t.Helper()
	c, err := s.api.Launch(context.Background(), owner, s.admin, map[string]any{
		"title": "Live coat", "story": "Coats.", "goal": map[string]any{"amount": 100000, "currency": "CHF"},
		"timezone": "Europe/Zurich", "deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{
		{"title": "Coat", "kind": "physical", "ships": true, "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 100},
		{"title": "Workshop", "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}, "limit": 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// back makes a confirmed pledge through the API, with a note and where the backer came from,
// and returns its id and manage token.
func back(t *testing.T, s *site, c seed.Campaign, tier, name, note, ref string, amount int64) (id, manageToken string) {
	t.Helper()
	ctx := context.Background()
	body := map[string]any{"amount": map[string]any{"amount": amount, "currency": "CHF"}, "note": note,
		"backer": map[string]any{"email": "b." + backstitch.NewID("t") + "@example.com", "name": name}}
	if tier != "" {
		body["tier_id"] = c.Tiers[tier]
	}
	if ref != "" {
		body["source"] = map[string]any{"ref": ref}
	}
	if tier == "Coat" {
		body["shipping_address"] = map[string]any{"name": name, "line1": "Rue des Bains 12", "postal_code": "1205", "city": "Genève", "country": "CH"}
	}
	p, err := s.api.Call(ctx, 201, "POST", "/api/v1/campaigns/"+c.Slug+"/pledges", "", body, "Idempotency-Key", backstitch.NewID("t"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.api.Call(ctx, 200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/confirm", "",
		map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", p["manage_token"].(string)); err != nil {
		t.Fatal(err)
	}
	return p["id"].(string), p["manage_token"].(string)
}

var backerRows = regexp.MustCompile(`(?s)<tbody>(.*)</tbody>`)

// The designer sees her backers: who, what, how much, where it ships, where they came from and
// what they wrote, hostile text inert; the CSV link downloads the API's export with her cookie.
func TestBackersTable(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	c := liveWithShipping(t, s, v.cookie("session").Value)
	back(t, s, c, "Coat", `Eve <script>alert(1)</script>`, `<img src=x onerror=alert(1)> size M please`, "insta-post-3", 32000)
	back(t, s, c, "Workshop", "Marc Dupont", "", "", 9000)
	back(t, s, c, "", "Zoé Favre", "Go Ana!", "newsletter", 2500)

	path := "/designer/campaigns/" + c.ID + "/backers"
	p := v.get(path)
	if p.status != 200 {
		t.Fatalf("backers: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "backers", p.body, "en")
	m := backerRows.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no table:\n%s", p.body)
	}
	rows := strings.Split(m[1], "<tr>")[1:]
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	table := m[1]
	for _, want := range []string{"Eve &lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt; size M please",
		"insta-post-3", "Rue des Bains 12", "1205 Genève", "CHF\u00a0320.00", "Coat", "Workshop", "Marc Dupont",
		"No reward, just support", "newsletter", "Go Ana!", "Active"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
		t.Error("hostile text rendered as markup")
	}
	// Only the coat ships: nobody else has an address.
	for _, r := range rows {
		if strings.Contains(r, "Rue des Bains") != strings.Contains(r, "Eve") {
			t.Errorf("address on the wrong row: %s", r)
		}
	}
	if !strings.Contains(p.body, `href="`+path+`.csv"`) {
		t.Fatal("no link to the CSV")
	}
	csv := v.get(path + ".csv")
	if csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") || !strings.Contains(csv.body, "Eve <script>") || !strings.Contains(csv.body, "Genève") {
		t.Errorf("CSV through the console: %d %v\n%s", csv.status, csv.header, csv.body)
	}
	// The editor of a live campaign leads here.
	if e := v.get("/designer/campaigns/" + c.ID); !strings.Contains(e.body, `href="`+path+`"`) {
		t.Error("the editor has no link to the backers")
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		both.Check("backers", v.get(path).body, lang)
	}
}

// The table shows 50 backers a page, in a stable order, with a link to the next ones; every
// backer is on exactly one page.
func TestBackersTablePages(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"})
	v := s.visitor("en")
	v.signUp("Ana")
	c := liveWithShipping(t, s, v.cookie("session").Value)
	const n = 53
	for i := range n {
		back(t, s, c, "", fmt.Sprintf("Backer %02d", i), "", "", 1000)
	}
	seen := map[string]int{}
	next := "/designer/campaigns/" + c.ID + "/backers"
	pages := 0
	names := regexp.MustCompile(`<td>(Backer \d\d)</td>`)
	link := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	for next != "" {
		pages++
		p := v.get(next)
		if p.status != 200 || pages > 3 {
			t.Fatalf("page %d: %d", pages, p.status)
		}
		found := names.FindAllStringSubmatch(p.body, -1)
		if pages == 1 && len(found) != 50 {
			t.Errorf("first page shows %d backers, want 50", len(found))
		}
		for _, f := range found {
			seen[f[1]]++
		}
		next = ""
		if m := link.FindStringSubmatch(p.body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if pages != 2 || len(seen) != n {
		t.Errorf("%d pages, %d backers seen, want 2 and %d", pages, len(seen), n)
	}
	for name, k := range seen {
		if k != 1 {
			t.Errorf("%s shown %d times", name, k)
		}
	}
	// A made-up position only moves within her own campaign.
	if p := v.get("/designer/campaigns/" + c.ID + "/backers?" + url.Values{"after": {"zzzz"}}.Encode()); p.status != 200 || names.MatchString(p.body) {
		t.Errorf("after a position past the end: %d", p.status)
	}
}

// API clients page through the same backers with a signed cursor; nobody else reads them.
func TestBackersOverTheAPI(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	owner := v.cookie("session").Value
	c := liveWithShipping(t, s, owner)
	back(t, s, c, "Coat", "Eve", "Size M", "insta-post-3", 32000)
	back(t, s, c, "Workshop", "Marc", "", "", 9000)
	back(t, s, c, "", "Zoé", "", "newsletter", 2500)
	path := "/api/v1/campaigns/" + c.ID + "/pledges"
	seen := map[string]bool{}
	next := path + "?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 2 {
			t.Fatal("the pages never end")
		}
		page, err := s.api.Call(ctx, 200, "GET", next, owner, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page["data"].([]any) {
			b := d.(map[string]any)
			seen[b["backer"].(map[string]any)["name"].(string)] = true
			for _, secret := range []string{"manage_token", "client_secret", "payment_method_id", "customer_id", "history"} {
				if _, ok := b[secret]; ok {
					t.Errorf("a backer carries %s", secret)
				}
			}
			if b["backer"].(map[string]any)["name"] == "Eve" && (b["note"] != "Size M" || b["source"].(map[string]any)["ref"] != "insta-post-3" || b["shipping_address"] == nil) {
				t.Errorf("Eve's pledge: %v", b)
			}
		}
		next = ""
		if cur, ok := page["next_cursor"].(string); ok {
			next = path + "?" + url.Values{"limit": {"2"}, "cursor": {cur}}.Encode()
			// A cursor is this campaign's only.
			other := liveWithShipping(t, s, owner)
			if _, err := s.api.Call(ctx, 422, "GET", "/api/v1/campaigns/"+other.ID+"/pledges?cursor="+url.QueryEscape(cur), owner, nil); err != nil {
				t.Errorf("another campaign's cursor: %v", err)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("backers seen over the pages: %v", seen)
	}
	if _, err := s.api.Call(ctx, 401, "GET", path, "", nil); err != nil {
		t.Errorf("anonymous: %v", err)
	}
	mallory := s.visitor("en")
	mallory.signUp("Mallory")
	if _, err := s.api.Call(ctx, 403, "GET", path, mallory.cookie("session").Value, nil); err != nil {
		t.Errorf("another designer: %v", err)
	}
	if _, err := s.api.Call(ctx, 422, "GET", path+"?cursor=forged", owner, nil); err != nil {
		t.Errorf("a forged cursor: %v", err)
	}
	if _, err := s.api.Call(ctx, 200, "GET", path, s.admin, nil); err != nil {
		t.Errorf("an admin: %v", err)
	}
}
