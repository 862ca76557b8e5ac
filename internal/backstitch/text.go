package backstitch

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Field error codes of text fields. Clients switch on them, so they are never renamed.
const (
	TextInvalidEncoding = "invalid"              // not UTF-8
	TextRequired        = "required"             // empty after trimming
	TextTooLong         = "too_long"             // more characters than allowed
	TextLineBreak       = "line_break"           // CR, LF or a Unicode line separator in a single-line field
	TextControl         = "control_character"    // NUL, ESC, tab, DEL, C1 controls …
	TextBidiControl     = "bidi_control"         // embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)
	TextInvisible       = "no_visible_character" // only spaces, zero-width or combining characters
)

// CheckLine checks a single-line text field (a title, a name, an address line) and returns it
// trimmed and in Unicode NFC, so that two spellings of "é" are one text and lengths count what
// people see. It records at most one problem for the field. A text that is given at all must
// show something: zero-width characters or combining marks alone are how a title pretends to be
// empty, or to be someone else's.
func CheckLine(errs *FieldErrors, field, s string, minLen, maxLen int) string {
	return checkText(errs, field, strings.TrimSpace(s), minLen, maxLen, false)
}

// CheckBlock checks a multi-line text field (a story, a description, a reason): like CheckLine,
// but line feeds are allowed and the text is not trimmed (leading spaces may be indentation).
// CR LF, as browsers send textareas, becomes LF; any other control character is refused.
func CheckBlock(errs *FieldErrors, field, s string, minLen, maxLen int) string {
	return checkText(errs, field, strings.ReplaceAll(s, "\r\n", "\n"), minLen, maxLen, true)
}

func checkText(errs *FieldErrors, field, s string, minLen, maxLen int, multiLine bool) string {
	if !utf8.ValidString(s) {
		errs.Add(field, TextInvalidEncoding, field+" must be valid UTF-8")
		return s
	}
	s = norm.NFC.String(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0 && minLen > 0:
		errs.Add(field, TextRequired, field+" must not be empty")
		return s
	case n == 0:
		return s
	case n < minLen:
		errs.Add(field, TextRequired, fmt.Sprintf("%s must be at least %d characters", field, minLen))
		return s
	case n > maxLen:
		errs.Add(field, TextTooLong, fmt.Sprintf("%s must be at most %d characters", field, maxLen))
		return s
	}
	if code, msg := textProblem(s, multiLine); code != "" {
		errs.Add(field, code, field+" "+msg)
	}
	return s
}

// textProblem finds the first character that makes s deceptive, or reports that nothing in s
// is visible.
func textProblem(s string, multiLine bool) (code, message string) {
	visible := false
	for _, r := range s {
		switch {
		case r == '\n' && multiLine:
		case r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			return TextLineBreak, "must be one line"
		case unicode.IsControl(r):
			return TextControl, fmt.Sprintf("must not contain the control character U+%04X", r)
		case isBidiControl(r):
			return TextBidiControl, fmt.Sprintf("must not contain the bidirectional formatting character U+%04X, which reorders the text around it", r)
		case unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S):
			visible = true
		}
	}
	if !visible {
		return TextInvisible, "must contain a visible character (letters, digits, punctuation or symbols)"
	}
	return "", ""
}

// isBidiControl reports the explicit embeddings, overrides and isolates: they reorder the
// characters that follow them until their end, so a name can display as something else
// ("Trojan Source", CVE-2021-42574). The implicit marks (U+200E, U+200F, U+061C) stay allowed:
// they only set the direction of neutral characters next to them, which mixed Arabic or Hebrew
// and Latin text needs.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}
