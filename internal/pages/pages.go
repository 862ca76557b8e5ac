// Package pages serves the backers' HTML pages: the list of live campaigns and each campaign's
// page, in French and English. Handlers only translate HTTP: campaigns come from the campaign
// service (the same rules as the JSON API), templates from the templates package, words, money
// and dates from the locale package.
package pages

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/csrf"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/pubcache"
	"github.com/backstitch/backstitch/internal/ratelimit"
	"github.com/backstitch/backstitch/internal/visits"
	"github.com/backstitch/backstitch/templates"
)

// Routes are the pages' routes, as "METHOD /path" like web.Server.Routes lists them: they are
// HTML for people, not part of the OpenAPI document.
var Routes = []string{"GET /", "GET /campaigns/:slug", "GET /campaigns/:slug/pledge", "POST /campaigns/:slug/pledge", "GET /campaigns/:slug/share.png", "GET /static/:file",
	"GET /pledges/:id/thanks",
	"GET /pledges/:id/manage", "GET /pledges/:id", "GET /pledges/:id/change", "POST /pledges/:id/change",
	"GET /pledges/:id/cancel", "POST /pledges/:id/cancel", "GET /pledges/:id/survey", "POST /pledges/:id/survey",
	"POST /pledges/:id/fix", "GET /pledges/:id/fixed",
	"GET /pledges/recover", "POST /pledges/recover", "GET /unsubscribe", "POST /unsubscribe", "GET /unsubscribe/digest", "POST /unsubscribe/digest", "GET /campaigns/:slug/updates.atom"}

// endingSoon is how close to its deadline a live campaign must be to show under "Ending soon".
const (
	endingSoon    = 7 * 24 * time.Hour
	endingSoonMax = 3
	homeLimit     = 60
)

// Pages renders the backers' pages.
type Pages struct {
	// pledgeLimit brakes scripted pledging per address, counted with the API's pledges.
	pledgeLimit ratelimit.Pledges
	campaigns   *campaign.Service
	accounts    *account.Service
	pledges     *pledge.Service
	engine      *templates.Engine
	now         backstitch.Clock
	// secureCookies marks cookies Secure when the service is reached over https.
	secureCookies bool
	// csrf issues and checks the token every form carries.
	csrf *csrf.Guard
	// csp is the Content-Security-Policy of every page (see ContentSecurityPolicy).
	csp   string
	zones sync.Map // time zone name → *time.Location, loaded once
	// public holds rendered pages (shared with the JSON API's cache, so one invalidation drops
	// both); cacheControl is what a browser or CDN may do with them.
	public       *pubcache.Cache
	cacheControl string
	// publicURL is where the service is reached, for canonical and share links.
	publicURL string
	visits    *visits.Counter
	shares    *shareImages
	mail      Mail
}

// Public is what the cached public pages need from the wiring.
type Public struct {
	// Cache is the cache of rendered public responses and TTL its freshness on other instances.
	Cache *pubcache.Cache
	TTL   time.Duration
	// URL is BACKSTITCH_PUBLIC_URL.
	URL    string
	Visits *visits.Counter
	// PledgeLimit counts new pledges per address, with the API's.
	PledgeLimit ratelimit.Pledges
	// Mail serves the pages mail leads to, and the campaign page's updates.
	Mail Mail
}

// pageFuncs are the functions the backers' views call, in one language.
func pageFuncs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":      func(key string, args ...any) string { return locale.T(lang, key, args...) },
		"plural": func(key string, n int64) string { return locale.Plural(lang, key, n) },
		"label":  func(key string) string { return locale.Label(lang, locale.T(lang, key)) },
	}
}

// New makes the backers' pages (their views are parsed on first use: see templates.Engine).
// checkoutOrigin is where Stripe Checkout is served (https://checkout.stripe.com, or the Stripe
// double's loopback address offline).
func New(campaigns *campaign.Service, accounts *account.Service, pledges *pledge.Service, now backstitch.Clock, secureCookies bool, guard *csrf.Guard, checkoutOrigin string, pub Public) (*Pages, error) {
	engine, err := templates.New("views", locale.Languages, pageFuncs)
	if err != nil {
		return nil, err
	}
	shares, err := newShareImages(now)
	if err != nil {
		return nil, err
	}
	return &Pages{pledgeLimit: pub.PledgeLimit, campaigns: campaigns, accounts: accounts, pledges: pledges, engine: engine, now: now, secureCookies: secureCookies, csrf: guard,
		csp: ContentSecurityPolicy(checkoutOrigin), public: pub.Cache, cacheControl: pageCacheControl(pub.TTL),
		publicURL: strings.TrimRight(pub.URL, "/"), visits: pub.Visits, shares: shares, mail: pub.Mail}, nil
}

// Mount registers the pages' routes on r.
func (p *Pages) Mount(r fiber.Router) {
	r.Get("/", p.cached("home", "", p.home))
	r.Get("/campaigns/:slug", p.cached("campaign", "slug", p.campaign))
	r.Get("/campaigns/:slug/pledge", p.page(p.pledge))
	r.Post("/campaigns/:slug/pledge", p.page(p.submitPledge))
	r.Get("/pledges/:id/thanks", p.page(p.thanks))
	r.Get("/campaigns/:slug/share.png", p.shareImage)
	r.Get("/campaigns/:slug/updates.atom", p.updatesFeed)
	r.Get("/static/:file", p.static)
	// Before /pledges/:id, which would take "recover" for an id.
	r.Get(recoverPath, p.page(p.recoverForm))
	r.Post(recoverPath, p.page(p.recoverSubmit))
	r.Get("/unsubscribe", p.page(p.unsubscribeConfirm))
	r.Post("/unsubscribe", p.page(p.unsubscribe))
	r.Get(digestOffPath, p.page(p.digestOffConfirm))
	r.Post(digestOffPath, p.page(p.digestOff))
	r.Get("/pledges/:id/manage", p.page(p.exchange))
	r.Get("/pledges/:id", p.page(p.manage))
	r.Get("/pledges/:id/change", p.page(p.change))
	r.Post("/pledges/:id/change", p.page(p.changeSubmit))
	r.Get("/pledges/:id/cancel", p.page(p.cancelConfirm))
	r.Post("/pledges/:id/cancel", p.page(p.cancelSubmit))
	r.Get("/pledges/:id/survey", p.page(p.survey))
	r.Post("/pledges/:id/survey", p.page(p.surveySubmit))
	r.Post("/pledges/:id/fix", p.page(p.fixSubmit))
	r.Get("/pledges/:id/fixed", p.page(p.fixed))
}

// ContentSecurityPolicy is the one policy of every page: nothing loads but our own stylesheet,
// script file and images, no inline script runs at all (so no per-response nonce, and a page's
// bytes can be cached and shared), forms post only to us, and no site may frame a page
// (clickjacking). Stripe Checkout's origin is allowed as a form's destination because browsers
// apply form-action to the redirect that answers the pledge form too; pages that send nowhere
// else (the console) pass "".
func ContentSecurityPolicy(checkoutOrigin string) string {
	formAction := "'self'"
	if checkoutOrigin != "" {
		formAction += " " + checkoutOrigin
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"form-action " + formAction + "; base-uri 'none'; frame-ancestors 'none'"
}

// base is what the layout needs on every page.
type base struct {
	Lang       string
	Title      string
	Stylesheet string
	Script     string
	Switch     SwitchLink
	// Refresh, when set, reloads the page after this many seconds (a pledge being confirmed).
	Refresh int
	// Share, when set, is the page's Open Graph and Twitter card description.
	Share *shareMeta
}

// shareMeta is what a social network shows of a shared page.
type shareMeta struct {
	Title, Description, URL, Image string
}

// view is what a handler answers: a template and its data, or an error.
type view struct {
	status int
	name   string
	data   any
	// redirect, when set, answers status (301 by default) to this address instead of a page.
	redirect string
	// private pages show one backer's data: no cache anywhere may keep them.
	private bool
}

// request is what a handler gets: the visitor's locale and the page's common data.
type request struct {
	c   *fiber.Ctx
	loc locale.Locale
	base
}

func (p *Pages) page(h func(r *request) (view, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if lang := c.Query(LanguageCookie); lang != "" {
			return p.switchLanguage(c, lang)
		}
		r := p.newRequest(c)
		v, err := h(r)
		if err != nil {
			return p.fail(r, err)
		}
		if v.private {
			c.Set(fiber.HeaderCacheControl, "no-store")
		}
		if v.redirect != "" {
			if v.status == 0 {
				v.status = http.StatusMovedPermanently
			}
			return c.Redirect(v.redirect, v.status)
		}
		if v.status == 0 {
			v.status = http.StatusOK
		}
		return p.send(r, v)
	}
}

// switchLanguage remembers the chosen language and sends the visitor back to the same address.
func (p *Pages) switchLanguage(c *fiber.Ctx, lang string) error {
	// The path as the browser sent it (still percent-encoded), not the decoded one routes see.
	target := string(c.Request().URI().PathOriginal())
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		target = "/" // never a redirect to another host
	}
	return SwitchLanguage(c, lang, target, p.secureCookies)
}

func (p *Pages) newRequest(c *fiber.Ctx) *request {
	loc := Negotiate(c)
	return &request{c: c, loc: loc, base: baseFor(loc, LanguageSwitch(loc, c.Queries()))}
}

// baseFor is the common data of a page in loc with its language switch.
func baseFor(loc locale.Locale, sw SwitchLink) base {
	return base{Lang: loc.Lang, Stylesheet: templates.StylesheetPath, Script: templates.ScriptPath, Switch: sw}
}

// send renders v into a buffer and answers it with the pages' security headers; a template that
// fails answers the error page instead of half a page.
func (p *Pages) send(r *request, v view) error {
	body, err := p.engine.Render(r.Lang, v.name, v.data)
	if err != nil {
		zerolog.Ctx(r.c.UserContext()).Error().Err(err).Str("view", v.name).Msg("render page")
		return p.sendError(r)
	}
	p.headers(r)
	if v.private {
		r.c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return r.c.Status(v.status).Send(body)
}

func (p *Pages) headers(r *request) {
	r.c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	r.c.Set(fiber.HeaderContentSecurityPolicy, p.csp)
	// The page depends on these; a shared cache must not serve one visitor's language to another.
	r.c.Set(fiber.HeaderVary, "Accept-Language, Cookie")
	r.c.Set(fiber.HeaderCacheControl, "no-cache")
	r.c.Set(fiber.HeaderContentLanguage, r.Lang)
}

// fail answers an error as a page: not found is the 404 page, anything else the error page.
func (p *Pages) fail(r *request, err error) error {
	if e, ok := errors.AsType[*backstitch.Error](err); ok && e.Code == backstitch.CodeNotFound {
		return p.send(r, p.notFound(r))
	}
	zerolog.Ctx(r.c.UserContext()).Error().Err(err).Str("path", r.c.Path()).Msg("page failed")
	return p.sendError(r)
}

// sendError answers 500 with the error page, or with fixed HTML when even that cannot render.
func (p *Pages) sendError(r *request) error {
	id, _ := r.c.Locals("request_id").(string)
	b := r.base
	b.Title = locale.T(r.Lang, "error.title")
	body, err := p.engine.Render(r.Lang, "error", errorView{base: b, Reference: id})
	if err != nil {
		body = []byte(fallbackErrorPage)
	}
	p.headers(r)
	return r.c.Status(http.StatusInternalServerError).Send(body)
}

// fallbackErrorPage needs no template, no catalogue and no stylesheet.
const fallbackErrorPage = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error · Backstitch</title></head>` +
	`<body><main><h1>Something went wrong</h1><p>Please try again in a moment.</p><p lang="fr">Une erreur s’est produite. Réessayez dans un instant.</p></main></body></html>`

type errorView struct {
	base
	Reference string
}

func (p *Pages) notFound(r *request) view {
	b := r.base
	b.Title = r.loc.T("notfound.title")
	return view{status: http.StatusNotFound, name: "not_found", data: struct{ base }{b}}
}

// NotFound answers the 404 page, for addresses no route serves that a browser asked for.
func (p *Pages) NotFound(c *fiber.Ctx) error {
	r := p.newRequest(c)
	return p.send(r, p.notFound(r))
}

func (p *Pages) static(c *fiber.Ctx) error {
	switch "/static/" + c.Params("file") {
	case templates.StylesheetPath:
		c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
		c.Set(fiber.HeaderCacheControl, immutable)
		return c.Send(templates.Stylesheet)
	case templates.ScriptPath:
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		c.Set(fiber.HeaderCacheControl, immutable)
		return c.Send(templates.Script)
	}
	return p.NotFound(c)
}

// immutable is the caching of files whose name carries their content's hash: a new version has a
// new address, so the old one may be kept for a year.
const immutable = "public, max-age=31536000, immutable"

// zone loads a campaign's time zone once per process (campaigns store only canonical names).
func (p *Pages) zone(name string) *time.Location {
	if z, ok := p.zones.Load(name); ok {
		return z.(*time.Location)
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		z = time.UTC
	}
	p.zones.Store(name, z)
	return z
}

// designers finds the public names of campaigns' designers, each once per request.
type designers struct {
	ctx      context.Context
	accounts *account.Service
	names    map[string]string
}

func (d *designers) name(id string) (string, error) {
	if n, ok := d.names[id]; ok {
		return n, nil
	}
	n, err := d.accounts.PublicName(d.ctx, id)
	if err != nil {
		return "", err
	}
	d.names[id] = n
	return n, nil
}

// sortByDeadline orders campaigns soonest deadline first.
func sortByDeadline(cs []campaign.Campaign) {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Deadline.Before(cs[j].Deadline) })
}
