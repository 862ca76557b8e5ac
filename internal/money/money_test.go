package money

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		m    Money
		want string
	}{
		{Money{2500, "CHF"}, "CHF 25.00"},
		{Money{5, "EUR"}, "EUR 0.05"},
		{Money{0, "USD"}, "USD 0.00"},
		{Money{-150, "GBP"}, "GBP -1.50"},
		{Money{500, "JPY"}, "JPY 500"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
}

func TestProblem(t *testing.T) {
	for _, tc := range []struct {
		m    Money
		code string
	}{
		{Money{50, "CHF"}, ""},
		{Money{49, "CHF"}, "too_small"},
		{Money{30, "GBP"}, ""},
		{Money{29, "GBP"}, "too_small"},
		{Money{50, "JPY"}, ""},
		{Money{MaxAmount + 1, "EUR"}, "too_large"},
		{Money{100, "XXX"}, "unsupported_currency"},
		{Money{100, "chf"}, "unsupported_currency"},
	} {
		if code, _ := tc.m.Problem(); code != tc.code {
			t.Errorf("%+v.Problem() = %q, want %q", tc.m, code, tc.code)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"25", "CHF", 2500, true},
		{"25.5", "CHF", 2550, true},
		{"0.05", "EUR", 5, true},
		{"500", "JPY", 500, true},
		{"500.0", "JPY", 0, false},
		{"1.234", "EUR", 0, false},
		{"-1", "EUR", 0, false},
		{"1e3", "EUR", 0, false},
		{"", "EUR", 0, false},
		{".5", "EUR", 0, false},
		{"5.", "EUR", 0, false},
		{"999999999999999999999", "EUR", 0, false},
		{"1", "XYZ", 0, false},
	} {
		m, err := Parse(tc.in, tc.cur)
		if (err == nil) != tc.ok || (tc.ok && m.Amount != tc.want) {
			t.Errorf("Parse(%q, %q) = %+v, %v; want %d ok=%v", tc.in, tc.cur, m, err, tc.want, tc.ok)
		}
	}
}

// FuzzParse checks that every accepted amount is a positive-or-zero integer within Stripe's range
// and formats back to the same number.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "25.50", "1.2", "99999999", "00.01", "1e9", "-3"} {
		f.Add(s, "CHF")
		f.Add(s, "JPY")
	}
	f.Fuzz(func(t *testing.T, s, cur string) {
		m, err := Parse(s, cur)
		if err != nil {
			return
		}
		if m.Amount < 0 || m.Amount > MaxAmount || m.Currency != cur {
			t.Fatalf("Parse(%q,%q) = %+v out of range", s, cur, m)
		}
		back, err := Parse(strings.TrimPrefix(m.String(), cur+" "), cur)
		if err != nil || back != m {
			t.Fatalf("round trip of %+v via %q = %+v, %v", m, m.String(), back, err)
		}
	})
}
