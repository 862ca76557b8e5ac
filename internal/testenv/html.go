package testenv

import (
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// voids are the HTML elements that have no end tag.
var voids = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// CheckHTML fails unless body is a complete page in lang: every element closed in order (the
// tokenizer sees what the parser would silently repair), ids unique, every form control
// labelled, <html lang> set.
func CheckHTML(t testing.TB, where, body, lang string) {
	t.Helper()
	var open []string
	z := html.NewTokenizer(strings.NewReader(body))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		name, _ := z.TagName()
		switch tt {
		case html.StartTagToken:
			if !voids[string(name)] {
				open = append(open, string(name))
			}
		case html.EndTagToken:
			if len(open) == 0 || open[len(open)-1] != string(name) {
				t.Errorf("%s: </%s> closes %v", where, name, open)
				return
			}
			open = open[:len(open)-1]
		}
	}
	if z.Err() != io.EOF {
		t.Errorf("%s: %v", where, z.Err())
	}
	if len(open) > 0 {
		t.Errorf("%s: unclosed elements %v", where, open)
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	ids, labelled := map[string]int{}, map[string]bool{}
	var controls []*html.Node
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			if id := attr(n, "id"); id != "" {
				ids[id]++
			}
			switch n.Data {
			case "html":
				if got := attr(n, "lang"); got != lang {
					t.Errorf("%s: <html lang=%q>, want %q", where, got, lang)
				}
			case "label":
				inLabel = true
				labelled[attr(n, "for")] = true
			case "input", "select", "textarea":
				if typ := attr(n, "type"); typ != "hidden" && typ != "submit" && typ != "button" && !inLabel && attr(n, "aria-label") == "" {
					controls = append(controls, n)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLabel)
		}
	}
	walk(doc, false)
	for id, n := range ids {
		if n > 1 {
			t.Errorf("%s: id %q used %d times", where, id, n)
		}
	}
	for _, c := range controls {
		if id := attr(c, "id"); id == "" || !labelled[id] {
			t.Errorf("%s: <%s name=%q> has no label", where, c.Data, attr(c, "name"))
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
