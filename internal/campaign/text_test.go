package campaign

import (
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/money"
)

// hostileTexts are titles and names that pretend to be something else, or nothing.
var hostileTexts = []struct{ name, text, code string }{
	{"zero-width only", "\u200B\u200D\u2060", "no_visible_character"},
	{"combining marks only", "\u0301\u0302\u0303", "no_visible_character"},
	{"NUL", "Linen\x00Coat", "control_character"},
	{"CR LF", "Linen Coat\r\nSOLD OUT", "line_break"},
	{"right-to-left override", "Coat \u202Eevil", "bidi_control"},
	{"left-to-right isolate", "Coat \u2066evil\u2069", "bidi_control"},
}

func TestHostileTextInCampaignAndTierFields(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := newDraft(t, now)
	for _, tc := range hostileTexts {
		t.Run(tc.name, func(t *testing.T) {
			for field, f := range map[string]Fields{"title": {Title: ptr(tc.text)}, "blurb": {Blurb: ptr(tc.text)}} {
				if _, err := c.Edit(f, "usr_a", now, rules); fieldCodes(t, err)[field] != tc.code {
					t.Errorf("campaign %s %q: %v, want %s", field, tc.text, err, tc.code)
				}
			}
			if _, err := NewTier(c, TierFields{Title: ptr(tc.text), Kind: ptr(KindDigital), Price: &money.Money{Amount: 2000, Currency: "CHF"}}, now); fieldCodes(t, err)["title"] != tc.code {
				t.Errorf("tier title %q: %v, want %s", tc.text, err, tc.code)
			}
		})
	}
	// A story is several lines: line feeds are its paragraphs, but the other tricks stay out.
	if _, err := c.Edit(Fields{Story: ptr("First.\r\n\r\nSecond.")}, "usr_a", now, rules); err != nil {
		t.Errorf("a story with paragraphs: %v", err)
	}
	if _, err := c.Edit(Fields{Story: ptr("First.\n\u202Etxt.exe")}, "usr_a", now, rules); fieldCodes(t, err)["story"] != "bidi_control" {
		t.Errorf("a story with an override: %v", err)
	}
}

func TestTitlesInOtherLanguages(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for title, slug := range map[string]string{
		"Manteau en lin, fait à Zürich": "manteau-en-lin-fait-a-zurich",
		"リネンのコート":                       "リネンのコート",
		"Λινό παλτό":                    "λινό-παλτό",
	} {
		// The decomposed spelling (e + U+0301) is stored as the composed one.
		c, err := New(Fields{Title: ptr(title), Goal: &money.Money{Amount: 100000, Currency: "CHF"},
			Deadline: ptr("2026-12-01"), Timezone: ptr("Europe/Zurich")}, "usr_a", now, rules)
		if err != nil || c.Title != title || c.Slug != slug {
			t.Errorf("New(%q): title %q slug %q err %v, want slug %q", title, c.Title, c.Slug, err, slug)
		}
	}
	c, err := New(Fields{Title: ptr("Cafe\u0301"), Goal: &money.Money{Amount: 100000, Currency: "CHF"},
		Deadline: ptr("2026-12-01"), Timezone: ptr("Europe/Zurich")}, "usr_a", now, rules)
	if err != nil || c.Title != "Café" {
		t.Errorf("title not stored in NFC: %q %v", c.Title, err)
	}
}

func TestTimezonesMustBeCanonical(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := newDraft(t, now)
	for _, tz := range []string{"Europe/Zurich", "America/Argentina/Buenos_Aires", "Asia/Tokyo", "Pacific/Auckland", "UTC", "Asia/Calcutta"} {
		if _, err := c.Edit(Fields{Timezone: ptr(tz)}, "usr_a", now, rules); err != nil {
			t.Errorf("timezone %q refused: %v", tz, err)
		}
	}
	for _, tz := range []string{"posixrules", "Factory", "right/UTC", "posix/Europe/Zurich", "EST5EDT", "CET", "US/Eastern",
		"Etc/GMT+5", "GMT", "Local", "", "Europe/../Europe/Zurich", "Europe/Zurich/", "europe/zurich", "Europe/Atlantis", "Mars/Olympus"} {
		if _, err := c.Edit(Fields{Timezone: ptr(tz)}, "usr_a", now, rules); fieldCodes(t, err)["timezone"] != "invalid" {
			t.Errorf("timezone %q: %v, want timezone invalid", tz, err)
		}
	}
}

func TestDeadlinesAreWholeSeconds(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := newDraft(t, now)
	for _, d := range []string{"2026-12-01T12:00:00.5Z", "2026-12-01T12:00:00.000000001+01:00"} {
		if _, err := c.Edit(Fields{Deadline: ptr(d)}, "usr_a", now, rules); fieldCodes(t, err)["deadline"] != "fractional_seconds" {
			t.Errorf("deadline %q: %v, want fractional_seconds", d, err)
		}
	}
	for _, d := range []string{"2026-12-01T12:00:00Z", "2026-12-01T12:00:00.000Z", "2026-12-01"} {
		if _, err := c.Edit(Fields{Deadline: ptr(d)}, "usr_a", now, rules); err != nil {
			t.Errorf("deadline %q refused: %v", d, err)
		}
	}
}
