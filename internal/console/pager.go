package console

import "github.com/backstitch/backstitch/internal/locale"

// pager is the pair of links under a list shown a page at a time (backers, fulfilment, the
// admins' campaigns, audit log, runs and a run's findings), with the texts that name them in
// the visitor's language; the "console-pager" partial renders it, and nothing when the list
// fits on one page. The lists page by position (the last row seen), not by number, so the
// first page is told by First being empty rather than by a page number.
type pager struct {
	// Label names the links for screen readers (the nav's aria-label).
	Label string
	// First leads back to the start of the list, from any page after the first.
	First, FirstText string
	// Next leads to the rows after this page's, when there are some.
	Next, NextText string
}

// pagerTexts are the catalogue keys of one list's pager: its name and its two links' texts.
type pagerTexts struct{ label, first, next string }

var (
	backersPager   = pagerTexts{label: "console.backers.pages", first: "console.backers.first", next: "console.backers.next"}
	campaignsPager = pagerTexts{label: "admin.campaigns.pages", first: "console.backers.first", next: "admin.campaigns.next"}
	auditPager     = pagerTexts{label: "admin.audit.pages", first: "admin.audit.newest", next: "admin.audit.older"}
	runsPager      = pagerTexts{label: "admin.runs.pages", first: "admin.runs.newest", next: "admin.runs.older"}
	findingsPager  = pagerTexts{label: "admin.run.pages", first: "admin.run.first", next: "admin.run.next"}
)

// newPager is a list's pager in loc: first is "" on the first page, next "" on the last.
func newPager(loc locale.Locale, texts pagerTexts, first, next string) pager {
	return pager{Label: loc.T(texts.label), First: first, FirstText: loc.T(texts.first), Next: next, NextText: loc.T(texts.next)}
}
