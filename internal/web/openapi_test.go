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
			if m, ok := op.(map[string]any); !ok || m["responses"] == nil {
				t.Errorf("%s %s has no responses", method, path)
			}
			documented = append(documented, strings.ToUpper(method)+" "+param.ReplaceAllString(path, ":$1"))
		}
	}
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	served := New(cfg, nil, nil, nil, nil, nil, nil, Reconciliation{}, zerolog.Nop(), time.Now).Routes()
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

// The served document's server is the service's public URL, whatever characters it holds.
func TestOpenAPIServerFollowsPublicURL(t *testing.T) {
	for _, u := range []string{"https://backstitch.example", "http://127.0.0.1:9000/crowd#x: 'y'"} {
		var doc struct {
			Servers []struct {
				URL string `yaml:"url"`
			} `yaml:"servers"`
		}
		if err := yaml.Unmarshal(openAPIFor(u), &doc); err != nil {
			t.Fatalf("served document does not parse: %v", err)
		}
		if len(doc.Servers) != 1 || doc.Servers[0].URL != u {
			t.Fatalf("servers %+v, want the one public URL %q", doc.Servers, u)
		}
	}
}
