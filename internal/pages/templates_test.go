package pages

import (
	"html/template"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/templates"
)

// Views are parsed on first use, so nothing at start would catch a template error: every view
// parses in every language here, with the functions the pages give them.
func TestEveryPageViewParsesInEveryLanguage(t *testing.T) {
	e, err := templates.New("views", locale.Languages, pageFuncs)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Views()) < 10 {
		t.Fatalf("only %d views found: %v", len(e.Views()), e.Views())
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}

// A view that does not parse is reported, by Check and by Render, naming its file.
func TestABrokenViewFailsCheckAndRender(t *testing.T) {
	e, err := templates.New("views", locale.Languages, func(lang string) template.FuncMap {
		f := pageFuncs(lang)
		delete(f, "t") // every view calls it: parsing fails with "function not defined"
		return f
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "views/") {
		t.Fatalf("Check of views missing a function: %v", err)
	}
	if _, err := e.Render("fr", "campaign", nil); err == nil || !strings.Contains(err.Error(), "views/campaign.html") {
		t.Fatalf("Render of a view that does not parse: %v", err)
	}
}
