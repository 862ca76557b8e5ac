package stripedouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// jsonNode is one value of the double's own JSON output, parsed only as far as expand[] needs:
// objects and arrays into their members, every other value kept as the bytes it was written as.
//
// Expanding used to decode a whole answer into map[string]any and encode it again, which sorts
// every object's keys; that was most of what a list page cost. Writing a jsonNode back gives the
// same bytes at a fraction of the cost: keys sorted as encoding/json sorts a map's, and each
// scalar as encoding/json would write it again once decoded, which for its own output is the
// bytes it wrote, except in strings with escapes (invalid UTF-8 comes back as a literal U+FFFD,
// not "\ufffd"): those are decoded and encoded again.
type jsonNode struct {
	kind    byte   // '{', '[' or 0 (a scalar: string, number, true, false, null)
	raw     []byte // a scalar as written
	keys    []string
	keyToks [][]byte // an object's keys as written, quotes included
	elems   []*jsonNode
}

// parseOwn parses JSON that encoding/json wrote.
func parseOwn(b []byte) *jsonNode {
	p := jsonParser{b: b}
	n := p.value()
	if p.skipSpace(); p.i != len(b) {
		panic(fmt.Sprintf("stripedouble: parse own output: trailing data at %d", p.i))
	}
	return n
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) fail(what string) {
	panic(fmt.Sprintf("stripedouble: parse own output: %s at %d", what, p.i))
}

func (p *jsonParser) value() *jsonNode {
	p.skipSpace()
	if p.i >= len(p.b) {
		p.fail("unexpected end")
	}
	switch p.b[p.i] {
	case '{':
		n := &jsonNode{kind: '{'}
		p.i++
		for p.skipSpace(); p.i < len(p.b) && p.b[p.i] != '}'; p.skipSpace() {
			if len(n.keys) > 0 {
				p.expect(',')
				p.skipSpace()
			}
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				p.fail("object key expected")
			}
			tok := p.str()
			n.keys, n.keyToks = append(n.keys, decodedString(tok)), append(n.keyToks, tok)
			p.skipSpace()
			p.expect(':')
			n.elems = append(n.elems, p.value())
		}
		p.expect('}')
		return n
	case '[':
		n := &jsonNode{kind: '['}
		p.i++
		for p.skipSpace(); p.i < len(p.b) && p.b[p.i] != ']'; p.skipSpace() {
			if len(n.elems) > 0 {
				p.expect(',')
			}
			n.elems = append(n.elems, p.value())
		}
		p.expect(']')
		return n
	case '"':
		return &jsonNode{raw: p.str()}
	}
	start := p.i
	for p.i < len(p.b) && !isDelim(p.b[p.i]) {
		p.i++
	}
	return &jsonNode{raw: p.b[start:p.i]}
}

func (p *jsonParser) expect(c byte) {
	if p.i >= len(p.b) || p.b[p.i] != c {
		p.fail(fmt.Sprintf("%q expected", c))
	}
	p.i++
}

// str returns the string token at p.i, quotes included.
func (p *jsonParser) str() []byte {
	start := p.i
	for p.i++; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '\\':
			p.i++
		case '"':
			p.i++
			return p.b[start:p.i]
		}
	}
	p.fail("unterminated string")
	return nil
}

// decodedString is the value of a string token.
func decodedString(tok []byte) string {
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		panic(fmt.Sprintf("stripedouble: parse own output: %v", err))
	}
	return s
}

// str is the node's value if it is a string.
func (n *jsonNode) str() (string, bool) {
	if n.kind != 0 || len(n.raw) == 0 || n.raw[0] != '"' {
		return "", false
	}
	return decodedString(n.raw), true
}

// appendJSON writes n as json.Marshal writes the value decoding it gives.
func (n *jsonNode) appendJSON(out []byte) []byte {
	switch n.kind {
	case '{':
		order := make([]int, len(n.keys))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(n.keys[a], n.keys[b]) })
		out = append(out, '{')
		for j, i := range order {
			if j > 0 {
				out = append(out, ',')
			}
			out = appendString(out, n.keyToks[i])
			out = append(out, ':')
			out = n.elems[i].appendJSON(out)
		}
		return append(out, '}')
	case '[':
		out = append(out, '[')
		for i, e := range n.elems {
			if i > 0 {
				out = append(out, ',')
			}
			out = e.appendJSON(out)
		}
		return append(out, ']')
	}
	if len(n.raw) > 0 && n.raw[0] == '"' {
		return appendString(out, n.raw)
	}
	return append(out, n.raw...)
}

// appendString writes a string token as encoding/json writes its value again.
func appendString(out, tok []byte) []byte {
	if bytes.IndexByte(tok, '\\') < 0 {
		return append(out, tok...)
	}
	return append(out, mustJSON(decodedString(tok))...)
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\n', '\t', '\r':
		return true
	}
	return false
}
