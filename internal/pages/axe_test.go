package pages_test

import (
	"encoding/json"
	"net/url"
	"os"
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"

	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/locale"
)

// axeScript is axe-core's script, which .ci/run installs from npm at a pinned version into a cache
// outside the repository and names in BACKSTITCH_AXE.
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("BACKSTITCH_AXE")
	src, err := os.ReadFile(path)
	if err != nil || path == "" {
		msg := "accessibility check skipped: set BACKSTITCH_AXE to axe.min.js (`npm install --no-save --prefix DIR axe-core@<version in .ci/run>`)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skip(msg)
	}
	return string(src)
}

// No page has a serious or critical accessibility violation by axe-core's rules (contrast,
// labels, names, landmarks, lang…), in either language.
func TestBrowserAccessibilityWithAxe(t *testing.T) {
	browser.ForTest(t)
	axe := axeScript(t)
	s := startSite(t)
	d := s.demo()
	mine := s.pledgeCoat(d, "Camille")
	paths := []string{"/", "/campaigns/" + d.Geneva.Slug, "/campaigns/" + d.Geneva.Slug + "/pledge?tier=" + d.Geneva.Tiers["The Pâquis linen coat"], "/campaigns/nope",
		// The magic link lands on the manage page (and gives this tab the pledge's cookie).
		"/pledges/" + mine.id + "/manage?token=" + url.QueryEscape(mine.token), "/pledges/" + mine.id + "/change", "/pledges/" + mine.id + "/cancel"}
	for _, lang := range locale.Languages {
		p := tab(t, lang+"-CH,"+lang)
		for _, path := range paths {
			navigate(t, p, s.base+path)
			checkAxe(t, p, axe, lang+" "+path)
		}
	}
}

// checkAxe runs axe-core on the page open in p and fails on any serious or critical violation.
func checkAxe(t *testing.T, p *rod.Page, axe, where string) {
	t.Helper()
	// DevTools evaluation is not subject to the page's Content-Security-Policy.
	if _, err := (proto.RuntimeEvaluate{Expression: axe}).Call(p); err != nil {
		t.Fatal(err)
	}
	res, err := p.Eval(`async () => {
		const r = await axe.run(document, {resultTypes: ['violations']});
		return JSON.stringify(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})));
	}`)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var violations []map[string]any
	if err := json.Unmarshal([]byte(res.Value.Str()), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("%s: %v", where, v)
	}
}
