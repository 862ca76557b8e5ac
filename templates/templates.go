// Package templates carries the HTML pages, the emails and the pages' stylesheet inside the binary (go:embed) and
// renders them. Files are split by role: common/ holds the layout and the partials every page
// shares, views/ one file per backers' page, designer/ one per designers' console page, admin/ one per admins' console page. Each view is parsed with the common files once per language,
// the first time it is rendered, with that language's `t` and `plural` bound in; from then on
// rendering is one ExecuteTemplate into a buffer.
package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"sync"
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

// Engine renders the views of one directory in every language. A view is parsed (with the
// common files, and that language's `t` and `plural` bound in) the first time it is rendered in
// a language, then kept: an instance holds only the views it serves (a public instance has no
// use for the consoles' thirty-odd views, whose parse trees were most of its live heap, marked
// again by every garbage collection). The templates are in the binary, so a template error is
// a build's, not a start's: each engine's Check, run by its package's tests, parses every view.
type Engine struct {
	dir   string
	funcs func(lang string) template.FuncMap
	views map[string]map[string]*view // language → view name → view
	names []string
}

// view is one view in one language, parsed on first use.
type view struct {
	once sync.Once
	t    *template.Template
	err  error
}

// New makes the engine of every view in dir (views for the backers' pages, designer and admin
// for the consoles); funcs gives the functions a language's templates call (t, plural, and
// whatever else that set of views uses).
func New(dir string, langs []string, funcs func(lang string) template.FuncMap) (*Engine, error) {
	paths, err := fs.Glob(files, dir+"/*.html")
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("templates: no views in %s", dir)
	}
	e := &Engine{dir: dir, funcs: funcs, views: map[string]map[string]*view{}}
	for _, file := range paths {
		e.names = append(e.names, strings.TrimSuffix(path.Base(file), ".html"))
	}
	for _, lang := range langs {
		e.views[lang] = map[string]*view{}
		for _, name := range e.names {
			e.views[lang][name] = &view{}
		}
	}
	return e, nil
}

// Views lists the views.
func (e *Engine) Views() []string { return e.names }

// Check parses every view in every language: the test of each set of views calls it, so that a
// template error fails the build rather than a visitor's first request.
func (e *Engine) Check() error {
	var errs []error
	for lang := range e.views {
		for _, name := range e.names {
			if _, err := e.parsed(lang, name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// parsed returns a view parsed for a language, parsing it on first use.
func (e *Engine) parsed(lang, name string) (*template.Template, error) {
	v, ok := e.views[lang][name]
	if !ok {
		return nil, fmt.Errorf("templates: no view %q in %q", name, lang)
	}
	v.once.Do(func() {
		file := e.dir + "/" + name + ".html"
		v.t, v.err = template.New(name).Funcs(e.funcs(lang)).ParseFS(files, "common/*.html", file)
		if v.err != nil {
			v.err = fmt.Errorf("templates: %s: %w", file, v.err)
		}
	})
	return v.t, v.err
}

// Render executes a view's layout into a buffer, so a failure half-way leaves nothing sent and
// the caller can answer with an error page instead.
func (e *Engine) Render(lang, name string, data any) ([]byte, error) {
	t, err := e.parsed(lang, name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return nil, fmt.Errorf("templates: render %s/%s: %w", lang, name, err)
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
