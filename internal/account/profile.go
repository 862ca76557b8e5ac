package account

import (
	"context"
	"net/url"
	"regexp"
	"strings"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Profile limits.
const (
	MaxBio      = 1000
	MaxWebsite  = 200
	MaxLocation = 100
)

// instagramHandle is what Instagram accepts as a user name.
var instagramHandle = regexp.MustCompile(`^[A-Za-z0-9._]{1,30}$`)

// ProfileFields is what a designer may change about herself: her public name and a few lines
// backers may read. Email, role and payouts are not here, so no form can set them.
type ProfileFields struct {
	Name      string `json:"name"`
	Bio       string `json:"bio"`
	Website   string `json:"website"`
	Instagram string `json:"instagram"`
	Location  string `json:"location"`
}

// Profile is the checked, normalised form of ProfileFields, as stored.
type Profile struct {
	Bio       string `bson:"bio,omitempty"`
	Website   string `bson:"website,omitempty"`
	Instagram string `bson:"instagram,omitempty"`
	Location  string `bson:"location,omitempty"`
}

// CheckProfile validates a profile: the name as at sign-up, a bio of a few paragraphs, a web
// address that is an absolute http(s) URL (never javascript: or a path: it becomes a link), an
// Instagram handle with or without its @ (or pasted as the profile's address), a place.
func CheckProfile(f ProfileFields) (name string, p Profile, err error) {
	var errs backstitch.FieldErrors
	name = backstitch.CheckLine(&errs, "name", f.Name, 1, MaxName)
	p.Bio = backstitch.CheckBlock(&errs, "bio", strings.TrimSpace(f.Bio), 0, MaxBio)
	p.Location = backstitch.CheckLine(&errs, "location", f.Location, 0, MaxLocation)
	if w := backstitch.CheckLine(&errs, "website", f.Website, 0, MaxWebsite); w != "" {
		if !strings.Contains(w, "://") {
			w = "https://" + w // people type "atelier-ana.ch"
		}
		u, perr := url.Parse(w)
		if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || !strings.Contains(u.Hostname(), ".") || u.User != nil ||
			strings.ContainsAny(u.Hostname(), " <>\"'") {
			errs.Add("website", "invalid", "website must be a web address such as https://atelier-ana.ch")
		} else {
			p.Website = u.String()
		}
	}
	if h := backstitch.CheckLine(&errs, "instagram", f.Instagram, 0, 100); h != "" {
		for _, prefix := range []string{"https://", "http://", "www.", "instagram.com/", "@"} {
			h = strings.TrimPrefix(h, prefix)
		}
		h = strings.TrimSuffix(h, "/")
		if !instagramHandle.MatchString(h) {
			errs.Add("instagram", "invalid", "instagram must be a handle such as @atelier.ana: letters, digits, points and underscores, at most 30")
		} else {
			p.Instagram = h
		}
	}
	return name, p, errs.Err()
}

// UpdateProfile saves a designer's own profile.
func (s *Service) UpdateProfile(ctx context.Context, sess Session, f ProfileFields) (User, error) {
	name, p, err := CheckProfile(f)
	if err != nil {
		return User{}, err
	}
	if err := s.store.SetProfile(ctx, sess.UserID, name, p); err != nil {
		return User{}, err
	}
	if s.changes != nil {
		s.changes.ProfileChanged(ctx, sess.UserID)
	}
	return s.store.FindUserByID(ctx, sess.UserID)
}

// SetDailyDigest turns the signed-in designer's daily digest on or off (the console's setting;
// the digest's own link turns it off without a session).
func (s *Service) SetDailyDigest(ctx context.Context, sess Session, on bool) error {
	return s.store.SetDailyDigest(ctx, sess.UserID, on)
}

// ChangePassword sets a new password for the signed-in user once she gives the current one, so a
// session left open on a shared computer cannot lock her out. Wrong guesses count against the
// account's log-in limit (a stolen session must not become a way to guess the password). Every
// session of the account then ends, this one too, and a new session is returned for the browser
// that made the change: whoever else held one is out.
func (s *Service) ChangePassword(ctx context.Context, sess Session, current, next string) (string, Session, error) {
	u, err := s.store.FindUserByID(ctx, sess.UserID)
	if err != nil {
		return "", Session{}, err
	}
	if err := RateLimit(ctx, s.store, "login:acct:"+u.Email, s.policy.LoginPerAccount, s.policy.LoginWindow, s.now()); err != nil {
		return "", Session{}, err
	}
	var errs backstitch.FieldErrors
	if len(current) > MaxPassword*4 || !Authenticate(&u, current) {
		errs.Add("current_password", "wrong", "current_password is not the account's password")
	}
	checkPassword(&errs, next)
	if err := errs.Err(); err != nil {
		return "", Session{}, err
	}
	hash, err := HashPassword(next)
	if err != nil {
		return "", Session{}, err
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return "", Session{}, err
	}
	if err := s.store.DeleteUserSessions(ctx, u.ID); err != nil {
		return "", Session{}, err
	}
	token, fresh := NewSession(u, s.now(), s.policy.SessionTTL)
	if err := s.store.CreateSession(ctx, fresh); err != nil {
		return "", Session{}, err
	}
	zerolog.Ctx(ctx).Info().Str("user_id", u.ID).Msg("password changed")
	return token, fresh, nil
}
