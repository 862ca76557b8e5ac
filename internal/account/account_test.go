package account

import (
	"errors"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyPassword(h, "correct horse battery") {
		t.Fatal("right password rejected")
	}
	if VerifyPassword(h, "correct horse batterY") {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2id$", "$bcrypt$v=19$m=1,t=1,p=1$AA$AA", h[:len(h)-3] + "!!!"} {
		if VerifyPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q verified", bad)
		}
	}
	if Authenticate(nil, "anything at all") {
		t.Fatal("unknown user authenticated")
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{" Ana@Example.COM ": "ana@example.com", "a.b+c@d.ch": "a.b+c@d.ch"} {
		if got, err := NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ana", "ana@", "Ana <ana@example.com>", "ana@localhost", "a@b@c.ch"} {
		if got, err := NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNewUserReportsEveryField(t *testing.T) {
	_, err := NewUser(SignupFields{Email: "nope", Password: "short"}, RoleDesigner, time.Now())
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok || e.Code != backstitch.CodeValidation {
		t.Fatalf("err = %v, want a validation error", err)
	}
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Code
	}
	want := map[string]string{"email": "invalid", "password": "too_short", "name": "required"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s: code %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	if got := MaskEmail("ana.muster@example.com"); got != "a***@example.com" {
		t.Fatalf("MaskEmail = %q", got)
	}
}

func TestSessionToken(t *testing.T) {
	tok, s := NewSession(User{ID: "usr_1", Role: RoleAdmin}, time.Unix(0, 0), time.Hour)
	if len(tok) < 43 { // 32 bytes base64url
		t.Fatalf("token %q shorter than 256 bits", tok)
	}
	if s.ID != TokenID(tok) || s.ID == tok {
		t.Fatal("session must be keyed by the token's hash, not the token")
	}
	tok2, _ := NewSession(User{ID: "usr_1"}, time.Unix(0, 0), time.Hour)
	if tok == tok2 {
		t.Fatal("two sessions share a token")
	}
}
