package account

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// ResetTTL is how long a password-reset link works.
const ResetTTL = time.Hour

// PasswordReset is a single-use permission to choose a new password. As with sessions, only the
// SHA-256 of its token is stored.
type PasswordReset struct {
	ID        string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// RequestPasswordReset makes a reset token for the account with this email, counted against the
// log-in limits (asking is as good as guessing for an attacker who can read the mail). An unknown
// address gets no token and no error, so the answer reveals nothing about who has an account; the
// caller sends the link (the log in development, mail later).
func (s *Service) RequestPasswordReset(ctx context.Context, email, address string) (string, User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", User{}, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "email", Code: "invalid", Message: err.Error()}}}
	}
	if err := RateLimit(ctx, s.store, "reset:addr:"+address, s.policy.LoginPerAddress, s.policy.LoginWindow, s.now()); err != nil {
		return "", User{}, err
	}
	if err := RateLimit(ctx, s.store, "reset:acct:"+email, s.policy.LoginPerAccount, s.policy.LoginWindow, s.now()); err != nil {
		return "", User{}, err
	}
	u, err := s.store.FindUserByEmail(ctx, email)
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		zerolog.Ctx(ctx).Info().Str("email", MaskEmail(email)).Msg("password reset asked for an unknown address")
		return "", User{}, nil
	}
	if err != nil {
		return "", User{}, err
	}
	token, _ := NewSession(u, s.now(), ResetTTL) // the same 256-bit random token
	now := s.now()
	if err := s.store.CreatePasswordReset(ctx, PasswordReset{ID: TokenID(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(ResetTTL)}); err != nil {
		return "", User{}, err
	}
	return token, u, nil
}

// ResetPassword sets a new password with a reset token. The password is checked first, so a
// mistyped one does not spend the link; the token is then taken (deleted) in one atomic step, so
// it works once even when two requests race; and every session of the account ends, since
// whoever held one may be the reason for the reset.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	var errs backstitch.FieldErrors
	checkPassword(&errs, password)
	if err := errs.Err(); err != nil {
		return User{}, err
	}
	invalid := backstitch.Errorf(backstitch.CodeNotFound, "This reset link has expired or was already used. Ask for a new one.")
	if token == "" || len(token) > 128 {
		return User{}, invalid
	}
	r, err := s.store.TakePasswordReset(ctx, TokenID(token), s.now())
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return User{}, invalid
	}
	if err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, err
	}
	if err := s.store.SetPasswordHash(ctx, r.UserID, hash); err != nil {
		return User{}, err
	}
	if err := s.store.DeleteUserSessions(ctx, r.UserID); err != nil {
		return User{}, err
	}
	zerolog.Ctx(ctx).Info().Str("user_id", r.UserID).Msg("password reset")
	return s.store.FindUserByID(ctx, r.UserID)
}
