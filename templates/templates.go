// Package templates carries the HTML pages, the emails and the pages' stylesheet inside the binary (go:embed) and
// renders them. Files are split by role: common/ holds the layout and the partials every page
// shares, views/ one file per backers' page, designer/ one per designers' console page, admin/ one per admins' console page. Each view is parsed with the common files once per language
// at start, with that language's `t` and `plural` bound in, so rendering is one ExecuteTemplate
// into a buffer and never touches shared state.
package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
)

//go:embed common/*.html views/*.html designer/*.html admin/*.html email/*
var files embed.FS

// Email is the templates of the messages sent by mail (email/: an HTML and a plain-text file
// per message, and a layout of each), parsed by the notify package.
func Email() fs.FS {
	sub, err := fs.Sub(files, "email")
	if err != nil {
		panic(err) // "email" is a valid path: fs.Sub cannot fail on it
	}
	return sub
}

// Stylesheet is the one stylesheet of every page.
//
//go:embed static/style.css
var Stylesheet []byte

// StylesheetPath is where the stylesheet is served: its name carries a hash of its bytes, so it
// can be cached for a year and a new release is fetched at once.
var StylesheetPath = hashedPath("style", ".css", Stylesheet)

// Script is the one script of every page (countdown, visitor's time zone, copy-link button): a
// file of our own rather than inline code, so the Content-Security-Policy needs no per-response
// nonce and a rendered page is the same bytes for every visitor, which lets it be cached.
//
//go:embed static/app.js
var Script []byte

// ScriptPath is where the script is served, named by its hash like the stylesheet.
var ScriptPath = hashedPath("app", ".js", Script)

func hashedPath(name, ext string, b []byte) string {
	sum := sha256.Sum256(b)
	return "/static/" + name + "." + hex.EncodeToString(sum[:6]) + ext
}

// Engine holds every view parsed for every language.
type Engine struct {
	views map[string]map[string]*template.Template // language → view → template
	names []string
}

// New parses every view in dir (views for the backers' pages, designer for the console) with the
// common files for each language; funcs gives the functions a language's templates call (t,
// plural, and whatever else that set of views uses).
func New(dir string, langs []string, funcs func(lang string) template.FuncMap) (*Engine, error) {
	names, err := fs.Glob(files, dir+"/*.html")
	if err != nil {
		return nil, err
	}
	e := &Engine{views: map[string]map[string]*template.Template{}}
	for _, lang := range langs {
		e.views[lang] = map[string]*template.Template{}
		for _, file := range names {
			view := strings.TrimSuffix(path.Base(file), ".html")
			t, err := template.New(view).Funcs(funcs(lang)).ParseFS(files, "common/*.html", file)
			if err != nil {
				return nil, fmt.Errorf("templates: %s: %w", file, err)
			}
			e.views[lang][view] = t
			if lang == langs[0] {
				e.names = append(e.names, view)
			}
		}
	}
	return e, nil
}

// Views lists the views, for tests that must render each one.
func (e *Engine) Views() []string { return e.names }

// Render executes a view's layout into a buffer, so a failure half-way leaves nothing sent and
// the caller can answer with an error page instead.
func (e *Engine) Render(lang, view string, data any) ([]byte, error) {
	t, ok := e.views[lang][view]
	if !ok {
		return nil, fmt.Errorf("templates: no view %q in %q", view, lang)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return nil, fmt.Errorf("templates: render %s/%s: %w", lang, view, err)
	}
	return buf.Bytes(), nil
}

// Sources returns the text of every template file, for the test that checks each `t "key"` and
// `plural "key"` against the catalogues.
func Sources() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		out[p] = string(b)
		return err
	})
	return out, err
}
