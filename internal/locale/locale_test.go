package locale

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/text/language"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/testenv/french"
)

var verb = regexp.MustCompile(`%[dsv%]`)

// A key in one language and not another, an empty message, a plural without the forms its
// language needs, or a translation that drops or adds a %s: each fails here, not on a page.
func TestCataloguesAgree(t *testing.T) {
	ref := catalogs[Languages[0]]
	if len(ref.Messages) < 20 || len(ref.Plurals) < 3 {
		t.Fatalf("reference catalogue looks empty: %d messages, %d plurals", len(ref.Messages), len(ref.Plurals))
	}
	for _, lang := range Languages {
		c := catalogs[lang]
		for _, other := range Languages {
			for key := range catalogs[other].Messages {
				if _, ok := c.Messages[key]; !ok {
					t.Errorf("%s: message %q is missing (it exists in %s)", lang, key, other)
				}
			}
			for key := range catalogs[other].Plurals {
				if _, ok := c.Plurals[key]; !ok {
					t.Errorf("%s: plural %q is missing (it exists in %s)", lang, key, other)
				}
			}
		}
		for key, msg := range c.Messages {
			if msg == "" {
				t.Errorf("%s: message %q is empty", lang, key)
			}
			if refMsg, ok := ref.Messages[key]; ok && !slices.Equal(verb.FindAllString(msg, -1), verb.FindAllString(refMsg, -1)) {
				t.Errorf("%s: message %q has placeholders %v, %s has %v", lang, key, verb.FindAllString(msg, -1), Languages[0], verb.FindAllString(refMsg, -1))
			}
		}
		for key, forms := range c.Plurals {
			var got []string
			for f, msg := range forms {
				got = append(got, f)
				if msg == "" {
					t.Errorf("%s: plural %q form %q is empty", lang, key, f)
				}
			}
			slices.Sort(got)
			if want := pluralForms[lang]; !slices.Equal(got, want) {
				t.Errorf("%s: plural %q has forms %v, the language needs %v", lang, key, got, want)
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct{ cookie, accept, lang, format string }{
		{"", "", "en", "en-CH"},
		{"", "fr-CH,fr;q=0.9,en;q=0.8", "fr", "fr-CH"},
		{"", "fr-FR", "fr", "fr-FR"},
		{"", "en-US,en;q=0.9", "en", "en-US"},
		{"", "de-CH,de;q=0.9,fr;q=0.5", "fr", "fr-CH"}, // no German: French is spoken in Switzerland too
		{"", "ja", "en", "en-CH"},
		{"fr", "en-US", "fr", "fr-CH"}, // the switch wins; en-US's region is not French's
		{"en", "fr-CH,en-GB;q=0.5", "en", "en-GB"},
		{"de", "fr-CH", "fr", "fr-CH"}, // a cookie for a language we do not speak is ignored
		{"", "garbage;;q=x", "en", "en-CH"},
	}
	// Twice: the second answer comes from what Negotiate remembers.
	for range 2 {
		for _, c := range cases {
			l := Negotiate(c.cookie, c.accept)
			if l.Lang != c.lang || l.Format.String() != c.format {
				t.Errorf("Negotiate(%q, %q) = %s/%s, want %s/%s", c.cookie, c.accept, l.Lang, l.Format, c.lang, c.format)
			}
		}
	}
}

// A client sending a new Accept-Language each time (or one far longer than any browser's) must
// not grow what Negotiate remembers without bound, and is still answered right.
func TestNegotiateRemembersABoundedNumber(t *testing.T) {
	for i := range maxNegotiations + 100 {
		if l := Negotiate("", fmt.Sprintf("fr-CH;q=0.%03d", i%999+1)+strings.Repeat(",de;q=0.001", i/999)); l.Lang != "fr" {
			t.Fatalf("answer %d: %s", i, l.Lang)
		}
	}
	if l := Negotiate("", "fr-FR,"+strings.Repeat("en;q=0.1,", 100)); l.Format.String() != "fr-FR" {
		t.Fatalf("a long header: %s", l.Format)
	}
	negotiationsMu.RLock()
	n := len(negotiations)
	negotiationsMu.RUnlock()
	if n > maxNegotiations {
		t.Fatalf("%d answers remembered, the bound is %d", n, maxNegotiations)
	}
}

// A remembered answer costs a public read no allocation, its format's name included (it is part
// of the public cache's key).
func TestRememberedNegotiationAllocatesNothing(t *testing.T) {
	Negotiate("", "fr-CH,fr;q=0.9,en;q=0.8")
	var name string
	if n := testing.AllocsPerRun(100, func() {
		name = Negotiate("", "fr-CH,fr;q=0.9,en;q=0.8").FormatName()
	}); n != 0 {
		t.Errorf("a remembered negotiation allocates %v times", n)
	}
	if name != "fr-CH" {
		t.Errorf("format name %q, want fr-CH", name)
	}
}

func BenchmarkNegotiate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Negotiate("", "fr-CH,fr;q=0.9,en;q=0.8")
	}
}

func TestMoneyFollowsCLDR(t *testing.T) {
	loc := func(s string) Locale {
		tag := language.MustParse(s)
		base, _ := tag.Base()
		return Locale{Lang: base.String(), Format: tag}
	}
	cases := []struct {
		locale string
		m      money.Money
		want   string
	}{
		{"en-CH", money.Money{Amount: 150000, Currency: "CHF"}, "CHF\u00a01’500.00"},
		{"fr-CH", money.Money{Amount: 150050, Currency: "CHF"}, "1\u202f500.50\u00a0CHF"},
		{"en-US", money.Money{Amount: 123456789, Currency: "USD"}, "USD\u00a01,234,567.89"},
		{"fr-FR", money.Money{Amount: 2550, Currency: "EUR"}, "25,50\u00a0EUR"},
		{"en-CH", money.Money{Amount: 500, Currency: "JPY"}, "JPY\u00a0500"},
		{"fr-CH", money.Money{Amount: 1500000, Currency: "JPY"}, "1\u202f500\u202f000\u00a0JPY"},
		{"fr-FR", money.Money{Amount: 123456789, Currency: "EUR"}, "1\u202f234\u202f567,89\u00a0EUR"},
		{"en-CH", money.Money{Amount: 7, Currency: "CHF"}, "CHF\u00a00.07"},
	}
	for _, c := range cases {
		if got := loc(c.locale).Money(c.m); got != c.want {
			t.Errorf("%s %v = %q, want %q", c.locale, c.m, got, c.want)
		}
	}
}

func TestDatesAndTimeLeft(t *testing.T) {
	zurich, _ := time.LoadLocation("Europe/Zurich")
	deadline := time.Date(2026, 12, 3, 22, 59, 59, 0, time.UTC) // 23:59:59 in Zurich (CET)
	en, fr := Negotiate("", "en-CH"), Negotiate("", "fr-CH")
	if got := en.DateTime(deadline, zurich); got != "3 December 2026 at 23:59 (Zurich time)" {
		t.Errorf("en: %q", got)
	}
	if got := fr.DateTime(deadline, zurich); got != "3 décembre 2026 à 23:59 (heure de Zurich)" {
		t.Errorf("fr: %q", got)
	}
	// UTC is not a place: no "heure de UTC".
	if got := fr.DateTime(deadline, time.UTC); got != "3 décembre 2026 à 22:59 (UTC)" {
		t.Errorf("fr UTC: %q", got)
	}
	if got := en.DateTime(deadline, time.UTC); got != "3 December 2026 at 22:59 (UTC)" {
		t.Errorf("en UTC: %q", got)
	}
	if got := fr.Number(12345); got != "12\u202f345" {
		t.Errorf("fr number: %q", got)
	}
	// The same instant is the next day in Tokyo.
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	if got := en.Date(deadline, tokyo); got != "4 December 2026" {
		t.Errorf("tokyo: %q", got)
	}
	if got := fr.Month("2027-03"); got != "mars 2027" {
		t.Errorf("month: %q", got)
	}
	now := deadline.Add(-30 * 24 * time.Hour)
	for _, c := range []struct {
		l    Locale
		d    time.Duration
		want string
	}{
		{en, 30 * 24 * time.Hour, "30 days left"},
		{en, 47 * time.Hour, "47 hours left"},
		{en, 61 * time.Minute, "1 hour left"},
		{fr, 61 * time.Minute, "1 heure restante"},
		{fr, 30 * time.Second, "1 minute restante"},
		{fr, 0, "Terminée"},
		{fr, 5 * 24 * time.Hour, "5 jours restants"},
	} {
		if got := c.l.TimeLeft(now, now.Add(c.d)); got != c.want {
			t.Errorf("%s %v: %q, want %q", c.l.Lang, c.d, got, c.want)
		}
	}
	for _, c := range []struct {
		l          Locale
		zone, want string
	}{
		{en, "CH", "Switzerland"}, {fr, "CH", "Suisse"}, {fr, "DE", "Allemagne"}, {fr, "EU", "Union européenne"}, {en, "WORLD", "Rest of the world"},
	} {
		if got := c.l.Zone(c.zone); got != c.want {
			t.Errorf("%s zone %s: %q, want %q", c.l.Lang, c.zone, got, c.want)
		}
	}
	if got := fr.Plural("campaign.backers", 0); got != "0 contributeur" {
		t.Errorf("French 0 is singular: %q", got)
	}
	if got := en.Plural("campaign.backers", 0); got != "0 backers" {
		t.Errorf("English 0 is plural: %q", got)
	}
}

// A label's colon follows each language's rule: right after the word in English, after a narrow
// no-break space in French.
func TestLabel(t *testing.T) {
	if got := Label("en", "Amount"); got != "Amount:" {
		t.Errorf("en: %q", got)
	}
	if got := Label("fr", "Montant"); got != "Montant\u202f:" {
		t.Errorf("fr: %q", got)
	}
}

// Every French message is punctuated the French way: a narrow no-break space before : ; ! ?
// and inside « », so none of them wraps away from its word.
func TestFrenchCatalogueIsPunctuatedTheFrenchWay(t *testing.T) {
	c := catalogs["fr"]
	for key, msg := range c.Messages {
		french.CheckText(t, key, msg, "")
	}
	for key, forms := range c.Plurals {
		for form, msg := range forms {
			french.CheckText(t, key+"."+form, msg, "")
		}
	}
}

// A configured length of time reads in the largest unit that says it exactly, in each language.
func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		en, fr string
	}{
		{168 * time.Hour, "7 days", "7 jours"},
		{24 * time.Hour, "1 day", "1 jour"},
		{36 * time.Hour, "36 hours", "36 heures"},
		{time.Hour, "1 hour", "1 heure"},
		{90 * time.Minute, "90 minutes", "90 minutes"},
	} {
		if got := Negotiate("", "en").Span(tc.d); got != tc.en {
			t.Errorf("en %s: %q, want %q", tc.d, got, tc.en)
		}
		if got := Negotiate("", "fr").Span(tc.d); got != tc.fr {
			t.Errorf("fr %s: %q, want %q", tc.d, got, tc.fr)
		}
	}
}

// A server hands Negotiate cookies that point into request buffers it reuses (Fiber's strings
// are unsafe conversions): what Negotiate remembers must not keep such memory, or a later
// request reads whatever the buffer holds then. The French survey page came out in English.
func TestNegotiateKeepsNoCallersMemory(t *testing.T) {
	buf := []byte("fr")
	cookie := unsafe.String(&buf[0], len(buf))
	if l := Negotiate(cookie, "en-GB,en;q=0.5"); l.Lang != "fr" {
		t.Fatalf("first answer: %s", l.Lang)
	}
	copy(buf, "en") // the buffer is reused by the next request
	if l := Negotiate("fr", "en-GB,en;q=0.5"); l.Lang != "fr" {
		t.Fatalf("the remembered answer changed with the caller's buffer: %s", l.Lang)
	}
}
