// Package console serves the designers' console under /designer: sign-up, log-in and log-out
// with a session cookie, the dashboard of a designer's campaigns, the campaign and tier editors,
// and the review steps (submit, launch); and the admins' console under /admin (admin.go): the
// review queue, pledges and refunds, reconciliation. Handlers only translate HTTP: every rule
// (who may do what, validation, locks) is the account, campaign, pledge and admin services', the
// same ones behind the API.
package console

import (
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/csrf"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pages"
	"github.com/backstitch/backstitch/templates"
)

// Routes are the console's routes, as "METHOD /path" like web.Server.Routes lists them: HTML for
// people, not part of the OpenAPI document.
var Routes = []string{
	"GET /designer", "GET /designer/signup", "POST /designer/signup", "GET /designer/login", "POST /designer/login",
	"POST /designer/logout", "GET /designer/password", "POST /designer/password", "GET /designer/password/reset",
	"POST /designer/password/reset", "GET /designer/campaigns/new", "POST /designer/campaigns/new",
	"GET /designer/campaigns/:id", "POST /designer/campaigns/:id", "GET /designer/campaigns/:id/preview",
	"POST /designer/campaigns/:id/tiers", "GET /designer/campaigns/:id/tiers/:tier_id",
	"POST /designer/campaigns/:id/tiers/:tier_id", "POST /designer/campaigns/:id/tiers/:tier_id/delete",
	"POST /designer/campaigns/:id/submit", "POST /designer/campaigns/:id/launch",
	"POST /designer/campaigns/:id/cover", "POST /designer/campaigns/:id/tiers/:tier_id/image",
	"POST /designer/campaigns/:id/cover/delete", "POST /designer/campaigns/:id/tiers/:tier_id/image/delete",
	"GET /designer/profile", "POST /designer/profile", "POST /designer/profile/password", "POST /designer/profile/digest",
	"GET /designer/campaigns/:id/backers", "GET /designer/campaigns/:id/backers.csv", "GET /designer/campaigns/:id/insights",
}

// The reward details' routes live beside their handlers (rewards.go).
func init() { Routes = append(Routes, rewardRoutes...) }

// consolePolicy is the pages' Content-Security-Policy; the console's forms post only to itself.
var consolePolicy = pages.ContentSecurityPolicy("")

// Console renders the designers' pages.
type Console struct {
	campaigns *campaign.Service
	accounts  *account.Service
	engine    *templates.Engine
	admins    adminConsole
	now       backstitch.Clock
	// publicURL is where designers reach the service (reset links); secure marks cookies Secure
	// (and the session cookie __Host-) when that is https.
	publicURL string
	secure    bool
	csrf      *csrf.Guard
	mail      ResetMailer
	// updates posts and lists designers' updates (see UseUpdates).
	updates Updates
	// reports is read by the backers and insights pages (see UseReports).
	reports ReportStore
	// settlement is read by the settlement page (see UseSettlement).
	settlement settlementSource
	// payouts runs Stripe Connect onboarding (see UsePayouts).
	payouts Payouts
	// fulfilment writes the fulfilment page's forms (see UseFulfilment).
	fulfilment Fulfilment
}

// ResetMailer sends a password reset link (the notify package, through the outbox).
type ResetMailer interface {
	// SendPasswordReset sends link to u; resetID names the reset, so one reset makes one message.
	SendPasswordReset(ctx context.Context, u account.User, resetID, link string) error
}

// MailResets sets who sends password reset links; set before serving.
func (k *Console) MailResets(m ResetMailer) { k.mail = m }

// New makes the consoles (their views are parsed on first use: see templates.Engine).
func New(campaigns *campaign.Service, accounts *account.Service, now backstitch.Clock, publicURL string, guard *csrf.Guard, admins Admin) (*Console, error) {
	engine, err := templates.New("designer", locale.Languages, funcs)
	if err != nil {
		return nil, err
	}
	k := &Console{campaigns: campaigns, accounts: accounts, engine: engine, now: now, publicURL: publicURL,
		secure: strings.HasPrefix(publicURL, "https://"), csrf: guard}
	if k.admins, err = newAdminConsole(admins); err != nil {
		return nil, err
	}
	return k, nil
}

func funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":      func(key string, args ...any) string { return locale.T(lang, key, args...) },
		"plural": func(key string, n int64) string { return locale.Plural(lang, key, n) },
		"label":  func(key string) string { return locale.Label(lang, locale.T(lang, key)) },
	}
}

// Mount registers the console's routes on r. Every POST is checked against CSRF before anything
// else reads the form; every page but sign-up and log-in needs a designer's session.
func (k *Console) Mount(r fiber.Router) {
	r.Get("/designer/signup", k.page(k.signupForm))
	r.Post("/designer/signup", k.page(k.checkCSRF(k.signup)))
	r.Get("/designer/login", k.page(k.loginForm))
	r.Post("/designer/login", k.page(k.checkCSRF(k.login)))
	r.Post("/designer/logout", k.page(k.checkCSRF(k.logout)))
	r.Get("/designer/password", k.page(k.forgotForm))
	r.Post("/designer/password", k.page(k.checkCSRF(k.forgot)))
	r.Get("/designer/password/reset", noReferrer, k.page(k.resetForm))
	r.Post("/designer/password/reset", noReferrer, k.page(k.checkCSRF(k.reset)))

	r.Get("/designer", k.page(k.designer(k.dashboard)))
	r.Get("/designer/campaigns/new", k.page(k.designer(k.newCampaignForm)))
	r.Post("/designer/campaigns/new", k.page(k.checkCSRF(k.designer(k.createCampaign))))
	r.Get("/designer/campaigns/:id", k.page(k.designer(k.editor)))
	r.Post("/designer/campaigns/:id", k.page(k.checkCSRF(k.designer(k.saveCampaign))))
	r.Get("/designer/campaigns/:id/preview", k.page(k.designer(k.preview)))
	r.Post("/designer/campaigns/:id/tiers", k.page(k.checkCSRF(k.designer(k.addTier))))
	r.Get("/designer/campaigns/:id/tiers/:tier_id", k.page(k.designer(k.tierForm)))
	r.Post("/designer/campaigns/:id/tiers/:tier_id", k.page(k.checkCSRF(k.designer(k.saveTier))))
	r.Post("/designer/campaigns/:id/tiers/:tier_id/delete", k.page(k.checkCSRF(k.designer(k.deleteTier))))
	r.Post("/designer/campaigns/:id/submit", k.page(k.checkCSRF(k.designer(k.transition((*campaign.Service).Submit, "submitted")))))
	r.Post("/designer/campaigns/:id/launch", k.page(k.checkCSRF(k.designer(k.transition((*campaign.Service).Launch, "launched")))))
	k.mountRewards(r)
	k.mountAdmin(r)
	k.mountDesignerTools(r)
	k.mountUpdates(r)
}

// base is what the shared layout needs on every page, plus the console's own bar.
type base struct {
	Lang       string
	Title      string
	Stylesheet string
	Script     string
	Switch     pages.SwitchLink
	// Refresh and Share are the shared layout's (a page that reloads itself, a page's Open Graph
	// tags): console pages neither reload nor are shared, so they stay empty.
	Refresh int
	Share   any
	// CSRF is the token every form on the page carries.
	CSRF string
	// Designer is the signed-in designer's name ("" on sign-up and log-in); Admin an admin's,
	// on the admins' pages.
	Designer string
	Admin    string
	// Notice is a one-line confirmation shown on top ("Campaign saved").
	Notice string
}

// request is what a handler gets: the visitor's locale, the layout's data and, behind
// k.designer, the session.
type request struct {
	c    *fiber.Ctx
	loc  locale.Locale
	sess account.Session
	base
}

// view is what a handler answers: a page, a redirect (303, so a form POST becomes a GET), or a
// download (stream, its headers set by the handler).
type view struct {
	status   int
	name     string
	data     any
	redirect string
	stream   io.Reader
}

type handler func(r *request) (view, error)

func (k *Console) page(h handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if lang := c.Query(pages.LanguageCookie); lang != "" && c.Method() == fiber.MethodGet {
			return k.switchLanguage(c, lang)
		}
		r, err := k.newRequest(c)
		if err != nil {
			return err
		}
		v, err := h(r)
		if err != nil {
			return k.fail(r, err)
		}
		if v.redirect != "" {
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Redirect(v.redirect, http.StatusSeeOther)
		}
		if v.stream != nil {
			return c.SendStream(v.stream)
		}
		if v.status == 0 {
			v.status = http.StatusOK
		}
		return k.send(r, v)
	}
}

// switchLanguage remembers the chosen language and sends the designer back to the same page.
func (k *Console) switchLanguage(c *fiber.Ctx, lang string) error {
	target := home(c.Path())
	if p := string(c.Request().URI().PathOriginal()); localPath(p) {
		target = p
	}
	return pages.SwitchLanguage(c, lang, target, k.secure)
}

// localPath accepts only a path of the consoles themselves: a redirect there never leaves the site.
func localPath(p string) bool {
	return (p == "/designer" || strings.HasPrefix(p, "/designer/") || adminPath(p)) && !strings.Contains(p, "//") && !strings.Contains(p, "\\")
}

// adminPath says whether p is one of the admins' pages.
func adminPath(p string) bool { return p == "/admin" || strings.HasPrefix(p, "/admin/") }

// home is the first page of the console p belongs to.
func home(p string) string {
	if adminPath(p) {
		return "/admin"
	}
	return "/designer"
}

func (k *Console) newRequest(c *fiber.Ctx) (*request, error) {
	loc := pages.Negotiate(c)
	token, err := k.csrf.Token(c)
	if err != nil {
		return nil, err
	}
	return &request{c: c, loc: loc, base: base{
		Lang: loc.Lang, Stylesheet: templates.StylesheetPath, Script: templates.ScriptPath, CSRF: token,
		Switch: pages.LanguageSwitch(loc, c.Queries()),
	}}, nil
}

// send renders v into a buffer with the pages' security headers; a template that fails answers
// the error page instead of half a page.
func (k *Console) send(r *request, v view) error {
	engine := k.engine
	if strings.HasPrefix(v.name, "admin_") {
		engine = k.admins.engine
	}
	body, err := engine.Render(r.Lang, v.name, v.data)
	if err != nil {
		zerolog.Ctx(r.c.UserContext()).Error().Err(err).Str("view", v.name).Msg("render console page")
		return k.sendError(r, http.StatusInternalServerError)
	}
	k.headers(r)
	return r.c.Status(v.status).Send(body)
}

func (k *Console) headers(r *request) {
	r.c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	r.c.Set(fiber.HeaderContentSecurityPolicy, consolePolicy)
	// A designer's pages are hers alone: no cache, shared or private, keeps them.
	r.c.Set(fiber.HeaderCacheControl, "no-store")
	r.c.Set(fiber.HeaderVary, "Accept-Language, Cookie")
	r.c.Set(fiber.HeaderContentLanguage, r.Lang)
	if r.c.GetRespHeader("Referrer-Policy") == "" {
		r.c.Set("Referrer-Policy", "same-origin")
	}
}

// message is a page with a heading and a sentence: forbidden, not found.
type message struct {
	base
	Body string
	Link string
	// LinkText is the link's label when it leads elsewhere than the console's first page.
	LinkText string
}

// fail answers an error as a page: not found 404, forbidden (another designer's public campaign,
// a forged form) 403, anything unexpected the error page.
func (k *Console) fail(r *request, err error) error {
	switch {
	case errors.Is(err, csrf.ErrForged):
		return k.send(r, k.message(r, http.StatusForbidden, "console.forged.title", "console.forged.body"))
	case backstitch.ErrorCode(err) == backstitch.CodeNotFound && adminPath(r.c.Path()):
		return k.send(r, k.message(r, http.StatusNotFound, "notfound.title", "admin.notfound.body"))
	case backstitch.ErrorCode(err) == backstitch.CodeNotFound:
		return k.send(r, k.message(r, http.StatusNotFound, "notfound.title", "console.notfound.body"))
	case backstitch.ErrorCode(err) == backstitch.CodeForbidden && adminPath(r.c.Path()):
		return k.send(r, k.message(r, http.StatusForbidden, "admin.forbidden.title", "admin.forbidden.body"))
	case backstitch.ErrorCode(err) == backstitch.CodeForbidden:
		return k.send(r, k.message(r, http.StatusForbidden, "console.forbidden.title", "console.forbidden.body"))
	}
	zerolog.Ctx(r.c.UserContext()).Error().Err(err).Str("path", r.c.Path()).Msg("console page failed")
	return k.sendError(r, http.StatusInternalServerError)
}

func (k *Console) message(r *request, status int, title, body string) view {
	m := message{base: r.base, Body: r.loc.T(body), Link: home(r.c.Path())}
	m.Title = r.loc.T(title)
	name := "designer_message"
	if adminPath(r.c.Path()) {
		name = "admin_message"
	}
	return view{status: status, name: name, data: m}
}

// Owns says whether path is one of the consoles' pages, whose errors are pages too.
func Owns(path string) bool {
	return path == "/designer" || strings.HasPrefix(path, "/designer/") || adminPath(path)
}

// ErrorPage answers, as a console page, an error of a console route that no console handler
// turned into one: the backers' CSV (the API's export behind the console's cookie), and a request
// refused before any handler ran (an upload far over the limit). status is the one the API
// would give.
func (k *Console) ErrorPage(c *fiber.Ctx, status int) error {
	r, err := k.newRequest(c)
	if err != nil {
		return c.Status(status).SendString(http.StatusText(status))
	}
	switch {
	case status == http.StatusNotFound && adminPath(c.Path()):
		return k.send(r, k.message(r, status, "notfound.title", "admin.notfound.body"))
	case status == http.StatusNotFound:
		return k.send(r, k.message(r, status, "notfound.title", "console.notfound.body"))
	case status == http.StatusForbidden && adminPath(c.Path()):
		return k.send(r, k.message(r, status, "admin.forbidden.title", "admin.forbidden.body"))
	case status == http.StatusForbidden:
		return k.send(r, k.message(r, status, "console.forbidden.title", "console.forbidden.body"))
	case status == http.StatusRequestEntityTooLarge && UploadPath.MatchString(c.Path()):
		// Back to the form the file was sent from: the editor, or the tier's page.
		form := strings.TrimSuffix(strings.TrimSuffix(c.Path(), "/cover"), "/image")
		if _, ok, _ := k.Session(c); !ok {
			// Only a signed-in designer may send a picture's body (see the web server's
			// allowUploads); a session that ended while the form was open is asked to log in.
			return c.Redirect("/designer/login?"+url.Values{"next": {form}}.Encode(), http.StatusSeeOther)
		}
		v := k.message(r, status, "console.toolarge.title", "console.image.error.size")
		m := v.data.(message)
		m.Link, m.LinkText = form, r.loc.T("console.toolarge.back")
		v.data = m
		return k.send(r, v)
	case status == http.StatusRequestEntityTooLarge:
		return k.send(r, k.message(r, status, "console.toolarge.title", "console.toolarge.body"))
	case status >= http.StatusInternalServerError:
		return k.sendError(r, status)
	}
	return k.send(r, k.message(r, status, "console.failed.title", "console.failed.body"))
}

func (k *Console) sendError(r *request, status int) error {
	id, _ := r.c.Locals("request_id").(string)
	b := r.base
	b.Title = locale.T(r.Lang, "error.title")
	body, err := k.engine.Render(r.Lang, "error", struct {
		base
		Reference string
	}{b, id})
	if err != nil {
		body = []byte("<!DOCTYPE html><title>Error</title><p>Something went wrong.</p>")
	}
	k.headers(r)
	return r.c.Status(status).Send(body)
}

// checkCSRF refuses a POST that did not come from one of our forms, before anything reads it.
func (k *Console) checkCSRF(h handler) handler {
	return func(r *request) (view, error) {
		if err := k.csrf.Check(r.c); err != nil {
			return view{}, err
		}
		return h(r)
	}
}
