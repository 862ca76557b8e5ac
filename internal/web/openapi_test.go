package web

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/metrics"
)

// Every route in the OpenAPI document exists, and every route the app serves is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`\{([a-z_]+)\}`)
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			m, ok := op.(map[string]any)
			if !ok || m["responses"] == nil {
				t.Errorf("%s %s has no responses", method, path)
				continue
			}
			// Every route refuses query parameters it does not take (see query.go).
			if responses, _ := m["responses"].(map[string]any); responses["422"] == nil {
				t.Errorf("%s %s does not document 422 (unknown query parameters)", method, path)
			}
			documented = append(documented, strings.ToUpper(method)+" "+param.ReplaceAllString(path, ":$1"))
		}
	}
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	served := New(cfg, nil, nil, nil, nil, nil, nil, Reconciliation{}, zerolog.Nop(), time.Now, metrics.New()).Routes()
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("openapi.yaml documents %s, which the app does not serve", r)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes found; the route listing is broken", len(served))
	}
}

// Every error code the service can answer with has an HTTP status and is documented.
func TestEveryErrorCodeHasAStatusAndIsDocumented(t *testing.T) {
	src, err := os.ReadFile("../backstitch/error.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(Code\w+)\s+Code = "(\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 20 {
		t.Fatalf("found only %d codes in error.go", len(codes))
	}
	mapped := map[string]bool{}
	for code := range statusOf {
		mapped[string(code)] = true
	}
	for _, c := range codes {
		if !mapped[c[2]] {
			t.Errorf("code %s has no HTTP status in statusOf", c[2])
		}
		if !strings.Contains(string(openAPI), c[2]) {
			t.Errorf("code %s is not in openapi.yaml", c[2])
		}
	}
}
