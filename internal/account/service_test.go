package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Logins: the limit per account counts before the password is checked, so the right guess after
// the limit is refused too, with how long to wait; a session dies at logout and at expiry.
func TestLoginLimitsAndSessions(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	svc := account.NewService(testenv.MustStore(t), clock.Now,
		account.Policy{SessionTTL: time.Hour, LoginPerAddress: 100, LoginPerAccount: 3, LoginWindow: time.Minute})
	ctx := context.Background()
	if _, err := svc.SignUpDesigner(ctx, account.SignupFields{Email: " Ana@Atelier.example ", Password: "linen and wool", Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignUpDesigner(ctx, account.SignupFields{Email: "ana@atelier.example", Password: "another password", Name: "Ana 2"}); backstitch.ErrorCode(err) != backstitch.CodeEmailTaken {
		t.Fatalf("second account on one address: %v", err)
	}
	for _, pw := range []string{"wrong password", "wrong again!"} {
		if _, _, err := svc.LogIn(ctx, account.Login{Email: "ana@atelier.example", Password: pw, Address: "192.0.2.1"}); backstitch.ErrorCode(err) != backstitch.CodeUnauthenticated {
			t.Fatalf("wrong password: %v", err)
		}
	}
	_, _, unknown := svc.LogIn(ctx, account.Login{Email: "nobody@atelier.example", Password: "linen and wool", Address: "192.0.2.1"})
	_, _, wrong := svc.LogIn(ctx, account.Login{Email: "ana@atelier.example", Password: "wrong password", Address: "192.0.2.2"})
	if unknown == nil || wrong == nil || unknown.Error() != "unauthenticated: The email or password is wrong." || wrong.Error() != unknown.Error() {
		t.Fatalf("an unknown account answers unlike a wrong password: %v / %v", unknown, wrong)
	}
	_, _, err := svc.LogIn(ctx, account.Login{Email: "ANA@atelier.example", Password: "linen and wool", Address: "192.0.2.3"})
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok || e.Code != backstitch.CodeRateLimited || e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
		t.Fatalf("4th attempt on one account in a window: %#v", err)
	}
	clock.Advance(time.Minute)
	token, sess, err := svc.LogIn(ctx, account.Login{Email: "ana@atelier.example", Password: "linen and wool", Address: "192.0.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Authenticate(ctx, token); err != nil || got.ID != sess.ID || got.Role != account.RoleDesigner {
		t.Fatalf("fresh session: %+v %v", got, err)
	}
	if err := svc.LogOut(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, token); backstitch.ErrorCode(err) != backstitch.CodeUnauthenticated {
		t.Fatalf("session after logout: %v", err)
	}
	token, _, err = svc.LogIn(ctx, account.Login{Email: "ana@atelier.example", Password: "linen and wool", Address: "192.0.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, err := svc.Authenticate(ctx, token); backstitch.ErrorCode(err) != backstitch.CodeUnauthenticated {
		t.Fatalf("session after expiry: %v", err)
	}
}
