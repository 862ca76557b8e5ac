// Package french checks French text the way a French reader expects it punctuated; tests of the
// pages, the consoles and the mail share it.
package french

import (
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"
)

// nnbsp is the narrow no-break space French sets before : ; ! ? and inside « ».
const nnbsp = '\u202f'

// seam joins the text nodes of a page, so a mark's context stays within what one hand wrote.
const seam = '\x1f'

// inputSyntax are the catalogue's examples of what a designer types into a form ("Taille: S, M,
// L"): they show the syntax the form reads, so they keep its plain colon and semicolon.
var inputSyntax = []string{"Taille: S, M, L", "Taille=M; Couleur=Avoine: 10", "CH: 12.00"}

// CheckHTML fails when the visible text of a French page (text, alt, title, aria-label,
// placeholder; not scripts, styles, code or what a form holds) breaks French punctuation: see
// CheckText. english is the same page in English, whose text tells the designers' and
// backers' own words (the same in both languages) from the catalogue's.
func CheckHTML(t testing.TB, where, body, english string) {
	t.Helper()
	CheckText(t, where, visibleText(t, where, body), visibleText(t, where, english))
}

// CheckText fails when French text sets : ; ! or ? without the narrow no-break space
// before it, or « » without one inside, unless the character is part of an address (https://,
// ?ref=), a time (14:30), a form's input syntax, or of words the English twin holds too: text
// people wrote is theirs to punctuate. Words the same in both languages ("Total: ") are
// missed; the catalogue and template tests catch those where they are written.
func CheckText(t testing.TB, where, text, english string) {
	t.Helper()
	for _, s := range inputSyntax {
		text = strings.ReplaceAll(text, s, "")
	}
	r := []rune(text)
	at := func(i int) rune {
		if i < 0 || i >= len(r) {
			return 0
		}
		return r[i]
	}
	// before is the character before i, across the seams of text nodes.
	before := func(i int) rune {
		for i--; at(i) == seam; i-- {
		}
		return at(i)
	}
	bad := 0
	for i, c := range r {
		var ok bool
		switch c {
		case ':':
			ok = before(i) == nnbsp ||
				at(i+1) == '/' && at(i+2) == '/' || // https://
				unicode.IsDigit(before(i)) && unicode.IsDigit(at(i+1)) || // 14:30
				strings.HasSuffix(string(r[max(0, i-6):i]), "mailto")
		case ';':
			ok = before(i) == nnbsp
		case '!', '?':
			// A ? or ! that runs into a word is an address's query (?ref=), not punctuation, and
			// takes no space of its own.
			query := unicode.IsLetter(at(i+1)) || at(i+1) == '='
			ok = (before(i) == nnbsp) != query
		case '«':
			ok = at(i+1) == nnbsp
		case '»':
			ok = before(i) == nnbsp
		default:
			continue
		}
		if ok {
			continue
		}
		// The words around it, within its text node; a mark that starts a node takes the end of
		// the node before (the label it follows).
		start, end := i, i+1
		for start > 0 && i-start < 12 && (r[start-1] != seam || start == i) {
			start--
		}
		for end < len(r) && end-i < 8 && r[end] != seam {
			end++
		}
		context := string(r[start:end])
		if strings.Contains(english, context) {
			continue
		}
		if bad++; bad <= 10 {
			t.Errorf("%s: French %q wants a narrow no-break space at %q", where, string(c), strings.ReplaceAll(context, string(seam), "|"))
		}
	}
}

// visibleText is what a reader of the page sees or hears, in document order, its text nodes
// joined by seams.
func visibleText(t testing.TB, where, body string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data + string(seam))
		case html.ElementNode:
			switch n.Data {
			case "script", "style", "textarea", "code", "pre":
				return
			}
			for _, key := range []string{"alt", "title", "aria-label", "placeholder"} {
				if v := attr(n, key); v != "" {
					b.WriteString(v + string(seam))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
