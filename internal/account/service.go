package account

import (
	"context"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Store is what the account service needs from persistence.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	FindUserByEmail(ctx context.Context, email string) (User, error)
	FindUserByID(ctx context.Context, id string) (User, error)
	CreateSession(ctx context.Context, s Session) error
	// FindSession returns the live session with this id; an expired one is not_found.
	FindSession(ctx context.Context, id string, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user.
	DeleteUserSessions(ctx context.Context, userID string) error
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// SetProfile replaces a user's name and profile.
	SetProfile(ctx context.Context, userID, name string, p Profile) error
	// SetDailyDigest turns a designer's daily digest on or off.
	SetDailyDigest(ctx context.Context, userID string, on bool) error
	CreatePasswordReset(ctx context.Context, r PasswordReset) error
	// TakePasswordReset deletes and returns the live reset with this id in one step; an expired
	// or already taken one is not_found.
	TakePasswordReset(ctx context.Context, id string, now time.Time) (PasswordReset, error)
	RateCounter
}

// RateCounter counts attempts in fixed windows, in the store so that every instance shares them.
type RateCounter interface {
	// HitRateLimit counts one event under key in the fixed window containing now, returning the
	// count so far and when the window ends.
	HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error)
}

// Policy is how sessions last and how many login attempts are allowed per window.
type Policy struct {
	SessionTTL      time.Duration
	LoginPerAddress int
	LoginPerAccount int
	LoginWindow     time.Duration
}

// Service is the application service for accounts: sign-up, login and sessions, shared by the
// JSON API and the pages.
type Service struct {
	store  Store
	now    backstitch.Clock
	policy Policy
	// changes hears of profile changes (see NotifyChanges).
	changes ProfileNotifier
}

// ProfileNotifier hears that a designer's public profile changed, so whatever shows it (the
// public cache of her campaigns' pages) is dropped at once.
type ProfileNotifier interface {
	ProfileChanged(ctx context.Context, userID string)
}

// NotifyChanges sets who hears of profile changes; set before serving.
func (s *Service) NotifyChanges(n ProfileNotifier) { s.changes = n }

// NewService builds the account service.
func NewService(store Store, now backstitch.Clock, policy Policy) *Service {
	return &Service{store: store, now: now, policy: policy}
}

// SignUpDesigner creates a designer account.
func (s *Service) SignUpDesigner(ctx context.Context, f SignupFields) (User, error) {
	u, err := NewUser(f, RoleDesigner, s.now())
	if err != nil {
		return User{}, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	zerolog.Ctx(ctx).Info().Str("user_id", u.ID).Str("email", MaskEmail(u.Email)).Msg("designer signed up")
	return u, nil
}

// Login is what someone sends to sign in, and the address they send it from.
type Login struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Address is the client's IP, counted for the per-address limit; never from the body.
	Address string `json:"-"`
}

// LogIn checks the rate limits before the password (so guessing costs attempts even when the
// guess is right), and answers every failure the same way so it reveals nothing about which part
// was wrong or whether the account exists. It returns the session's token, shown once.
func (s *Service) LogIn(ctx context.Context, in Login) (string, Session, error) {
	email, emailErr := NormalizeEmail(in.Email)
	if emailErr != nil {
		email = strings.ToLower(strings.TrimSpace(in.Email))
	}
	if err := RateLimit(ctx, s.store, "login:addr:"+in.Address, s.policy.LoginPerAddress, s.policy.LoginWindow, s.now()); err != nil {
		return "", Session{}, err
	}
	if err := RateLimit(ctx, s.store, "login:acct:"+email, s.policy.LoginPerAccount, s.policy.LoginWindow, s.now()); err != nil {
		return "", Session{}, err
	}
	var user *User
	if emailErr == nil && len(in.Password) <= MaxPassword*4 {
		u, err := s.store.FindUserByEmail(ctx, email)
		switch {
		case err == nil:
			user = &u
		case backstitch.ErrorCode(err) != backstitch.CodeNotFound:
			return "", Session{}, err
		}
	}
	if !Authenticate(user, in.Password) || user.DisabledAt != nil {
		zerolog.Ctx(ctx).Info().Str("email", MaskEmail(email)).Msg("login failed")
		return "", Session{}, backstitch.Errorf(backstitch.CodeUnauthenticated, "The email or password is wrong.")
	}
	token, sess := NewSession(*user, s.now(), s.policy.SessionTTL)
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", Session{}, err
	}
	zerolog.Ctx(ctx).Info().Str("user_id", user.ID).Msg("logged in")
	return token, sess, nil
}

// RateLimit counts one attempt under key and refuses it, with how long to wait, past allowed
// within the window. The count lives in the store, so every instance shares it.
func RateLimit(ctx context.Context, store RateCounter, key string, allowed int, window time.Duration, now time.Time) error {
	n, reset, err := store.HitRateLimit(ctx, key, window, now)
	if err != nil {
		return err
	}
	if n > int64(allowed) {
		return RateLimited(now, reset)
	}
	return nil
}

// RateLimited is the refusal of an attempt made at now in a window that ends at reset: how long
// to wait, in the message and in Retry-After.
func RateLimited(now, reset time.Time) error {
	wait := max(1, int(reset.Sub(now).Seconds()+0.5))
	e := backstitch.Errorf(backstitch.CodeRateLimited, "Too many attempts. Try again in %d seconds.", wait)
	e.RetryAfter = time.Duration(wait) * time.Second
	return e
}

// Authenticate returns the live session a token belongs to. A token that is unknown or expired is
// unauthenticated at once: treating the caller as anonymous would turn a stale login into
// confusing 404s.
func (s *Service) Authenticate(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 128 {
		return Session{}, backstitch.Errorf(backstitch.CodeUnauthenticated, "Send the session token as Authorization: Bearer <token>.")
	}
	ended := backstitch.Errorf(backstitch.CodeUnauthenticated, "The session has expired or ended. Log in again.")
	sess, err := s.store.FindSession(ctx, TokenID(token), s.now())
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return Session{}, ended
	}
	if err != nil || sess.Role != RoleAdmin {
		return sess, err
	}
	// Disabling an admin deletes her sessions, but a log-in racing the disabling may have
	// written one after that: an admin's every request checks she is still active (admins are
	// few, so the extra read costs little).
	u, err := s.store.FindUserByID(ctx, sess.UserID)
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound || err == nil && u.DisabledAt != nil {
		return Session{}, ended
	}
	return sess, err
}

// LogOut ends a session.
func (s *Service) LogOut(ctx context.Context, sess Session) error {
	return s.store.DeleteSession(ctx, sess.ID)
}

// Me is the signed-in user.
func (s *Service) Me(ctx context.Context, sess Session) (User, error) {
	return s.store.FindUserByID(ctx, sess.UserID)
}

// Designer is what anybody may read about a designer on her campaigns' pages: her name and
// her profile, never her email or payouts.
type Designer struct {
	Name string
	Profile
}

// PublicDesigner is a designer as her public campaign pages show her.
func (s *Service) PublicDesigner(ctx context.Context, userID string) (Designer, error) {
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil {
		return Designer{}, err
	}
	return Designer{Name: u.Name, Profile: u.Profile}, nil
}

// PublicName is the name a designer shows on their public campaigns; nothing else of the
// account (email, payouts) leaves this service for an anonymous visitor.
func (s *Service) PublicName(ctx context.Context, userID string) (string, error) {
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil {
		return "", err
	}
	return u.Name, nil
}
