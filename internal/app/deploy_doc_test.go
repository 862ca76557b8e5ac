//go:build !production

package app_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// docs/deploy.md is followed by people running production: its settings table lists exactly the
// settings config/backstitch.example.env documents, each API call it tells an operator to make is a
// route the service answers, each metric it alerts on is one the service exports, and the webhook
// API version is the one stripe-go pins.
func TestDeployGuideMatchesTheService(t *testing.T) {
	doc := mustRead(t, "../../docs/deploy.md")
	env := mustRead(t, "../../config/backstitch.example.env")

	table := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|").FindAllStringSubmatch(doc, -1) {
		table[m[1]] = true
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]+)=`).FindAllStringSubmatch(env, -1) {
		documented[m[1]] = true
		if !table[m[1]] {
			t.Errorf("%s is in config/backstitch.example.env but not in the deployment guide's settings table", m[1])
		}
	}
	for name := range table {
		if !documented[name] {
			t.Errorf("the deployment guide's settings table lists %s, which config/backstitch.example.env does not", name)
		}
	}
	if len(table) < 30 {
		t.Fatalf("found only %d settings in the guide's table: the table's format changed", len(table))
	}

	if !regexp.MustCompile(`API version\s+` + regexp.QuoteMeta(stripe.APIVersion)).MatchString(doc) {
		t.Errorf("the guide does not name stripe-go's API version %s for the webhook endpoint", stripe.APIVersion)
	}

	s := startService(t, nil)
	param := regexp.MustCompile(`:[a-z_]+|\{[a-z_]+\}`)
	routes := map[string]bool{}
	paths := map[string]bool{}
	for _, r := range s.routes() {
		method, path, _ := strings.Cut(param.ReplaceAllString(r, ":"), " ")
		routes[method+" "+path], paths[path] = true, true
	}
	calls := regexp.MustCompile("(GET|POST|PATCH|DELETE) (/[^\\s`?]*)").FindAllStringSubmatch(doc, -1)
	for _, m := range calls {
		if key := m[1] + " " + param.ReplaceAllString(m[2], ":"); !routes[key] {
			t.Errorf("the guide calls %s %s, which the service does not answer", m[1], m[2])
		}
	}
	for _, m := range regexp.MustCompile(`https://pledge\.example(/api/v1/[^\s"?]*)`).FindAllStringSubmatch(doc, -1) {
		if !paths[param.ReplaceAllString(m[1], ":")] {
			t.Errorf("the guide calls %s, which the service does not answer", m[1])
		}
	}
	if len(calls) < 8 {
		t.Fatalf("found only %d API calls in the guide", len(calls))
	}

	source := mustRead(t, "../metrics/metrics.go")
	exported := regexp.MustCompile(`Name:\s+"(backstitch_[a-z_]+)"`).FindAllStringSubmatch(source, -1)
	var names []string
	for _, m := range exported {
		names = append(names, m[1])
	}
	alerted := regexp.MustCompile(`backstitch_[a-z_]+`).FindAllString(doc, -1)
	for _, name := range alerted {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
		if !slices.Contains(names, base) {
			t.Errorf("the guide alerts on %s, which internal/metrics does not export (it exports %v)", name, names)
		}
	}
	if len(alerted) == 0 {
		t.Fatal("the guide alerts on no metric")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
