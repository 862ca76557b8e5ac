package testenv

import (
	"testing"

	"github.com/backstitch/backstitch/internal/testenv/french"
)

// Bilingual checks the same pages rendered in each language: CheckHTML for every one, and
// french.CheckHTML for the French one against its English twin, rendered first
// (locale.Languages starts with English).
type Bilingual struct {
	t       testing.TB
	english map[string]string
}

// NewBilingual starts checking a test's pages in both languages.
func NewBilingual(t testing.TB) *Bilingual {
	return &Bilingual{t: t, english: map[string]string{}}
}

// Check checks body, the page where in lang.
func (b *Bilingual) Check(where, body, lang string) {
	b.t.Helper()
	CheckHTML(b.t, lang+" "+where, body, lang)
	switch lang {
	case "en":
		b.english[where] = body
	case "fr":
		english, ok := b.english[where]
		if !ok {
			b.t.Fatalf("%s: checked in French before English", where)
		}
		french.CheckHTML(b.t, lang+" "+where, body, english)
	}
}
