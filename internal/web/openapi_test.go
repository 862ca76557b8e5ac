package web

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/console"
	"github.com/backstitch/backstitch/internal/metrics"
	"github.com/backstitch/backstitch/internal/pages"
	"github.com/backstitch/backstitch/internal/ratelimit"
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
	pg, err := pages.New(nil, nil, nil, time.Now, false, nil, "https://checkout.stripe.com", pages.Public{})
	if err != nil {
		t.Fatal(err)
	}
	designers, err := console.New(nil, nil, time.Now, "http://localhost:8080", nil, console.Admin{})
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, r := range New(cfg, nil, nil, nil, nil, nil, Reconciliation{}, pg, designers, NewPublicCache(time.Second, time.Now), zerolog.Nop(), time.Now, metrics.New(), ratelimit.Pledges{}).Routes() {
		// The backers' pages and the designers' console are HTML for people, not API operations.
		if !slices.Contains(pages.Routes, r) && !slices.Contains(console.Routes, r) && !slices.Contains(console.AdminRoutes, r) && !slices.Contains(console.JoinRoutes, r) {
			served = append(served, r)
		}
	}
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

// Every error answer in the document says which problem codes it carries, and every operation
// lists the answers any request may get before a handler runs (oversized body or headers). The
// fuzz test in internal/app holds the service to these lists.
func TestOpenAPIErrorsNameTheirCodes(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(v any, keys ...string) any {
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	known := map[string]bool{}
	for _, c := range get(doc, "components", "schemas", "Problem", "properties", "code", "enum").([]any) {
		known[c.(string)] = true
	}
	for path, ops := range get(doc, "paths").(map[string]any) {
		for method, op := range ops.(map[string]any) {
			if method == "parameters" {
				continue
			}
			responses := get(op, "responses").(map[string]any)
			for _, must := range []string{"413", "431"} {
				if responses[must] == nil {
					t.Errorf("%s %s does not list %s", method, path, must)
				}
			}
			for status, r := range responses {
				if ref, ok := get(r, "$ref").(string); ok {
					r = get(doc, "components", "responses", strings.TrimPrefix(ref, "#/components/responses/"))
				}
				schema := get(r, "content", "application/problem+json", "schema")
				if status >= "400" && schema == nil && !(path == "/readyz" && status == "503") {
					t.Errorf("%s %s %s is not a problem document", method, path, status)
				}
				if schema == nil {
					continue
				}
				codes, _ := get(schema, "properties", "code", "enum").([]any)
				if len(codes) == 0 {
					t.Errorf("%s %s %s names no problem codes", method, path, status)
				}
				for _, c := range codes {
					code, _ := c.(string)
					if !known[code] {
						t.Errorf("%s %s %s names %v, which is not a problem code", method, path, status, c)
					} else if got := statusOf[backstitch.Code(code)]; strconv.Itoa(got) != status {
						t.Errorf("%s %s %s names %s, which the service answers with %d", method, path, status, code, got)
					}
				}
			}
		}
	}
}
