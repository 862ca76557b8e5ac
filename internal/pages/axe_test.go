package pages_test

import (
	"net/url"
	"testing"

	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/locale"
)

// No page has a serious or critical accessibility violation by axe-core's rules (contrast,
// labels, names, landmarks, lang…), in either language.
func TestBrowserAccessibilityWithAxe(t *testing.T) {
	browser.ForTest(t)
	axe := browser.AxeScript(t)
	s := startSite(t)
	d := s.demo()
	mine := s.pledgeCoat(d, "Camille")
	paths := []string{"/", "/campaigns/" + d.Geneva.Slug, "/campaigns/" + d.Geneva.Slug + "/pledge?tier=" + d.Geneva.Tiers["The Pâquis linen coat"], "/campaigns/nope",
		// The magic link lands on the manage page (and gives this tab the pledge's cookie).
		"/pledges/" + mine.id + "/manage?token=" + url.QueryEscape(mine.token), "/pledges/" + mine.id + "/change", "/pledges/" + mine.id + "/cancel"}
	for _, lang := range locale.Languages {
		p := tab(t, lang+"-CH,"+lang)
		for _, path := range paths {
			navigate(t, p, s.base+path)
			browser.CheckAxe(t, p, axe, lang+" "+path)
		}
	}
}
