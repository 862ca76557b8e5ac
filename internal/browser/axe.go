package browser

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"
)

// AxeScript is axe-core's script, which .ci/run installs from npm at a pinned version into a
// cache outside the repository and names in BACKSTITCH_AXE. Without it the accessibility test
// skips, with instructions; in CI it fails.
func AxeScript(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv("BACKSTITCH_AXE")
	src, err := os.ReadFile(path)
	if err != nil || path == "" {
		msg := "accessibility check skipped: set BACKSTITCH_AXE to axe.min.js (`npm install --no-save --prefix DIR axe-core@<version in .ci/run>`)"
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s: %v", msg, err)
		}
		tb.Skip(msg)
	}
	return string(src)
}

// CheckAxe runs axe-core (its script in axe) on the page open in p and fails on any serious or
// critical violation, naming where.
func CheckAxe(tb testing.TB, p *rod.Page, axe, where string) {
	tb.Helper()
	// DevTools evaluation is not subject to the page's Content-Security-Policy.
	if _, err := (proto.RuntimeEvaluate{Expression: axe}).Call(p); err != nil {
		tb.Fatal(err)
	}
	res, err := p.Eval(`async () => {
		const r = await axe.run(document, {resultTypes: ['violations']});
		return JSON.stringify(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})));
	}`)
	if err != nil {
		tb.Fatalf("%s: %v", where, err)
	}
	var violations []map[string]any
	if err := json.Unmarshal([]byte(res.Value.Str()), &violations); err != nil {
		tb.Fatal(err)
	}
	for _, v := range violations {
		tb.Errorf("%s: %v", where, v)
	}
}
