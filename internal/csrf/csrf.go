// Package csrf guards the HTML forms against cross-site request forgery. A visitor gets a random
// id in an HttpOnly, SameSite=Lax cookie; each form carries a token that is the id signed with a
// key every instance shares (so any instance accepts a form another one served). A POST must send
// the cookie and a token that matches it, and must not come from another site: a forged form on
// another site can make the browser send the cookie (with Lax, on top-level POSTs it does not), but
// it cannot read the token.
package csrf

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"

	"github.com/gofiber/fiber/v2"
)

const (
	// CookieName holds the visitor's random id.
	CookieName = "csrf"
	// FieldName is the hidden form field that carries the token.
	FieldName = "csrf_token"
	// SecretName is the server secret the tokens are signed with.
	SecretName = "csrf"
)

// ErrForged is what Check answers for a request that did not come from one of our forms.
var ErrForged = errors.New("csrf: the form did not come from this site, or the page was too old")

// Guard issues and checks tokens.
type Guard struct {
	load   func(ctx context.Context, name string) ([]byte, error)
	secure bool

	mu  sync.Mutex
	key []byte
}

// New returns a guard whose signing key comes from load (the store's shared server secrets); secure
// marks the cookie Secure (every address but development's http).
func New(load func(ctx context.Context, name string) ([]byte, error), secure bool) *Guard {
	return &Guard{load: load, secure: secure}
}

func (g *Guard) signingKey(ctx context.Context) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.key == nil {
		k, err := g.load(ctx, SecretName)
		if err != nil {
			return nil, err
		}
		g.key = k
	}
	return g.key, nil
}

func (g *Guard) sign(ctx context.Context, id string) (string, error) {
	key, err := g.signingKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// Token is the token to put in a form on this response. It sets the visitor's cookie when the
// request had none, so the first page a visitor sees can already carry a working form.
func (g *Guard) Token(c *fiber.Ctx) (string, error) {
	id := c.Cookies(CookieName)
	if !validID(id) {
		b := make([]byte, 24)
		_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
		id = base64.RawURLEncoding.EncodeToString(b)
		c.Cookie(&fiber.Cookie{Name: CookieName, Value: id, Path: "/", HTTPOnly: true,
			Secure: g.secure, SameSite: fiber.CookieSameSiteLaxMode})
		// The request's later reads (another form on the same page) must see the same id.
		c.Request().Header.SetCookie(CookieName, id)
	}
	return g.sign(c.UserContext(), id)
}

// Check accepts a state-changing request only when it carries our token for its cookie and the
// browser does not say it came from another site.
func (g *Guard) Check(c *fiber.Ctx) error {
	if site := c.Get("Sec-Fetch-Site"); site == "cross-site" {
		return ErrForged
	}
	id := c.Cookies(CookieName)
	got := c.FormValue(FieldName)
	if !validID(id) || got == "" {
		return ErrForged
	}
	want, err := g.sign(c.UserContext(), id)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return ErrForged
	}
	return nil
}

// validID accepts only ids this package could have made: 24 random bytes, base64url.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}
