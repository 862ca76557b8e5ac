package markdown

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Hostile Markdown renders inert: no element a designer did not get from Markdown itself, no
// script, no event handler, no link anywhere but http(s) and mailto, every link nofollow ugc.
func TestHostileMarkdownIsInert(t *testing.T) {
	cases := map[string]struct{ src, mustContain string }{
		"script block":      {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		"inline html":       {"Hello <img src=x onerror=alert(1)> there", "&lt;img src=x onerror=alert(1)&gt;"},
		"html block":        {"<div onclick=\"alert(1)\">\nhi\n</div>", "&lt;div onclick="},
		"javascript link":   {"[click](javascript:alert(1))", "click"},
		"encoded js link":   {"[click](jav&#x61;script:alert(1))", "click"},
		"data link":         {"[click](data:text/html;base64,PHNjcmlwdD4=)", "click"},
		"autolink js":       {"<javascript:alert(1)>", "javascript:alert(1)"},
		"vbscript":          {"[x](vbscript:msgbox(1))", "x"},
		"image":             {"![a cat](https://evil.example/track.png)", "a cat"},
		"protocol-relative": {"[x](//evil.example/)", "x"},
		"heading":           {"# Title", "<h3"},
		"web link":          {"[site](https://example.com/a?b=1)", `rel="nofollow ugc"`},
		"autolink":          {"<https://example.com>", `rel="nofollow ugc"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out := string(Render(tc.src))
			if !strings.Contains(out, tc.mustContain) {
				t.Errorf("%q → %q lacks %q", tc.src, out, tc.mustContain)
			}
			doc, err := html.Parse(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					switch n.Data {
					case "script", "img", "iframe", "div", "style", "object":
						t.Errorf("%q → element <%s> in %q", tc.src, n.Data, out)
					}
					for _, a := range n.Attr {
						if strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "style" {
							t.Errorf("%q → attribute %s in %q", tc.src, a.Key, out)
						}
					}
					if n.Data == "a" {
						href, rel := "", ""
						for _, a := range n.Attr {
							switch a.Key {
							case "href":
								href = a.Val
							case "rel":
								rel = a.Val
							}
						}
						if !strings.HasPrefix(href, "https://") && !strings.HasPrefix(href, "http://") && !strings.HasPrefix(href, "mailto:") {
							t.Errorf("%q → link to %q", tc.src, href)
						}
						if rel != "nofollow ugc" {
							t.Errorf("%q → link rel %q", tc.src, rel)
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
		})
	}
}

func TestMarkdownFormats(t *testing.T) {
	out := string(Render("Linen from **Lake Léman**.\n\n- one\n- two\n\nMail <ana@example.com>"))
	for _, want := range []string{"<strong>Lake Léman</strong>", "<li>one</li>", `href="mailto:ana@example.com"`} {
		if !strings.Contains(out, want) {
			t.Errorf("%q lacks %q", out, want)
		}
	}
}
