// Package locale holds what people read in their language: one message catalogue per language
// (JSON, embedded), the negotiation of which language a visitor gets, and the formatting of money
// and dates for a locale by CLDR's conventions (digits and separators from golang.org/x/text).
// Pages, consoles and mail call it through templates as `t "key"`, `plural "key" n` and
// `label "key"`.
package locale

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"github.com/backstitch/backstitch/internal/money"
)

// Languages are the languages the service speaks, the first being the default.
var Languages = []string{"en", "fr"}

// pluralForms are the CLDR plural categories each language's plural messages must give. Both
// languages have "one" and "other" for whole numbers (French "one" covers 0 and 1).
var pluralForms = map[string][]string{"en": {"one", "other"}, "fr": {"one", "other"}}

// pluralCategory is CLDR's cardinal rule for whole numbers.
func pluralCategory(lang string, n int64) string {
	switch {
	case lang == "fr" && (n == 0 || n == 1):
		return "one"
	case lang == "en" && n == 1:
		return "one"
	}
	return "other"
}

//go:embed catalog/*.json
var catalogFS embed.FS

// catalog is one language's messages: plain ones, and plural ones by CLDR category.
type catalog struct {
	Messages map[string]string            `json:"messages"`
	Plurals  map[string]map[string]string `json:"plurals"`
}

var catalogs = mustLoad()

func mustLoad() map[string]catalog {
	out := map[string]catalog{}
	for _, lang := range Languages {
		b, err := catalogFS.ReadFile("catalog/" + lang + ".json")
		if err != nil {
			panic(err)
		}
		var c catalog
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			panic(fmt.Sprintf("locale: catalog/%s.json: %v", lang, err))
		}
		out[lang] = c
	}
	return out
}

// Locale is the language a visitor reads and the region whose conventions format their numbers.
type Locale struct {
	// Lang is one of Languages.
	Lang string
	// Format is the tag numbers are formatted for: Lang with the visitor's region (fr-CH, en-US).
	Format language.Tag
	// formatName is Format's name, made once when the locale is negotiated.
	formatName string
}

// FormatName is Format's name (fr-CH), without making it again for every request that asks.
func (l Locale) FormatName() string {
	if l.formatName != "" {
		return l.formatName
	}
	return l.Format.String()
}

// homeRegion formats numbers when the visitor's browser names no region: Backstitch is run
// from Geneva, and its designers and backers are mostly Swiss.
var homeRegion = language.MustParseRegion("CH")

var matcher = language.NewMatcher([]language.Tag{language.English, language.French})

// Negotiate picks the visitor's locale: the language remembered in the lang cookie when it is one
// we speak, else the best match for Accept-Language, else English. The region comes from the
// browser's preference for that language, so a remembered "fr" in a browser set to en-CH formats
// as fr-CH.
func Negotiate(cookie, acceptLanguage string) Locale {
	// Every public request negotiates, and parsing a header allocates about a kilobyte; browsers
	// send few distinct headers, so the answers are remembered, up to a bound that a client
	// sending a new header each time cannot grow past.
	// (A map under a read lock rather than a sync.Map: its key would be boxed, an allocation
	// on every request.)
	key := negotiated{cookie, acceptLanguage}
	negotiationsMu.RLock()
	l, ok := negotiations[key]
	negotiationsMu.RUnlock()
	if ok {
		return l
	}
	l = negotiate(cookie, acceptLanguage)
	if len(acceptLanguage) <= maxRememberedHeader {
		negotiationsMu.Lock()
		if len(negotiations) < maxNegotiations {
			negotiations[negotiated{strings.Clone(cookie), strings.Clone(acceptLanguage)}] = l
		}
		negotiationsMu.Unlock()
	}
	return l
}

type negotiated struct{ cookie, acceptLanguage string }

// negotiations remembers Negotiate's answers, up to maxNegotiations of them.
var (
	negotiationsMu sync.RWMutex
	negotiations   = map[negotiated]Locale{}
)

const (
	maxNegotiations     = 4096
	maxRememberedHeader = 256
)

func negotiate(cookie, acceptLanguage string) Locale {
	tags, _, _ := language.ParseAcceptLanguage(acceptLanguage)
	lang := ""
	if i := slices.Index(Languages, cookie); i >= 0 {
		// Languages' own string, not cookie: a caller's cookie may point into a request buffer
		// that is reused, and the answer is remembered beyond the request.
		lang = Languages[i]
	} else if len(tags) > 0 {
		if _, i, conf := matcher.Match(tags...); conf != language.No {
			lang = Languages[i]
		}
	}
	if lang == "" {
		lang = Languages[0]
	}
	region := homeRegion
	for _, t := range tags {
		base, _ := t.Base()
		if r, conf := t.Region(); base.String() == lang && conf == language.Exact {
			region = r
			break
		}
	}
	tag, err := language.Compose(language.Make(lang), region)
	if err != nil {
		tag = language.Make(lang)
	}
	return Locale{Lang: lang, Format: tag, formatName: tag.String()}
}

// Supported reports whether lang is a language the service speaks.
func Supported(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// T returns the message for key in lang, with args filled in fmt-style. An unknown key returns
// the key itself so a page still renders; the catalogue tests catch it before that can ship.
func T(lang, key string, args ...any) string {
	msg, ok := catalogs[lang].Messages[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// TOr returns the message for key, or fallback when the catalogue has none (a domain message in
// English for a code the catalogue has no words for yet).
func (l Locale) TOr(key, fallback string) string {
	if _, ok := catalogs[l.Lang].Messages[key]; !ok {
		return fallback
	}
	return T(l.Lang, key)
}

// Plural returns the message for key in the form CLDR's rule picks for n, with n filled in.
func Plural(lang, key string, n int64) string {
	forms, ok := catalogs[lang].Plurals[key]
	if !ok {
		return key
	}
	msg := forms[pluralCategory(lang, n)]
	if !strings.Contains(msg, "%") {
		return msg
	}
	return fmt.Sprintf(msg, n)
}

// Label sets a label before its value ("Amount: ", "Montant : "): the catalogue's "label"
// message holds each language's colon and the space before it (French puts a narrow no-break
// space there, so the colon never wraps to a line of its own).
func Label(lang, text string) string { return T(lang, "label", text) }

// T is T for this locale's language.
func (l Locale) T(key string, args ...any) string { return T(l.Lang, key, args...) }

// Plural is Plural for this locale's language.
func (l Locale) Plural(key string, n int64) string { return Plural(l.Lang, key, n) }

// digitsTag is the tag whose digit grouping and decimal mark x/text applies for this locale.
// x/text's tables lack CLDR's en-CH override (1’500.00, as de-CH writes it) and fall back to
// en-150 (1.500,00), which no Swiss reader expects; de-CH carries the same symbols.
func (l Locale) digitsTag() language.Tag {
	if l.Lang == "en" && l.swiss() {
		return language.MustParse("de-CH")
	}
	return l.Format
}

// Money formats m for the locale: the currency's own number of decimals (none for JPY), the
// locale's grouping and decimal mark, and the ISO code where CLDR's pattern puts the currency —
// before the number in English (CHF 1’500.00), after it in French (1 500.00 CHF in Switzerland,
// 1 500,00 CHF in France). The ISO code rather than a symbol keeps francs, dollars and crowns
// apart for an international audience.
func (l Locale) Money(m money.Money) string {
	exp := 2
	if c, ok := money.LookupCurrency(m.Currency); ok {
		exp = c.Exponent
	}
	// Amounts stay below 10^8 minor units (Stripe's limit), exact in a float64 at this scale.
	major := float64(m.Amount) / math.Pow10(exp)
	digits := l.group(message.NewPrinter(l.digitsTag()).Sprint(number.Decimal(major, number.Scale(exp))))
	if l.Lang == "fr" {
		if l.swiss() {
			// CLDR's fr-CH marks the decimals of money with a point (1 500.50 CHF), as prices
			// are written in Switzerland; x/text's tables predate it.
			digits = strings.Replace(digits, ",", ".", 1)
		}
		return digits + "\u00a0" + m.Currency
	}
	return m.Currency + "\u00a0" + digits
}

// Number formats a whole number with the locale's grouping (1’234, 1 234).
func (l Locale) Number(n int64) string {
	return l.group(message.NewPrinter(l.digitsTag()).Sprint(number.Decimal(n)))
}

// group sets French digit groups apart with the narrow no-break space CLDR has used since
// version 34 (1 500); x/text's tables still give the wider no-break space.
func (l Locale) group(digits string) string {
	if l.Lang != "fr" {
		return digits
	}
	return strings.ReplaceAll(digits, "\u00a0", "\u202f")
}

// swiss reports whether the locale formats for Switzerland or Liechtenstein.
func (l Locale) swiss() bool {
	r, _ := l.Format.Region()
	return r.String() == "CH" || r.String() == "LI"
}

// Date formats the day of t in loc: "3 December 2026", "3 décembre 2026" (CLDR's long date for
// en-GB/en-CH and fr).
func (l Locale) Date(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return fmt.Sprintf("%d %s %d", t.Day(), l.T(monthKeys[t.Month()-1]), t.Year())
}

// DateTime formats t in loc with the hour and the zone's place: "3 December 2026 at 23:59
// (Zurich time)", "3 décembre 2026 à 23:59 (heure de Zurich)"; UTC is no place, so it is named
// as it is: "(UTC)".
func (l Locale) DateTime(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	if name := loc.String(); name == "UTC" || name == "Etc/UTC" {
		return l.T("date.at_utc", l.Date(t, loc), t.Format("15:04"))
	}
	return l.T("date.at", l.Date(t, loc), t.Format("15:04"), Place(loc))
}

// Month formats a month given as YYYY-MM ("March 2027", "mars 2027"); anything else is returned
// as it is.
func (l Locale) Month(yyyymm string) string {
	t, err := time.Parse("2006-01", yyyymm)
	if err != nil {
		return yyyymm
	}
	return fmt.Sprintf("%s %d", l.T(monthKeys[t.Month()-1]), t.Year())
}

// Zone names a shipping zone: a country by its name in the locale's language ("Suisse"), the
// European Union, or the rest of the world.
func (l Locale) Zone(zone string) string {
	switch zone {
	case "EU":
		return l.T("zone.eu")
	case "WORLD":
		return l.T("zone.world")
	}
	r, err := language.ParseRegion(zone)
	if err != nil {
		return zone
	}
	if name := display.Regions(language.Make(l.Lang)).Name(r); name != "" {
		return name
	}
	return zone
}

// Place is the city of a tz database zone, as people name their time: "Europe/Zurich" → "Zurich",
// "America/New_York" → "New York".
func Place(loc *time.Location) string {
	name := loc.String()
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return strings.ReplaceAll(name, "_", " ")
}

// TimeLeft says in words how long until deadline: days while two or more are left, then hours,
// then minutes; "ended" once it has passed.
func (l Locale) TimeLeft(now, deadline time.Time) string {
	d := deadline.Sub(now)
	switch {
	case d <= 0:
		return l.T("time.ended")
	case d >= 48*time.Hour:
		return l.Plural("time.days_left", int64(d/(24*time.Hour)))
	case d >= time.Hour:
		return l.Plural("time.hours_left", int64(d/time.Hour))
	}
	return l.Plural("time.minutes_left", max(1, int64(d/time.Minute)))
}

// Span says a configured length of time in words, in the largest unit that states it exactly:
// "7 days", "36 hours", "90 minutes" (so a dunning window of 168h reads "7 days", never "a week"
// when it is not one).
func (l Locale) Span(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return l.Plural("time.span_days", int64(d/(24*time.Hour)))
	case d >= time.Hour && d%time.Hour == 0:
		return l.Plural("time.span_hours", int64(d/time.Hour))
	}
	return l.Plural("time.span_minutes", max(1, int64(d/time.Minute)))
}

var monthKeys = []string{"month.1", "month.2", "month.3", "month.4", "month.5", "month.6",
	"month.7", "month.8", "month.9", "month.10", "month.11", "month.12"}

// DeclineKey is the catalogue key that says a card decline in plain words, from Stripe's code and
// decline code; Stripe's own message is never shown to a backer (it may name the card). Mail and
// pages share it.
func DeclineKey(code, declineCode string) string {
	for _, c := range []string{declineCode, code} {
		switch c {
		case "insufficient_funds", "expired_card", "authentication_required", "incorrect_cvc":
			return "decline." + c
		}
	}
	return "decline.generic"
}
