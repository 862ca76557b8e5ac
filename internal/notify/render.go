package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"

	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/markdown"
	"github.com/backstitch/backstitch/templates"
)

// Rendered is a message as it is sent: subject, plain text and HTML.
type Rendered struct {
	Message
	Subject string
	Text    string
	HTML    string
}

// Renderer holds every message's templates parsed for every language, once at start.
type Renderer struct {
	html map[string]map[Kind]*htmltemplate.Template
	text map[string]map[Kind]*texttemplate.Template
}

// NewRenderer parses templates/email: for each kind, <kind>.html with layout.html and <kind>.txt
// with layout.txt, with the language's `t` and `label` bound in (the pages' catalogue).
func NewRenderer() (*Renderer, error) {
	r := &Renderer{html: map[string]map[Kind]*htmltemplate.Template{}, text: map[string]map[Kind]*texttemplate.Template{}}
	fsys := templates.Email()
	for _, lang := range locale.Languages {
		t := func(key string, args ...any) string { return locale.T(lang, key, args...) }
		label := func(key string) string { return locale.Label(lang, locale.T(lang, key)) }
		r.html[lang], r.text[lang] = map[Kind]*htmltemplate.Template{}, map[Kind]*texttemplate.Template{}
		for _, k := range Kinds {
			// markdown shows an update's body as the campaign page does: no raw HTML, safe links.
			h, err := htmltemplate.New(string(k)).Funcs(htmltemplate.FuncMap{"t": t, "label": label, "markdown": markdown.Render}).Option("missingkey=error").
				ParseFS(fsys, "layout.html", string(k)+".html")
			if err != nil {
				return nil, fmt.Errorf("email templates: %s.html: %w", k, err)
			}
			x, err := texttemplate.New(string(k)).Funcs(texttemplate.FuncMap{"t": t, "label": label}).Option("missingkey=error").
				ParseFS(fsys, "layout.txt", string(k)+".txt")
			if err != nil {
				return nil, fmt.Errorf("email templates: %s.txt: %w", k, err)
			}
			r.html[lang][k], r.text[lang][k] = h, x
		}
	}
	return r, nil
}

// view is what a message's templates see.
type view struct {
	Lang    string
	Subject string
	D       map[string]string
	Links   []Link
}

// subject is a message's subject line in lang. The messages of updates and of recovered pledges
// keep their words under their own catalogue prefixes.
func subject(lang string, m Message) string {
	switch m.Kind {
	case UpdatePosted:
		return locale.T(lang, "update.email.subject", m.Data["campaign"], m.Data["title"])
	case PledgesRecovered:
		return locale.T(lang, "recover.email.subject")
	case ReviewDigest:
		return locale.T(lang, "email.review_digest.subject", m.Data["count"])
	case ReconcileFindings:
		return locale.T(lang, "email.reconcile_findings.subject", m.Data["open"])
	}
	var about []any
	if c, ok := m.Data["campaign"]; ok {
		about = append(about, c) // every other subject but an account's names its campaign
	}
	return locale.T(lang, "email."+string(m.Kind)+".subject", about...)
}

// Render renders m in its language. A message whose data lacks what its templates show fails
// here (missingkey=error) rather than going out with a blank.
func (r *Renderer) Render(m Message) (Rendered, error) {
	lang := langOf(m.Lang)
	h, ok := r.html[lang][m.Kind]
	if !ok {
		return Rendered{}, fmt.Errorf("render %s: no message of kind %q", m.ID, m.Kind)
	}
	v := view{Lang: lang, Subject: subject(lang, m), D: m.Data, Links: m.Links}
	var html, text bytes.Buffer
	if err := h.ExecuteTemplate(&html, "layout", v); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", m.ID, err)
	}
	if err := r.text[lang][m.Kind].ExecuteTemplate(&text, "layout", v); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", m.ID, err)
	}
	return Rendered{Message: m, Subject: v.Subject, Text: text.String(), HTML: html.String()}, nil
}
