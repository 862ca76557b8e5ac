package french

import (
	"fmt"
	"testing"
)

// recorder counts the failures a check reports.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// The check fails on what French typography forbids and passes what it allows.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name, french, english string
		fails                 int
	}{
		{"label with a plain space", "<p>Montant : 320</p>", "<p>Amount: 320</p>", 1},
		{"label with no space", "<p>Montant: 320</p>", "<p>Amount: 320</p>", 1},
		{"label after an element", "<p><b>Montant</b>: 320</p>", "<p><b>Amount</b>: 320</p>", 1},
		{"question and exclamation", "<p>Perdu ? Bienvenue!</p>", "<p>Lost? Welcome!</p>", 2},
		{"guillemets", "<p>« Lin »</p>", "<p>“Linen”</p>", 2},
		{"in an attribute", `<a aria-label="Soutenir: Manteau">x</a>`, `<a aria-label="Back: Coat">x</a>`, 1},
		{"narrow spaces", "<p>Montant\u202f: 320\u202f; perdu\u202f? «\u202fLin\u202f»\u202f!</p>", "<p>Amount: 320</p>", 0},
		{"times, addresses, queries", "<p>à 14:30, https://b.example/?ref=ig mailto:a@b.ch</p><p>Ajoutez ?ref=post</p>", "<p></p>", 0},
		{"people's own words", "<h2>Geneva collective: twenty ways?</h2><p>Campagne</p>", "<h2>Geneva collective: twenty ways?</h2><p>Campaign</p>", 0},
		{"a query glued to its word", "<p>Ajoutez\u202f?ref=post</p>", "", 1},
		{"code and forms", "<code>a: b</code><textarea>Size: M</textarea><script>x?y:z</script>", "", 0},
		{"input syntax", "<p>Par exemple\u202f: Taille: S, M, L</p>", "", 0},
	} {
		r := &recorder{TB: t}
		CheckHTML(r, c.name, c.french, c.english)
		if len(r.failures) != c.fails {
			t.Errorf("%s: %d failures, want %d: %v", c.name, len(r.failures), c.fails, r.failures)
		}
	}
}
