package web

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// Stripe stays in its adapter: neither web nor anything of ours that web builds on imports
// stripe-go. Webhooks reach web as domain events, verified and mapped by stripepay.
func TestWebDoesNotDependOnStripe(t *testing.T) {
	const module = "github.com/backstitch/backstitch/"
	seen := map[string]bool{}
	var visit func(dir, name string)
	visit = func(dir, name string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		for _, imp := range pkg.Imports {
			switch {
			case strings.HasPrefix(imp, "github.com/stripe/"):
				t.Errorf("%s imports %s", name, imp)
			case strings.HasPrefix(imp, module):
				visit(filepath.Join("..", "..", strings.TrimPrefix(imp, module)), imp)
			}
		}
	}
	visit(".", module+"internal/web")
	if !seen[filepath.Join("..", "..", "internal", "pledge")] {
		t.Fatalf("the walk missed internal/pledge (saw %v)", seen)
	}
}
