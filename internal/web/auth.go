package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
)

const localSession = "session"

// authenticate attaches the caller's session when a bearer token is sent; a token that is sent
// but not live is refused at once (see account.Service.Authenticate).
func (s *Server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return c.Next()
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return backstitch.Errorf(backstitch.CodeUnauthenticated, "Send the session token as Authorization: Bearer <token>.")
	}
	sess, err := s.accounts.Authenticate(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.Locals(localSession, sess)
	ctx := zerolog.Ctx(c.UserContext()).With().Str("user_id", sess.UserID).Logger().WithContext(c.UserContext())
	c.SetUserContext(ctx)
	return c.Next()
}

// consoleDesigner attaches the session of the designer signed in to the console (its cookie),
// for the console's links to what the API serves (the backers' CSV): the same handler, the same
// owner check. Without a session the browser is sent to log in and back.
func (s *Server) consoleDesigner(c *fiber.Ctx) error {
	sess, ok, err := s.console.Session(c)
	if err != nil {
		return err
	}
	if !ok {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Redirect("/designer/login?"+url.Values{"next": {c.OriginalURL()}}.Encode(), http.StatusSeeOther)
	}
	c.Locals(localSession, sess)
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
	Profile   profileView  `json:"profile"`
}

// profileView is a designer's profile as her campaigns' pages show it.
type profileView struct {
	Bio       string `json:"bio"`
	Website   string `json:"website"`
	Instagram string `json:"instagram"`
	Location  string `json:"location"`
}

func viewUser(u account.User) userView {
	p := u.Profile
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt,
		Profile: profileView{Bio: p.Bio, Website: p.Website, Instagram: p.Instagram, Location: p.Location}}
}

func (s *Server) signupDesigner(c *fiber.Ctx) error {
	var in account.SignupFields
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Locale == "" {
		in.Locale = locale.Negotiate("", c.Get(fiber.HeaderAcceptLanguage)).Lang
	}
	u, err := s.accounts.SignUpDesigner(c.UserContext(), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, viewUser(u))
}

func (s *Server) me(c *fiber.Ctx) error {
	sess, _ := session(c)
	u, err := s.accounts.Me(c.UserContext(), sess)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewUser(u))
}

// putProfile replaces the user's name and profile, with the console's rules (account service).
func (s *Server) putProfile(c *fiber.Ctx) error {
	var in account.ProfileFields
	if err := decode(c, &in); err != nil {
		return err
	}
	sess, _ := session(c)
	u, err := s.accounts.UpdateProfile(c.UserContext(), sess, in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewUser(u))
}

type sessionView struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var in account.Login
	if err := decode(c, &in); err != nil {
		return err
	}
	in.Address = c.IP()
	token, sess, err := s.accounts.LogIn(c.UserContext(), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, sessionView{Token: token, ExpiresAt: sess.ExpiresAt})
}

func (s *Server) logout(c *fiber.Ctx) error {
	sess, _ := session(c)
	if err := s.accounts.LogOut(c.UserContext(), sess); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
