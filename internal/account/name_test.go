package account

import (
	"errors"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// A designer's name is shown on every campaign: it must show what it is.
func TestDesignerNamesThatDeceiveAreRefused(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ name, code string }{
		{"\u200B\u200C", "no_visible_character"},
		{"\u0301\u0301", "no_visible_character"},
		{"Vera\x00Admin", "control_character"},
		{"Vera\r\nRole: admin", "line_break"},
		{"Vera \u202Enimda", "bidi_control"},
		{"Vera \u2066x\u2069", "bidi_control"},
	} {
		_, err := NewUser(SignupFields{Email: "v@example.com", Password: "long enough password", Name: tc.name}, RoleDesigner, now)
		e, ok := errors.AsType[*backstitch.Error](err)
		if !ok || len(e.Fields) != 1 || e.Fields[0].Field != "name" || e.Fields[0].Code != tc.code {
			t.Errorf("name %q: %v, want name %s", tc.name, err, tc.code)
		}
	}
	for in, want := range map[string]string{" Hélène Dupont ": "Hélène Dupont", "He\u0301le\u0300ne": "Hélène", "山田 花子": "山田 花子"} {
		u, err := NewUser(SignupFields{Email: "v@example.com", Password: "long enough password", Name: in}, RoleDesigner, now)
		if err != nil || u.Name != want {
			t.Errorf("name %q: %q %v, want %q", in, u.Name, err, want)
		}
	}
}
