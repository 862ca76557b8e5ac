// Package markdown turns the Markdown designers write (a campaign's story) into HTML that is safe
// to put in a page: no raw HTML at all (typed tags show as the characters typed), links only to
// http, https and mailto addresses and marked rel="nofollow ugc" (backers must not lend the site's
// reputation to links, nor follow a javascript: one), no images (they would load from anywhere),
// and headings pushed below the page's own so the outline stays the page's.
package markdown

import (
	"bytes"
	"html"
	"html/template"
	"net/url"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// md is built without goldmark's HTML block and raw HTML inline parsers: what looks like a tag
// is then plain text, escaped by the renderer like any other.
var md = goldmark.New(goldmark.WithParser(parser.NewParser(
	parser.WithBlockParsers(
		util.Prioritized(parser.NewSetextHeadingParser(), 100),
		util.Prioritized(parser.NewThematicBreakParser(), 200),
		util.Prioritized(parser.NewListParser(), 300),
		util.Prioritized(parser.NewListItemParser(), 400),
		util.Prioritized(parser.NewCodeBlockParser(), 500),
		util.Prioritized(parser.NewATXHeadingParser(), 600),
		util.Prioritized(parser.NewFencedCodeBlockParser(), 700),
		util.Prioritized(parser.NewBlockquoteParser(), 800),
		util.Prioritized(parser.NewParagraphParser(), 1000),
	),
	parser.WithInlineParsers(
		util.Prioritized(parser.NewCodeSpanParser(), 100),
		util.Prioritized(parser.NewLinkParser(), 200),
		util.Prioritized(parser.NewAutoLinkParser(), 300),
		util.Prioritized(parser.NewEmphasisParser(), 500),
	),
	parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
	parser.WithASTTransformers(util.Prioritized(tidy{}, 100)),
)))

// headingShift puts a story's "# Heading" at <h3>: the page has its title (h1) and the story's
// own heading (h2) above it.
const headingShift = 2

// Render returns src as safe HTML.
func Render(src string) template.HTML {
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		// Converting into a buffer cannot fail; should it ever, the text is still shown, escaped.
		return template.HTML("<p>" + template.HTMLEscapeString(src) + "</p>")
	}
	return template.HTML(buf.String()) // #nosec: built without raw HTML, every text escaped
}

// tidy is the AST pass that enforces the rules of the package comment.
type tidy struct{}

func (tidy) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	src := reader.Source()
	var unwrap []ast.Node
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			n.Level = min(n.Level+headingShift, 6)
		case *ast.Link:
			if !allowedURL(string(n.Destination)) {
				unwrap = append(unwrap, n)
				return ast.WalkContinue, nil
			}
			n.SetAttributeString("rel", []byte("nofollow ugc"))
		case *ast.AutoLink:
			if !allowedURL(string(n.URL(src))) && n.AutoLinkType != ast.AutoLinkEmail {
				unwrap = append(unwrap, n)
				return ast.WalkContinue, nil
			}
			n.SetAttributeString("rel", []byte("nofollow ugc"))
		case *ast.Image:
			unwrap = append(unwrap, n)
		}
		return ast.WalkContinue, nil
	})
	for _, n := range unwrap {
		parent := n.Parent()
		if a, ok := n.(*ast.AutoLink); ok {
			parent.ReplaceChild(parent, n, ast.NewString(a.Label(src)))
			continue
		}
		// A refused link or an image keeps its words (the link text, the image's alt text).
		for c := n.FirstChild(); c != nil; {
			next := c.NextSibling()
			parent.InsertBefore(parent, n, c)
			c = next
		}
		parent.RemoveChild(parent, n)
	}
}

// allowedURL accepts web and mail addresses, and addresses on this site (no scheme).
// The destination is checked as the browser will read it: with its character references decoded
// ("jav&#x61;script:" is javascript:).
func allowedURL(raw string) bool {
	raw = strings.TrimSpace(html.UnescapeString(raw))
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "mailto":
		return true
	case "":
		// A path on this site: no colon before the path starts (a scheme url.Parse could not
		// read), and not "//evil.example", which has another host.
		first := strings.IndexAny(raw, "/?#")
		if first < 0 {
			first = len(raw)
		}
		return u.Host == "" && !strings.HasPrefix(raw, "//") && !strings.Contains(raw[:first], ":")
	}
	return false
}
