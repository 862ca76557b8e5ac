package admin

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
)

// InviteTTL is how long an invitation to become an admin works.
const InviteTTL = 72 * time.Hour

// Invite is a single-use permission to become an admin with this address. As with sessions
// and password resets, only the SHA-256 of its token is stored.
type Invite struct {
	ID        string    `bson:"_id"`
	Email     string    `bson:"email"`
	InvitedBy string    `bson:"invited_by"`
	Locale    string    `bson:"locale,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// UserStore is what managing admins reads and writes.
type UserStore interface {
	FindUserByID(ctx context.Context, id string) (account.User, error)
	FindUserByEmail(ctx context.Context, email string) (account.User, error)
	CreateUser(ctx context.Context, u account.User) error
	// ListAdmins returns every admin, active or not, oldest first.
	ListAdmins(ctx context.Context) ([]account.User, error)
	CreateInvite(ctx context.Context, inv Invite) error
	// FindInvite returns the live invite with this id; an expired or used one is not_found.
	FindInvite(ctx context.Context, id string, now time.Time) (Invite, error)
	// TakeInvite deletes and returns the live invite with this id in one step.
	TakeInvite(ctx context.Context, id string, now time.Time) (Invite, error)
	// DisableAdmin marks an admin disabled unless she is the last active one (last_admin), in
	// one conditional write, so two admins disabling each other at once leave one of them.
	// It reports whether this call disabled her (false: she already was).
	DisableAdmin(ctx context.Context, userID string, at time.Time) (bool, error)
	DeleteUserSessions(ctx context.Context, userID string) error
	AppendAudit(ctx context.Context, e backstitch.AuditEntry) error
}

// InviteMailer sends an invitation's link (the notify package, through the outbox).
type InviteMailer interface {
	// SendAdminInvite sends link to inv's address; inv.ID names the invitation, so one
	// invitation makes one message.
	SendAdminInvite(ctx context.Context, inv Invite, inviter account.User, link string) error
}

// Users lets admins invite and disable admins, each action audited.
type Users struct {
	store UserStore
	mail  InviteMailer
	now   backstitch.Clock
	// inviteURL makes the link an invitation's token opens.
	inviteURL func(token string) string
}

// NewUsers builds the service; inviteURL turns a token into the link the mail carries.
func NewUsers(store UserStore, mail InviteMailer, now backstitch.Clock, inviteURL func(token string) string) *Users {
	return &Users{store: store, mail: mail, now: now, inviteURL: inviteURL}
}

// List returns every admin, oldest first.
func (s *Users) List(ctx context.Context) ([]account.User, error) { return s.store.ListAdmins(ctx) }

// Invite sends a single-use link to email that makes whoever opens it an admin. The address
// must not belong to an account yet. The message is in lang (the inviter's choice of the
// invitee's language, a supported one, else the inviter's).
func (s *Users) Invite(ctx context.Context, actorID, email, lang string) (Invite, error) {
	email, err := account.NormalizeEmail(email)
	if err != nil {
		return Invite{}, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "email", Code: "invalid", Message: err.Error()}}}
	}
	inviter, err := s.store.FindUserByID(ctx, actorID)
	if err != nil {
		return Invite{}, err
	}
	if lang == "" {
		lang = inviter.Locale
	}
	if lang != "" && !locale.Supported(lang) {
		return Invite{}, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "locale", Code: "invalid", Message: "locale is not a supported language"}}}
	}
	switch _, err := s.store.FindUserByEmail(ctx, email); backstitch.ErrorCode(err) {
	case "":
		return Invite{}, &backstitch.Error{Code: backstitch.CodeEmailTaken, Message: "An account with this email already exists.",
			Fields: []backstitch.FieldError{{Field: "email", Code: "taken", Message: "an account with this email already exists"}}}
	case backstitch.CodeNotFound:
	default:
		return Invite{}, err
	}
	token, _ := account.NewSession(inviter, s.now(), InviteTTL) // the same 256-bit random token
	now := s.now()
	inv := Invite{ID: account.TokenID(token), Email: email, InvitedBy: actorID, Locale: lang, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	if err := s.store.CreateInvite(ctx, inv); err != nil {
		return Invite{}, err
	}
	if err := s.mail.SendAdminInvite(ctx, inv, inviter, s.inviteURL(token)); err != nil {
		return Invite{}, err
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: actorID, Action: "admin.invite", Target: email,
		After: map[string]string{"expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)}})
	return inv, nil
}

// FindInvite returns the live invitation a token opens; a used, expired or unknown one is the
// same not_found.
func (s *Users) FindInvite(ctx context.Context, token string) (Invite, error) {
	if token == "" || len(token) > 128 {
		return Invite{}, invalidInvite()
	}
	inv, err := s.store.FindInvite(ctx, account.TokenID(token), s.now())
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return Invite{}, invalidInvite()
	}
	return inv, err
}

func invalidInvite() error {
	return backstitch.Errorf(backstitch.CodeNotFound, "This invitation has expired or was already used. Ask an admin for a new one.")
}

// Accept makes the invitee an admin with her name and password. The fields are checked first,
// so a mistyped password does not spend the link; the invitation is then taken (deleted) in one
// atomic step, so it works once even when two requests race.
func (s *Users) Accept(ctx context.Context, token, name, password, lang string) (account.User, error) {
	inv, err := s.FindInvite(ctx, token)
	if err != nil {
		return account.User{}, err
	}
	if lang == "" {
		lang = inv.Locale
	}
	u, err := account.NewUser(account.SignupFields{Email: inv.Email, Password: password, Name: name, Locale: lang}, account.RoleAdmin, s.now())
	if err != nil {
		return account.User{}, err
	}
	if u.Name == "" {
		return account.User{}, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "name", Code: "required", Message: "name is required"}}}
	}
	if _, err := s.store.TakeInvite(ctx, inv.ID, s.now()); backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return account.User{}, invalidInvite()
	} else if err != nil {
		return account.User{}, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return account.User{}, err
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: u.ID, Action: "admin.invite.accept", Target: u.ID,
		After: map[string]string{"email": u.Email, "invited_by": inv.InvitedBy}})
	zerolog.Ctx(ctx).Info().Str("user_id", u.ID).Str("email", account.MaskEmail(u.Email)).Msg("admin joined")
	return u, nil
}

// Disable disables an admin: she cannot log in any more and every session and API token of
// hers ends at once. The last active admin cannot be disabled.
func (s *Users) Disable(ctx context.Context, actorID, userID string) (account.User, error) {
	u, err := s.store.FindUserByID(ctx, userID)
	if err == nil && u.Role != account.RoleAdmin {
		err = backstitch.Errorf(backstitch.CodeNotFound, "Admin not found.")
	}
	if err != nil {
		return u, err
	}
	changed, err := s.store.DisableAdmin(ctx, u.ID, s.now())
	if err != nil {
		return u, err
	}
	// Ended even when she was disabled already: a half-done disabling (a crash before this
	// step) is finished by doing it again.
	if err := s.store.DeleteUserSessions(ctx, u.ID); err != nil {
		return u, err
	}
	if !changed {
		return u, backstitch.Errorf(backstitch.CodeInvalidState, "This admin is disabled already.")
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: actorID, Action: "admin.disable", Target: u.ID,
		Before: map[string]string{"status": "active"}, After: map[string]string{"status": "disabled"}})
	return s.store.FindUserByID(ctx, u.ID)
}

func (s *Users) audit(ctx context.Context, e backstitch.AuditEntry) {
	e.At = s.now()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("action", e.Action).Str("target", e.Target).Msg("audit entry not written")
	}
}
