package console

import (
	"testing"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/templates"
)

// Views are parsed on first use, so nothing at start would catch a template error: every view of
// both consoles parses in every language here, with the functions the consoles give them.
func TestEveryConsoleViewParsesInEveryLanguage(t *testing.T) {
	for _, dir := range []string{"designer", "admin"} {
		e := mustEngine(t, dir)
		if len(e.Views()) < 10 {
			t.Fatalf("%s: only %d views found: %v", dir, len(e.Views()), e.Views())
		}
		if err := e.Check(); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

// mustEngine is a console's template set (dir: designer or admin) as the console parses it.
func mustEngine(t *testing.T, dir string) *templates.Engine {
	t.Helper()
	e, err := templates.New(dir, locale.Languages, funcs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
