package web

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/csrf"
	"github.com/backstitch/backstitch/internal/notify"
)

// The dev mailbox shows the outbox of a development instance that sends no mail, so the
// walkthrough can follow each message's links. Only admins read it: the messages carry manage
// links. A browser cannot send the API's bearer token, so an admin pastes her session token
// (from POST /api/v1/sessions) into a form once; it is kept in an HttpOnly, SameSite=Strict
// cookie scoped to /dev/mailbox, which the API never reads.
const (
	mailboxCookie = "dev_mailbox"
	mailboxPath   = "/dev/mailbox"
	mailboxLimit  = 50
)

// MailboxStore is the outbox as the dev mailbox reads it.
type MailboxStore interface {
	RecentMessages(ctx context.Context, limit int) ([]notify.Message, error)
	FindMessage(ctx context.Context, id string) (notify.Message, error)
}

type mailbox struct {
	store    MailboxStore
	render   *notify.Renderer
	accounts *account.Service
	csrf     *csrf.Guard
	secure   bool
	now      func() time.Time
}

// MountDevMailbox serves /dev/mailbox; the app mounts it in development only.
func (s *Server) MountDevMailbox(store MailboxStore, render *notify.Renderer, guard *csrf.Guard, secure bool) {
	m := &mailbox{store: store, render: render, accounts: s.accounts, csrf: guard, secure: secure, now: s.now}
	s.app.Get(mailboxPath, query(), m.list)
	s.app.Post(mailboxPath+"/session", query(), m.logIn)
	s.app.Get(mailboxPath+"/:id", query(), m.show)
}

// admin reports whether the request carries a live admin session in the mailbox cookie.
func (m *mailbox) admin(c *fiber.Ctx) bool {
	token := c.Cookies(mailboxCookie)
	if token == "" {
		return false
	}
	sess, err := m.accounts.Authenticate(c.UserContext(), token)
	return err == nil && sess.Role == account.RoleAdmin
}

var mailboxPage = template.Must(template.New("mailbox").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dev mailbox</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 0 auto; padding: 1em">
<h1>Dev mailbox</h1>
{{if .Form}}
<p>Messages are not sent: this instance has no BACKSTITCH_SMTP_URL. Admins read them here.</p>
{{if .Refused}}<p role="alert">That is not a live admin session token.</p>{{end}}
<form method="post" action="/dev/mailbox/session">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="token">Admin session token (from POST /api/v1/sessions)</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Open the mailbox</button>
</form>
{{else}}
<p>The latest {{len .Messages}} messages, newest first. Nothing here is sent: set BACKSTITCH_SMTP_URL to send.</p>
{{range .Messages}}
<article style="border-top: 1px solid #ccc; padding: 0.5em 0">
<h2 style="font-size: 1.1em">{{.Subject}}</h2>
<p>To {{.To}} · {{.Kind}} · {{.Status}} · {{.Lang}} · <a href="/dev/mailbox/{{.ID}}">HTML</a></p>
<pre style="white-space: pre-wrap">{{.Text}}</pre>
{{with .Links}}<ul>{{range .}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul>{{end}}
</article>
{{else}}<p>No message yet.</p>{{end}}
{{end}}
</body></html>`))

// mailboxEntry is one message as listed.
type mailboxEntry struct {
	notify.Rendered
	Links []string
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

func (m *mailbox) list(c *fiber.Ctx) error {
	if !m.admin(c) {
		return m.form(c, http.StatusOK, false)
	}
	msgs, err := m.store.RecentMessages(c.UserContext(), mailboxLimit)
	if err != nil {
		return err
	}
	var entries []mailboxEntry
	for _, msg := range msgs {
		r, err := m.render.Render(msg)
		if err != nil {
			zerolog.Ctx(c.UserContext()).Warn().Err(err).Str("message_id", msg.ID).Msg("dev mailbox: message does not render")
			continue
		}
		entries = append(entries, mailboxEntry{Rendered: r, Links: linkPattern.FindAllString(r.Text, -1)})
	}
	return m.page(c, http.StatusOK, map[string]any{"Messages": entries})
}

func (m *mailbox) form(c *fiber.Ctx, status int, refused bool) error {
	token, err := m.csrf.Token(c)
	if err != nil {
		return err
	}
	return m.page(c, status, map[string]any{"Form": true, "CSRF": token, "Refused": refused})
}

func (m *mailbox) page(c *fiber.Ctx, status int, data any) error {
	var buf bytes.Buffer
	if err := mailboxPage.Execute(&buf, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

func (m *mailbox) logIn(c *fiber.Ctx) error {
	if err := m.csrf.Check(c); err != nil {
		return m.form(c, http.StatusForbidden, true)
	}
	token := c.FormValue("token")
	sess, err := m.accounts.Authenticate(c.UserContext(), token)
	if err != nil || sess.Role != account.RoleAdmin {
		return m.form(c, http.StatusForbidden, true)
	}
	c.Cookie(&fiber.Cookie{Name: mailboxCookie, Value: token, Path: mailboxPath, HTTPOnly: true, Secure: m.secure,
		SameSite: fiber.CookieSameSiteStrictMode, MaxAge: int(sess.ExpiresAt.Sub(m.now()).Seconds())})
	return c.Redirect(mailboxPath, http.StatusSeeOther)
}

// show serves one message's HTML as the recipient's mail client would show it.
func (m *mailbox) show(c *fiber.Ctx) error {
	if !m.admin(c) {
		return c.Redirect(mailboxPath, http.StatusSeeOther)
	}
	msg, err := m.store.FindMessage(c.UserContext(), c.Params("id"))
	if err != nil {
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Status(http.StatusNotFound).SendString("No such message.")
	}
	r, err := m.render.Render(msg)
	if err != nil {
		return err
	}
	// Mail is styled inline; nothing else loads.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.SendString(r.HTML)
}
