// Package account holds people who sign in (designers and admins), their passwords and sessions.
package account

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
)

// Role decides what a user may do.
type Role string

const (
	RoleDesigner Role = "designer"
	RoleAdmin    Role = "admin"
)

// User is a designer or an admin. PasswordHash never leaves the server.
type User struct {
	ID           string    `bson:"_id"`
	Email        string    `bson:"email"`
	Name         string    `bson:"name"`
	Role         Role      `bson:"role"`
	PasswordHash string    `bson:"password_hash"`
	CreatedAt    time.Time `bson:"created_at"`
	// Payouts (designers): their Stripe Connect Express account and whether Stripe lets it
	// receive transfers yet (kept current by account.updated), which settlement reads.
	StripeAccountID string `bson:"stripe_account_id,omitempty"`
	PayoutsEnabled  bool   `bson:"payouts_enabled"`
	// PayoutState is where her onboarding stood when Stripe last told (written with
	// PayoutsEnabled; nil until then), for her payouts page to say what is left.
	PayoutState *Payouts `bson:"payout_state,omitempty"`
	// Locale is the language she reads her messages in (one of locale.Languages; "" is the
	// default one, for accounts made before it was kept).
	Locale string `bson:"locale,omitempty"`
	// Profile is what a designer tells backers about herself.
	Profile Profile `bson:"profile"`
	// DisabledAt is when an admin was disabled (nil: active). A disabled admin can no longer log
	// in, and no session or token of hers is honoured.
	DisabledAt *time.Time `bson:"disabled_at,omitempty"`
	// DailyDigestOff is set when a designer turned off the daily digest of her live campaigns
	// (stored as "off" so accounts made before the digest get it).
	DailyDigestOff bool `bson:"daily_digest_off,omitempty"`
}

// Payouts is where a designer's Stripe Connect onboarding stands: not Started (no connected
// account yet), started but details not all given, details given and Stripe checking them, or
// Enabled (Stripe lets the platform transfer to her).
type Payouts struct {
	Started bool `bson:"-"`
	// DetailsSubmitted, ChargesEnabled, CurrentlyDue and DisabledReason are Stripe's fields of
	// the account (its requirements' for the last two).
	DetailsSubmitted bool     `bson:"details_submitted"`
	ChargesEnabled   bool     `bson:"charges_enabled"`
	Enabled          bool     `bson:"enabled"`
	CurrentlyDue     []string `bson:"currently_due,omitempty"`
	DisabledReason   string   `bson:"disabled_reason,omitempty"`
	// AsOf is when Stripe said so, to the second (an event's created, or when the account was
	// read): an older word never replaces a newer one, as events come in any order.
	AsOf time.Time `bson:"as_of"`
}

// Rejected says that Stripe has refused the account (requirements.disabled_reason
// "rejected.fraud", "rejected.terms_of_service", "rejected.listed", "rejected.other"): no detail
// she could give changes it, so she is not sent back to Stripe's pages.
func (p Payouts) Rejected() bool {
	return p.Started && !p.Enabled && strings.HasPrefix(p.DisabledReason, "rejected.")
}

// Checking says that Stripe has all it asked for and is verifying it.
func (p Payouts) Checking() bool {
	return p.Started && !p.Enabled && p.DetailsSubmitted && len(p.CurrentlyDue) == 0
}

// Payouts is where her onboarding stands as recorded.
func (u User) Payouts() Payouts {
	if u.StripeAccountID == "" {
		return Payouts{}
	}
	p := Payouts{DetailsSubmitted: u.PayoutsEnabled, Enabled: u.PayoutsEnabled}
	if u.PayoutState != nil {
		p = *u.PayoutState
	}
	p.Started = true
	return p
}

// Password length limits: long passphrases welcome, but hashing megabytes is a denial of service.
const (
	MinPassword = 10
	MaxPassword = 128
	MaxName     = 100
	MaxEmail    = 254
)

// SignupFields is what someone sends to become a designer.
type SignupFields struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	// Locale is the language of her messages: the signup form's, or the API's `locale` field
	// (else Accept-Language).
	Locale string `json:"locale"`
}

// NewUser validates a signup and hashes the password.
func NewUser(f SignupFields, role Role, now time.Time) (User, error) {
	var errs backstitch.FieldErrors
	email, err := NormalizeEmail(f.Email)
	if err != nil {
		errs.Add("email", "invalid", err.Error())
	}
	checkPassword(&errs, f.Password)
	minName := 0
	if role == RoleDesigner {
		minName = 1 // backers see the designer's name on every campaign
	}
	name := backstitch.CheckLine(&errs, "name", f.Name, minName, MaxName)
	if f.Locale != "" && !locale.Supported(f.Locale) {
		errs.Add("locale", "invalid", "locale must be one of "+strings.Join(locale.Languages, ", "))
	}
	if err := errs.Err(); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(f.Password)
	if err != nil {
		return User{}, err
	}
	return User{ID: backstitch.NewID("usr"), Email: email, Name: name, Role: role, PasswordHash: hash, CreatedAt: now, Locale: f.Locale}, nil
}

func checkPassword(errs *backstitch.FieldErrors, pw string) {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPassword:
		errs.Add("password", "too_short", fmt.Sprintf("password must be at least %d characters", MinPassword))
	case n > MaxPassword:
		errs.Add("password", "too_long", fmt.Sprintf("password must be at most %d characters", MaxPassword))
	}
}

// NormalizeEmail trims and lower-cases an address and checks it is a bare address (no display name).
// Lower-casing the local part is not RFC-strict, but no mail provider our users meet treats case
// as significant, and it stops one person holding two accounts.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", fmt.Errorf("email is required")
	}
	if len(s) > MaxEmail {
		return "", fmt.Errorf("email must be at most %d characters", MaxEmail)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", fmt.Errorf("email must be an address such as ana@example.com")
	}
	return s, nil
}

// MaskEmail shortens an address for logs: "ana.muster@example.com" → "a***@example.com".
func MaskEmail(s string) string {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***@" + domain
}

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash in the PHC string format, salt included.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a hash made by HashPassword, in constant time.
func VerifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// decoyHash is verified against when no user has the given email, so that a login for an unknown
// address takes as long as one for a known address and response time reveals nothing.
var decoyHash = func() string {
	h, err := HashPassword("decoy password that never matches")
	if err != nil {
		panic(err)
	}
	return h
}()

// Authenticate checks a password for a user that may not exist (nil) in constant-ish time.
func Authenticate(u *User, pw string) bool {
	if u == nil {
		VerifyPassword(decoyHash, pw)
		return false
	}
	return VerifyPassword(u.PasswordHash, pw)
}

// Session is a signed-in client. Only the SHA-256 of the token is stored, so a leaked database
// backup holds no usable tokens.
type Session struct {
	ID        string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	Role      Role      `bson:"role"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// NewSession makes a session with a fresh 256-bit token, returned once to give to the client.
func NewSession(u User, now time.Time, ttl time.Duration) (token string, s Session) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, Session{ID: TokenID(token), UserID: u.ID, Role: u.Role, CreatedAt: now, ExpiresAt: now.Add(ttl)}
}

// TokenID is the stored key of a token.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
