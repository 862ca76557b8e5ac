package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

const localSession = "session"

// authenticate attaches the caller's session when a bearer token is sent. A token that is sent but
// unknown or expired is an error at once: silently treating the caller as anonymous would turn a
// stale login into confusing 404s.
func (s *Server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return c.Next()
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" || len(token) > 128 {
		return backstitch.Errorf(backstitch.CodeUnauthenticated, "Send the session token as Authorization: Bearer <token>.")
	}
	sess, err := s.store.FindSession(c.UserContext(), account.TokenID(token), s.now())
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return backstitch.Errorf(backstitch.CodeUnauthenticated, "The session has expired or ended. Log in again.")
	}
	if err != nil {
		return err
	}
	c.Locals(localSession, sess)
	ctx := zerolog.Ctx(c.UserContext()).With().Str("user_id", sess.UserID).Logger().WithContext(c.UserContext())
	c.SetUserContext(ctx)
	return c.Next()
}

func session(c *fiber.Ctx) (account.Session, bool) {
	sess, ok := c.Locals(localSession).(account.Session)
	return sess, ok
}

func (s *Server) requireUser(c *fiber.Ctx) error {
	if _, ok := session(c); !ok {
		return backstitch.Errorf(backstitch.CodeUnauthenticated, "Log in first: send Authorization: Bearer <token>.")
	}
	return c.Next()
}

func (s *Server) requireRole(role account.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sess, ok := session(c)
		if !ok {
			return backstitch.Errorf(backstitch.CodeUnauthenticated, "Log in first: send Authorization: Bearer <token>.")
		}
		if sess.Role != role {
			return backstitch.Errorf(backstitch.CodeForbidden, "Only %ss may do this.", role)
		}
		return c.Next()
	}
}

type userView struct {
	ID        string       `json:"id"`
	Email     string       `json:"email"`
	Name      string       `json:"name"`
	Role      account.Role `json:"role"`
	CreatedAt time.Time    `json:"created_at"`
}

func viewUser(u account.User) userView {
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}
}

func (s *Server) signupDesigner(c *fiber.Ctx) error {
	var in account.SignupFields
	if err := decode(c, &in); err != nil {
		return err
	}
	u, err := account.NewUser(in, account.RoleDesigner, s.now())
	if err != nil {
		return err
	}
	if err := s.store.CreateUser(c.UserContext(), u); err != nil {
		return err
	}
	zerolog.Ctx(c.UserContext()).Info().Str("user_id", u.ID).Str("email", account.MaskEmail(u.Email)).Msg("designer signed up")
	return reply(c, http.StatusCreated, viewUser(u))
}

func (s *Server) me(c *fiber.Ctx) error {
	sess, _ := session(c)
	u, err := s.store.FindUserByID(c.UserContext(), sess.UserID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewUser(u))
}

type loginInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type sessionView struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// login checks the rate limits before the password (so guessing costs attempts even when the
// guess is right), and answers every failure the same way so it reveals nothing about which part
// was wrong or whether the account exists.
func (s *Server) login(c *fiber.Ctx) error {
	var in loginInput
	if err := decode(c, &in); err != nil {
		return err
	}
	ctx := c.UserContext()
	email, emailErr := account.NormalizeEmail(in.Email)
	if emailErr != nil {
		email = strings.ToLower(strings.TrimSpace(in.Email))
	}
	if err := s.limit(c, "login:addr:"+c.IP(), s.cfg.LoginPerAddress, s.cfg.LoginWindow); err != nil {
		return err
	}
	if err := s.limit(c, "login:acct:"+email, s.cfg.LoginPerAccount, s.cfg.LoginWindow); err != nil {
		return err
	}
	var user *account.User
	if emailErr == nil && len(in.Password) <= account.MaxPassword*4 {
		u, err := s.store.FindUserByEmail(ctx, email)
		switch {
		case err == nil:
			user = &u
		case backstitch.ErrorCode(err) != backstitch.CodeNotFound:
			return err
		}
	}
	if !account.Authenticate(user, in.Password) {
		zerolog.Ctx(ctx).Info().Str("email", account.MaskEmail(email)).Msg("login failed")
		return backstitch.Errorf(backstitch.CodeUnauthenticated, "The email or password is wrong.")
	}
	token, sess := account.NewSession(*user, s.now(), s.cfg.SessionTTL)
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Str("user_id", user.ID).Msg("logged in")
	return reply(c, http.StatusCreated, sessionView{Token: token, ExpiresAt: sess.ExpiresAt})
}

func (s *Server) logout(c *fiber.Ctx) error {
	sess, _ := session(c)
	if err := s.store.DeleteSession(c.UserContext(), sess.ID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// limit counts one attempt under key and refuses it past allowed within the window.
func (s *Server) limit(c *fiber.Ctx, key string, allowed int, window time.Duration) error {
	n, reset, err := s.store.HitRateLimit(c.UserContext(), key, window, s.now())
	if err != nil {
		return err
	}
	if n > int64(allowed) {
		wait := max(1, int(reset.Sub(s.now()).Seconds()+0.5))
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(wait))
		return backstitch.Errorf(backstitch.CodeRateLimited, "Too many attempts. Try again in %d seconds.", wait)
	}
	return nil
}
