package console

import (
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/templates"
)

// Every list shown a page at a time renders its pager through the one partial with its own
// texts, the same in both languages as before the lists shared it: the nav's name for screen
// readers, then "first" and "next" links (escaped), and nothing on a list that fits one page.
func TestPagersOfEveryList(t *testing.T) {
	designer, admin := mustEngine(t, "designer"), mustEngine(t, "admin")
	type texts struct{ label, first, next string }
	for _, c := range []struct {
		engine *templates.Engine
		view   string
		data   func(pager) any
		texts  pagerTexts
		en, fr texts
	}{
		{designer, "designer_backers", func(p pager) any { return backersView{Pager: p} }, backersPager,
			texts{"Pages of backers", "First page", "Next backers"}, texts{"Pages de contributeurs", "Première page", "Contributeurs suivants"}},
		{designer, "designer_fulfilment", func(p pager) any { return fulfilmentView{Pager: p} }, backersPager,
			texts{"Pages of backers", "First page", "Next backers"}, texts{"Pages de contributeurs", "Première page", "Contributeurs suivants"}},
		{admin, "admin_campaigns", func(p pager) any { return campaignsView{Pager: p} }, campaignsPager,
			texts{"Pages of campaigns", "First page", "Next campaigns"}, texts{"Pages de campagnes", "Première page", "Campagnes suivantes"}},
		{admin, "admin_audit", func(p pager) any { return auditView{Pager: p} }, auditPager,
			texts{"Pages of the audit log", "Newest entries", "Older entries"}, texts{"Pages du journal d’audit", "Entrées les plus récentes", "Entrées plus anciennes"}},
		{admin, "admin_runs", func(p pager) any { return runsView{Pager: p} }, runsPager,
			texts{"Pages of the runs", "Newest runs", "Older runs"}, texts{"Pages des rapprochements", "Rapprochements les plus récents", "Rapprochements plus anciens"}},
		{admin, "admin_run", func(p pager) any { return runView{Done: true, Kinds: []kindGroup{{Kind: "k"}}, Pager: p} }, findingsPager,
			texts{"Pages of the findings", "First findings", "Next findings"}, texts{"Pages des écarts", "Premiers écarts", "Écarts suivants"}},
	} {
		for lang, want := range map[string]texts{"en": c.en, "fr": c.fr} {
			loc := locale.Locale{Lang: lang}
			render := func(first, next string) string {
				t.Helper()
				b, err := c.engine.Render(lang, c.view, c.data(newPager(loc, c.texts, first, next)))
				if err != nil {
					t.Fatalf("%s %s: %v", lang, c.view, err)
				}
				return string(b)
			}
			both := render("/x?status=live&q=<b>", "/x?after=abc")
			nav := `<nav class="pager" aria-label="` + want.label + `">
    <a href="/x?status=live&amp;q=%3cb%3e">` + want.first + `</a>
    <a href="/x?after=abc" rel="next">` + want.next + `</a>
  </nav>`
			if !strings.Contains(both, nav) {
				t.Errorf("%s %s: no pager\n%s\nin\n%s", lang, c.view, nav, both)
			}
			if only := render("", "/n"); strings.Contains(only, want.first) || !strings.Contains(only, `<a href="/n" rel="next">`+want.next+`</a>`) {
				t.Errorf("%s %s on the first page:\n%s", lang, c.view, only)
			}
			if none := render("", ""); strings.Contains(none, `class="pager"`) {
				t.Errorf("%s %s: a pager on a list of one page", lang, c.view)
			}
		}
	}
}
