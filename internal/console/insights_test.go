package console_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testenv"
	"github.com/backstitch/backstitch/internal/visits"
)

// cells is the text of each row's cells in the table that follows the heading with this id.
func cells(t *testing.T, body, heading string) [][]string {
	t.Helper()
	i := strings.Index(body, `id="`+heading+`"`)
	if i < 0 {
		t.Fatalf("no section %s", heading)
	}
	rest := body[i:]
	end := strings.Index(rest, "</table>")
	if end < 0 {
		t.Fatalf("no table under %s", heading)
	}
	tbody := rest[strings.Index(rest, "<tbody>"):end]
	cell := regexp.MustCompile(`<td[^>]*>(.*?)</td>`)
	var out [][]string
	for _, row := range strings.Split(tbody, "<tr>")[1:] {
		var r []string
		for _, m := range cell.FindAllStringSubmatch(row, -1) {
			r = append(r, m[1])
		}
		out = append(out, r)
	}
	return out
}

// A live campaign's insights: the running total drawn as SVG day by day, the figures per reward
// and per source (visits, pledges, amount, conversion) computed from the pledges and visits.
func TestInsightsOfALiveCampaign(t *testing.T) {
	s := startSite(t, map[string]string{"BACKSTITCH_SESSION_TTL": "168h"})
	ctx := context.Background()
	v := s.visitor("en")
	v.signUp("Ana")
	c := liveWithShipping(t, s, v.cookie("session").Value)
	launched := s.clock.Now()
	back(t, s, c, "Coat", "Eve", "", "insta-post-3", 32000)
	s.clock.Advance(48 * time.Hour)
	back(t, s, c, "Workshop", "Marc", "", "", 9000)
	back(t, s, c, "", "Zoé", "", "newsletter", 2500)
	day := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	if err := s.store.AddVisits(ctx, []visits.Count{
		{Key: visits.Key{CampaignID: c.ID, Day: day(launched), Source: pledge.Source{Ref: "insta-post-3"}}, Visits: 40},
		{Key: visits.Key{CampaignID: c.ID, Day: day(s.clock.Now()), Source: pledge.Source{Ref: "newsletter"}}, Visits: 10},
	}); err != nil {
		t.Fatal(err)
	}

	path := "/designer/campaigns/" + c.ID + "/insights"
	p := v.get(path)
	if p.status != 200 {
		t.Fatalf("insights: %d\n%s", p.status, p.body)
	}
	if !strings.Contains(p.body, "<strong>CHF\u00a0435.00</strong> pledged of CHF\u00a01’000.00") {
		t.Errorf("headline figures wrong:\n%s", p.body)
	}
	// Three days (launch day, the next, today): three points, rising to the total.
	line := regexp.MustCompile(`<polyline class="line"[^>]* points="([^"]+)"`).FindStringSubmatch(p.body)
	if line == nil || !strings.Contains(p.body, `role="img" aria-labelledby="chart-title chart-desc"`) {
		t.Fatalf("no chart:\n%s", p.body)
	}
	pts := strings.Fields(line[1])
	if len(pts) != 3 {
		t.Errorf("chart has %d points, want 3 days: %v", len(pts), pts)
	}
	ys := make([]string, len(pts))
	for i, pt := range pts {
		ys[i] = pt[strings.IndexByte(pt, ',')+1:]
	}
	if len(ys) == 3 && (ys[0] != ys[1] || ys[1] == ys[2]) {
		t.Errorf("the running total should stay flat on the second day and rise on the third: %v", ys)
	}
	tiers := cells(t, p.body, "per-tier")
	want := [][]string{{"Coat", "1", "99", "CHF\u00a0320.00"}, {"Workshop", "1", "99", "CHF\u00a090.00"}, {"No reward, just support", "—", "—", "CHF\u00a025.00"}}
	if len(tiers) != len(want) {
		t.Fatalf("per tier: %v", tiers)
	}
	for i := range want {
		if strings.Join(tiers[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("per tier row %d: %v, want %v", i, tiers[i], want[i])
		}
	}
	sources := cells(t, p.body, "per-source")
	wantSrc := map[string]string{"insta-post-3": "40|1|CHF\u00a0320.00|2.5%", "Direct or unknown": "0|1|CHF\u00a090.00|—", "newsletter": "10|1|CHF\u00a025.00|10.0%"}
	if len(sources) != len(wantSrc) {
		t.Fatalf("per source: %v", sources)
	}
	for _, r := range sources {
		if got := strings.Join(r[1:], "|"); wantSrc[r[0]] != got {
			t.Errorf("source %s: %s, want %s", r[0], got, wantSrc[r[0]])
		}
	}
	both := testenv.NewBilingual(t)
	for _, lang := range locale.Languages {
		v.lang = lang
		both.Check("insights", v.get(path).body, lang)
	}
	v.lang = "en"
	if e := v.get("/designer/campaigns/" + c.ID); !strings.Contains(e.body, `href="`+path+`"`) {
		t.Error("the editor has no link to the insights")
	}
	// A draft has no insights yet.
	draft := v.createDraft("Next coat")
	if p := v.get(draft + "/insights"); p.status != 404 {
		t.Errorf("a draft's insights: %d", p.status)
	}
}

// Text written by designers and backers is inert in the insights.
func TestInsightsShowHostileTextInert(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	c, err := s.api.Launch(context.Background(), v.cookie("session").Value, s.admin, map[string]any{
		"title": `<script>alert("t")</script>`, "story": "x", "goal": map[string]any{"amount": 100000, "currency": "CHF"},
		"timezone": "Europe/Zurich", "deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{{"title": `<img src=x onerror=alert(1)>`, "kind": "digital", "price": map[string]any{"amount": 1000, "currency": "CHF"}}})
	if err != nil {
		t.Fatal(err)
	}
	back(t, s, c, `<img src=x onerror=alert(1)>`, "Eve", "", "", 1000)
	p := v.get("/designer/campaigns/" + c.ID + "/insights")
	if p.status != 200 || strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") ||
		!strings.Contains(p.body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("hostile text: %d\n%s", p.status, p.body)
	}
	testenv.CheckHTML(t, "hostile insights", p.body, "en")
}
