package pages

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/locale"
)

// The language switch, shared by the backers' pages and the designers' console: one cookie for
// the whole site, a link to the same address in the other language, and the redirect that
// remembers the choice.

const (
	// LanguageCookie remembers the language a visitor chose with the switch, for a year.
	LanguageCookie = "lang"
	langMaxAge     = 365 * 24 * time.Hour
)

// SwitchLink is the visible language switch: the same page in the other language.
type SwitchLink struct{ Href, Lang, Name string }

// Negotiate is the visitor's locale: the switch's cookie, else the browser's Accept-Language.
func Negotiate(c *fiber.Ctx) locale.Locale {
	return locale.Negotiate(c.Cookies(LanguageCookie), c.Get(fiber.HeaderAcceptLanguage))
}

// LanguageSwitch links to the current address with query (nil for a cached page, whose bytes
// must not depend on one) in the language other than loc's.
func LanguageSwitch(loc locale.Locale, query map[string]string) SwitchLink {
	other := "fr"
	if loc.Lang == "fr" {
		other = "en"
	}
	q := url.Values{}
	for k, v := range query {
		q.Set(k, v)
	}
	q.Set(LanguageCookie, other)
	return SwitchLink{Href: "?" + q.Encode(), Lang: other, Name: locale.T(other, "lang.name")}
}

// SwitchLanguage remembers lang (when the site speaks it) and sends the visitor to target, a
// path on this site, with the query as it was but without ?lang=, so each page has one address
// per language choice and the switch never loops.
func SwitchLanguage(c *fiber.Ctx, lang, target string, secure bool) error {
	if locale.Supported(lang) {
		c.Cookie(&fiber.Cookie{Name: LanguageCookie, Value: lang, Path: "/", MaxAge: int(langMaxAge.Seconds()),
			HTTPOnly: true, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode})
	}
	q := c.Context().QueryArgs()
	q.Del(LanguageCookie)
	if s := q.String(); s != "" {
		target += "?" + s
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(target, http.StatusSeeOther)
}
