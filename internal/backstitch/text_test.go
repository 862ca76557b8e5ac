package backstitch

import (
	"strings"
	"testing"
)

// hostile are texts that look like something, or nothing, other than what they are.
var hostile = []struct {
	name, text, line, block string // line and block: the code each checker must give
}{
	{"zero-width only", "\u200B\u200C\u200D\u2060\uFEFF", TextInvisible, TextInvisible},
	{"combining marks only", "\u0301\u0308\u0327", TextInvisible, TextInvisible},
	{"spaces and zero-width", " \u3000\u200B ", TextInvisible, TextInvisible},
	{"NUL", "Linen\x00Coat", TextControl, TextControl},
	{"escape sequence", "Coat \x1b[31mred", TextControl, TextControl},
	{"tab", "Linen\tCoat", TextControl, TextControl},
	{"CR LF inside", "Linen Coat\r\nSold out", TextLineBreak, ""},
	{"bare CR", "Linen Coat\rSold out", TextLineBreak, TextLineBreak},
	{"LF inside", "Linen Coat\nSold out", TextLineBreak, ""},
	{"line separator", "Linen\u2028Coat", TextLineBreak, TextLineBreak},
	{"NEL", "Linen\u0085Coat", TextLineBreak, TextLineBreak},
	{"right-to-left override", "Coat \u202Egnp.exe", TextBidiControl, TextBidiControl},
	{"left-to-right isolate", "Coat \u2066evil\u2069", TextBidiControl, TextBidiControl},
	{"pop directional formatting", "Coat\u202C", TextBidiControl, TextBidiControl},
	{"invalid UTF-8", "Coat \xff", TextInvalidEncoding, TextInvalidEncoding},
	{"lengths count NFC characters: 20 decomposed é fit in 20", strings.Repeat("e\u0301", 20), "", ""},
	{"21 characters", strings.Repeat("a", 21), TextTooLong, TextTooLong},
}

func TestHostileText(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []struct {
				kind string
				fn   func(*FieldErrors, string, string, int, int) string
				want string
			}{{"line", CheckLine, tc.line}, {"block", CheckBlock, tc.block}} {
				var errs FieldErrors
				check.fn(&errs, "title", tc.text, 1, 20)
				got := ""
				if len(errs) > 0 {
					got = errs[0].Code
					if errs[0].Field != "title" || errs[0].Message == "" || len(errs) != 1 {
						t.Errorf("%s: field errors %+v", check.kind, errs)
					}
				}
				if got != check.want {
					t.Errorf("%s: code %q, want %q (%+v)", check.kind, got, check.want, errs)
				}
			}
		})
	}
}

func TestGoodTextIsNormalised(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  Manteau en lin, fait à Zürich  ", "Manteau en lin, fait à Zürich"},
		{"Cafe\u0301 Crème", "Café Crème"}, // decomposed é becomes one character
		{"リネンのコート", "リネンのコート"},
		{"Λινό παλτό", "Λινό παλτό"},
		{"معطف \u200Fكتان", "معطف \u200Fكتان"}, // an implicit right-to-left mark is fine
		{"🧵", "🧵"},
	} {
		var errs FieldErrors
		if got := CheckLine(&errs, "title", tc.in, 1, 120); got != tc.want || len(errs) != 0 {
			t.Errorf("CheckLine(%q) = %q %+v, want %q", tc.in, got, errs, tc.want)
		}
	}
	var errs FieldErrors
	if got := CheckBlock(&errs, "story", "  Chapter one\r\n\r\n  Indented\n", 0, 100); got != "  Chapter one\n\n  Indented\n" || len(errs) != 0 {
		t.Errorf("CheckBlock: %q %+v", got, errs)
	}
	if CheckLine(&errs, "blurb", "   ", 0, 10); len(errs) != 0 {
		t.Errorf("an optional blank field is empty, not invalid: %+v", errs)
	}
	if CheckLine(&errs, "title", "   ", 1, 10); len(errs) != 1 || errs[0].Code != TextRequired {
		t.Errorf("a required blank field: %+v", errs)
	}
}
