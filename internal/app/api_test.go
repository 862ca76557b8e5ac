//go:build !production

package app_test

import (
	"context"
	"encoding/base64"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// Admins list reconciliation runs newest first, a signed cursor at a time, by status or campaign;
// nobody else sees the list.
func TestReconciliationRunsAreListed(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	admin := s.admin()
	designer, _ := s.designer("Runa")
	campA := s.must(201, "POST", "/api/v1/campaigns", designer, s.campaignBody("Coats from deadstock"))["id"].(string)
	campB := s.must(201, "POST", "/api/v1/campaigns", designer, s.campaignBody("Mended knitwear"))["id"].(string)

	scopes := []map[string]any{{"campaign_id": campA}, {"campaign_id": campB},
		{"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, {"campaign_id": campA}, {"campaign_id": campA}}
	var ids []string
	for i, scope := range scopes {
		// The last two share their creation time: the id orders them, and paging must not skip one.
		if i < 4 {
			s.clock.Advance(time.Minute)
		}
		id := s.must(201, "POST", "/api/v1/admin/reconciliations", admin, scope)["id"].(string)
		s.awaitRun(admin, id)
		ids = append(ids, id)
	}
	s.clock.Advance(time.Minute)
	failed := reconcile.Run{ID: "rec_failedbyhand", Scope: reconcile.Scope{CampaignID: campB}, Status: reconcile.RunFailed,
		CreatedBy: "usr_someone", CreatedAt: s.clock.Now(), Attempt: reconcile.MaxAttempts, Error: "Stripe could not be reached."}
	if err := s.store.CreateRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, failed.ID)

	// Every run once, newest first, over pages of two; the last page says it is the last.
	var listed []map[string]any
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		p := s.must(200, "GET", "/api/v1/admin/reconciliations?limit=2"+cursor, admin, nil)
		data := p["data"].([]any)
		for _, r := range data {
			listed = append(listed, r.(map[string]any))
		}
		if p["next_cursor"] == nil {
			if len(data) == 0 {
				t.Error("the last page is empty: the previous page should have said it was the last")
			}
			break
		}
		if len(data) != 2 {
			t.Fatalf("page %d has %d runs and a next cursor", page, len(data))
		}
		cursor = "&cursor=" + p["next_cursor"].(string)
	}
	var got []string
	for i, r := range listed {
		got = append(got, r["id"].(string))
		if i > 0 {
			prev := listed[i-1]
			if prev["created_at"].(string) < r["created_at"].(string) ||
				(prev["created_at"] == r["created_at"] && prev["id"].(string) < r["id"].(string)) {
				t.Errorf("not newest first: %v before %v", prev, r)
			}
		}
	}
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("listed %v, want each of %v once", got, ids)
	}
	if got[0] != failed.ID || listed[0]["status"] != "failed" || listed[0]["error"] == nil {
		t.Errorf("the newest run first, with its status and error: %v", listed[0])
	}
	if last := listed[len(listed)-1]; last["id"] != ids[0] || last["status"] != "completed" || last["summary"] == nil {
		t.Errorf("the oldest run last, with its summary: %v", last)
	}

	filtered := func(q string) []string {
		t.Helper()
		var out []string
		for _, r := range s.must(200, "GET", "/api/v1/admin/reconciliations?"+q, admin, nil)["data"].([]any) {
			out = append(out, r.(map[string]any)["id"].(string))
		}
		sort.Strings(out)
		return out
	}
	sorted := func(v ...string) []string { sort.Strings(v); return v }
	for q, want := range map[string][]string{
		"status=failed":                              {failed.ID},
		"status=queued":                              nil,
		"campaign_id=" + campA:                       sorted(ids[0], ids[3], ids[4]),
		"campaign_id=" + campB:                       sorted(ids[1], failed.ID),
		"campaign_id=" + campB + "&status=completed": {ids[1]},
		"campaign_id=cam_nothere":                    nil,
	} {
		if got := filtered(q); !slices.Equal(got, want) {
			t.Errorf("?%s → %v, want %v", q, got, want)
		}
	}
	// A filtered list pages within its filter.
	first := s.must(200, "GET", "/api/v1/admin/reconciliations?campaign_id="+campA+"&limit=2", admin, nil)
	rest := s.must(200, "GET", "/api/v1/admin/reconciliations?campaign_id="+campA+"&limit=2&cursor="+url.QueryEscape(first["next_cursor"].(string)), admin, nil)
	if d := rest["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != ids[0] || rest["next_cursor"] != nil {
		t.Errorf("second page of campaign A's runs: %v", rest)
	}

	// Cursors: only one given out for this list with these filters pages it.
	unfiltered := s.must(200, "GET", "/api/v1/admin/reconciliations?limit=1", admin, nil)["next_cursor"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(unfiltered)
	if err != nil {
		t.Fatal(err)
	}
	raw[3] ^= 1
	campaignCursor := s.must(200, "GET", "/api/v1/admin/campaigns?status=draft&limit=1", admin, nil)["next_cursor"].(string)
	for name, q := range map[string]string{
		"another filter's cursor": "status=completed&cursor=" + unfiltered,
		"an edited cursor":        "cursor=" + base64.RawURLEncoding.EncodeToString(raw),
		"a campaign list's":       "status=draft&cursor=" + campaignCursor,
		"a run id":                "cursor=" + ids[2],
		"an unknown status":       "status=done",
		"limit 0":                 "limit=0",
	} {
		r := s.call("GET", "/api/v1/admin/reconciliations?"+q, admin, nil)
		if r.Status != 422 || r.JSON(t)["code"] != "validation_failed" {
			t.Errorf("%s → %d %s", name, r.Status, r.Body)
		}
	}

	// The run's findings and the audit log page with the same signed cursors: positions made up
	// by hand (they used to be a bare number and unsigned base64) are refused.
	forged := map[string]string{
		"/api/v1/admin/reconciliations/" + ids[0] + "?cursor=0":                                                        "a finding sequence number",
		"/api/v1/admin/audit-log?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("2026-11-02T09:00:00Z|aud_x")): "an audit position",
	}
	for path, name := range forged {
		if r := s.call("GET", path, admin, nil); r.Status != 422 {
			t.Errorf("%s as cursor → %d %s", name, r.Status, r.Body)
		}
	}

	// Admins only.
	if r := s.call("GET", "/api/v1/admin/reconciliations", designer, nil); r.Status != 403 {
		t.Errorf("designer: %d %s", r.Status, r.Body)
	}
	if r := s.call("GET", "/api/v1/admin/reconciliations", "", nil); r.Status != 401 {
		t.Errorf("anonymous: %d %s", r.Status, r.Body)
	}
}

// openAPIOperations reads the served OpenAPI document: every path with, per method, the names of
// the query parameters it documents.
func (s *service) openAPIOperations() map[string]map[string][]string {
	s.t.Helper()
	r := s.call("GET", "/api/v1/openapi.yaml", "", nil)
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Parameters map[string]map[string]any `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(r.Body, &doc); r.Status != 200 || err != nil {
		s.t.Fatalf("openapi.yaml: %d %v", r.Status, err)
	}
	out := map[string]map[string][]string{}
	for path, ops := range doc.Paths {
		out[path] = map[string][]string{}
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			names := []string{}
			params, _ := op.(map[string]any)["parameters"].([]any)
			for _, p := range params {
				m := p.(map[string]any)
				if ref, ok := m["$ref"].(string); ok {
					m = doc.Components.Parameters[strings.TrimPrefix(ref, "#/components/parameters/")]
					if m == nil {
						s.t.Fatalf("%s %s: unresolved %s", method, path, ref)
					}
				}
				if m["in"] == "query" {
					names = append(names, m["name"].(string))
				}
			}
			out[path][strings.ToUpper(method)] = names
		}
	}
	if len(out) < 20 {
		s.t.Fatalf("only %d paths in openapi.yaml", len(out))
	}
	return out
}

// fillPath puts a made-up id in each path parameter.
func fillPath(path string) string {
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return path
		}
		j := strings.IndexByte(path[i:], '}')
		path = path[:i] + "x1" + path[i+j+1:]
	}
}

// No query parameter is silently ignored: every operation refuses the ones it does not document
// (there is no ?q= search), and a parameter given twice, before doing anything; the ones it
// documents are taken.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	s := startService(t, nil)
	admin := s.admin()
	designer, _ := s.designer("Quinn")
	id, slug := s.liveCampaign(designer, admin, "Quilted jackets")

	fieldErrors := func(r response) map[string]string {
		out := map[string]string{}
		errs, _ := r.JSON(t)["errors"].([]any)
		for _, e := range errs {
			m := e.(map[string]any)
			out[m["field"].(string)] = m["code"].(string)
		}
		return out
	}
	for _, tc := range []struct {
		method, path, token string
		body                any
		want                map[string]string
	}{
		{"GET", "/api/v1/campaigns?q=linen", "", nil, map[string]string{"q": "unknown_parameter"}},
		{"GET", "/api/v1/campaigns?status=live&q=linen&sort=newest", "", nil, map[string]string{"q": "unknown_parameter", "sort": "unknown_parameter"}},
		{"GET", "/api/v1/campaigns?limit=1&limit=50", "", nil, map[string]string{"limit": "repeated_parameter"}},
		{"GET", "/api/v1/campaigns/" + slug + "?expand=tiers", "", nil, map[string]string{"expand": "unknown_parameter"}},
		{"GET", "/api/v1/designers/me/campaigns?status=live", designer, nil, map[string]string{"status": "unknown_parameter"}},
		{"GET", "/api/v1/admin/reconciliations?sort=asc", admin, nil, map[string]string{"sort": "unknown_parameter"}},
		{"GET", "/api/v1/admin/audit-log?who=me", admin, nil, map[string]string{"who": "unknown_parameter"}},
		{"POST", "/api/v1/campaigns?status=live", designer, s.campaignBody("Smuggled status"), map[string]string{"status": "unknown_parameter"}},
		{"PATCH", "/api/v1/campaigns/" + id + "?force=1", designer, map[string]any{"blurb": "Changed"}, map[string]string{"force": "unknown_parameter"}},
	} {
		r := s.call(tc.method, tc.path, tc.token, tc.body, "Idempotency-Key", "key-"+tc.path)
		if got := fieldErrors(r); r.Status != 422 || r.JSON(t)["code"] != "validation_failed" || !maps.Equal(got, tc.want) {
			t.Errorf("%s %s → %d %s, want 422 naming %v", tc.method, tc.path, r.Status, r.Body, tc.want)
		}
	}
	// Refused before anything ran: no campaign was made, nothing was changed.
	if mine := s.must(200, "GET", "/api/v1/designers/me/campaigns", designer, nil)["data"].([]any); len(mine) != 1 {
		t.Errorf("a refused create made a campaign: %d campaigns", len(mine))
	}
	if got := s.must(200, "GET", "/api/v1/campaigns/"+id, "", nil)["blurb"]; got == "Changed" {
		t.Error("a refused PATCH changed the campaign")
	}

	// Every operation of the document, whatever it does.
	for path, ops := range s.openAPIOperations() {
		for method, documented := range ops {
			r := s.call(method, fillPath(path)+"?zz_unknown=1", admin, nil)
			if r.Status != 422 || fieldErrors(r)["zz_unknown"] != "unknown_parameter" {
				t.Errorf("%s %s?zz_unknown=1 → %d %s", method, path, r.Status, r.Body)
			}
			if method != "GET" || len(documented) == 0 {
				continue
			}
			q := url.Values{}
			for _, name := range documented {
				q.Set(name, "1")
			}
			if r := s.call(method, fillPath(path)+"?"+q.Encode(), admin, nil); r.Status == 422 {
				for field, code := range fieldErrors(r) {
					if code == "unknown_parameter" || code == "repeated_parameter" {
						t.Errorf("%s %s refuses its documented parameter %s: %s", method, path, field, r.Body)
					}
				}
			}
		}
	}
}

// A path that exists answers the methods it does not support with 405 and an Allow header naming
// the ones it does; a path that does not exist is 404.
func TestUnsupportedMethodsAre405WithAllow(t *testing.T) {
	s := startService(t, nil)
	admin := s.admin()
	allowOf := func(r response) []string {
		var out []string
		for _, m := range strings.Split(r.Header.Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		method, path string
		allow        []string
	}{
		{"DELETE", "/api/v1/campaigns", []string{"GET", "HEAD", "POST"}},
		{"PUT", "/api/v1/campaigns/cam_x1", []string{"GET", "HEAD", "PATCH"}},
		{"GET", "/api/v1/campaigns/cam_x1/submit", []string{"POST"}},
		{"GET", "/api/v1/sessions/current", []string{"DELETE"}},
		{"POST", "/healthz", []string{"GET", "HEAD"}},
		{"GET", "/webhooks/stripe", []string{"POST"}},
		{"DELETE", "/api/v1/admin/reconciliations", []string{"GET", "HEAD", "POST"}},
		{"PATCH", "/api/v1/admin/reconciliations/rec_x1", []string{"GET", "HEAD"}},
	} {
		r := s.call(tc.method, tc.path, admin, nil)
		if r.Status != 405 || !slices.Equal(allowOf(r), tc.allow) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") ||
			r.JSON(t)["code"] != "method_not_allowed" {
			t.Errorf("%s %s → %d Allow %q %s, want 405 Allow %v", tc.method, tc.path, r.Status, r.Header.Get("Allow"), r.Body, tc.allow)
		}
	}
	// Admin paths keep telling strangers nothing: authentication comes first.
	if r := s.call("DELETE", "/api/v1/admin/reconciliations", "", nil); r.Status != 401 {
		t.Errorf("anonymous DELETE on an admin path: %d %s", r.Status, r.Body)
	}
	for _, tc := range [][2]string{{"GET", "/api/v1/nothing"}, {"DELETE", "/api/v1/nothing"}, {"GET", "/api/v1/campaigns/cam_x1/nothing"},
		{"DELETE", "/API/V1/CAMPAIGNS"}, {"POST", "/nothing"}} {
		r := s.call(tc[0], tc[1], admin, nil)
		if r.Status != 404 || r.Header.Get("Allow") != "" || r.JSON(t)["code"] != "not_found" {
			t.Errorf("%s %s → %d Allow %q %s, want 404", tc[0], tc[1], r.Status, r.Header.Get("Allow"), r.Body)
		}
	}

	// Every documented path, every method it does not document.
	for path, ops := range s.openAPIOperations() {
		var want []string
		for m := range ops {
			want = append(want, m)
			if m == "GET" {
				want = append(want, "HEAD")
			}
		}
		sort.Strings(want)
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if ops[m] != nil {
				continue
			}
			if r := s.call(m, fillPath(path), admin, nil); r.Status != 405 || !slices.Equal(allowOf(r), want) {
				t.Errorf("%s %s → %d Allow %q, want 405 Allow %v", m, path, r.Status, r.Header.Get("Allow"), want)
			}
		}
	}
}

// The README's reconciliation snippet runs verbatim with bash -euo pipefail against the service:
// on a run with no findings (it used to fail looking for a first finding), and on one with a
// finding, which it explains.
func TestReadmeReconciliationSnippetRuns(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README snippet needs %s: install it to run this test", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	_, section, ok := strings.Cut(text, "### Reconciliation\n")
	_, snippet, ok2 := strings.Cut(section, "```sh\n")
	snippet, _, ok3 := strings.Cut(snippet, "```\n")
	if !ok || !ok2 || !ok3 || !strings.Contains(snippet, "/resolve") {
		t.Fatal("README has no reconciliation snippet under ### Reconciliation")
	}
	// The walkthrough's helpers, as the README defines them.
	var prelude []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "J=") || strings.HasPrefix(line, "field() ") {
			prelude = append(prelude, line)
		}
	}
	if len(prelude) != 2 {
		t.Fatalf("README defines J and field() %d times", len(prelude))
	}

	s := startService(t, nil)
	admin := s.admin()
	designer, _ := s.designer("Sol")
	run := func(campaign string) string {
		t.Helper()
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c",
			"API="+s.base+"/api/v1\n"+strings.Join(prelude, "\n")+"\n"+snippet)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ADMIN="+admin, "CAMPAIGN="+campaign)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the README snippet fails: %v\n%s", err, out)
		}
		if csv, err := os.ReadFile(filepath.Join(dir, "reconciliation.csv")); err != nil || !strings.HasPrefix(string(csv), "key,") {
			t.Errorf("reconciliation.csv: %v %q", err, csv)
		}
		return string(out)
	}
	runsOf := func(campaign string) []any {
		return s.must(200, "GET", "/api/v1/admin/reconciliations?campaign_id="+campaign, admin, nil)["data"].([]any)
	}

	clean := s.must(201, "POST", "/api/v1/campaigns", designer, s.campaignBody("Nothing to find"))["id"].(string)
	out := run(clean)
	runs := runsOf(clean)
	if len(runs) != 1 || runs[0].(map[string]any)["status"] != "completed" || !strings.Contains(out, `"findings":[]`) {
		t.Fatalf("a clean run: runs %v, output\n%s", runs, out)
	}

	stray := s.must(201, "POST", "/api/v1/campaigns", designer, s.campaignBody("A sale by hand"))["id"].(string)
	if _, _, err := s.double().DashboardCharge(stripedouble.DashboardChargeParams{Amount: 4500, Currency: "chf", TransferGroup: stray,
		Description: "pop-up shop"}); err != nil {
		t.Fatal(err)
	}
	run(stray)
	runs = runsOf(stray)
	if len(runs) != 1 {
		t.Fatalf("runs of the campaign with a stray charge: %v", runs)
	}
	got := s.must(200, "GET", "/api/v1/admin/reconciliations/"+runs[0].(map[string]any)["id"].(string), admin, nil)
	if got["open_findings"] != float64(0) || len(got["findings"].([]any)) != 1 ||
		got["findings"].([]any)[0].(map[string]any)["status"] != "explained" {
		t.Errorf("the snippet did not explain the stray charge: %v", got)
	}
}
