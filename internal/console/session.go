package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// The session cookie carries the same token the API hands out as a bearer token (one session
// store, one expiry, one logout), but only the console reads it: the API keeps answering bearer
// tokens alone, so no cross-site request can ride on the cookie there. Over https it is
// __Host-session: Secure, Path=/, no Domain, so no sibling host can plant or read it.
func (k *Console) SessionCookie() string {
	if k.secure {
		return "__Host-session"
	}
	return "session"
}

func (k *Console) setSession(c *fiber.Ctx, token string, sess account.Session) {
	// Max-Age rather than Expires: the browser's clock need not agree with ours.
	c.Cookie(&fiber.Cookie{Name: k.SessionCookie(), Value: token, Path: "/", MaxAge: int(sess.ExpiresAt.Sub(k.now()).Seconds()),
		HTTPOnly: true, Secure: k.secure, SameSite: fiber.CookieSameSiteLaxMode})
}

func (k *Console) clearSession(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: k.SessionCookie(), Value: "", Path: "/", Expires: fasthttp.CookieExpireDelete,
		HTTPOnly: true, Secure: k.secure, SameSite: fiber.CookieSameSiteLaxMode})
}

// designer lets h run only for a signed-in designer. Without a live session the visitor is sent
// to log in, and back here afterwards; a signed-in admin is refused (the admins' console is
// elsewhere).
func (k *Console) designer(h handler) handler { return k.signedIn(account.RoleDesigner, h) }

// signedIn lets h run only for a signed-in user of role: anyone else with a session is
// refused (403), a visitor without one sent to log in.
func (k *Console) signedIn(role account.Role, h handler) handler {
	return func(r *request) (view, error) {
		token := r.c.Cookies(k.SessionCookie())
		if token == "" {
			return k.toLogin(r), nil
		}
		sess, err := k.accounts.Authenticate(r.c.UserContext(), token)
		if backstitch.ErrorCode(err) == backstitch.CodeUnauthenticated {
			k.clearSession(r.c)
			return k.toLogin(r), nil
		}
		if err != nil {
			return view{}, err
		}
		if sess.Role != role {
			return view{}, backstitch.Errorf(backstitch.CodeForbidden, "Only %ss may do this.", role)
		}
		u, err := k.accounts.Me(r.c.UserContext(), sess)
		if err != nil {
			return view{}, err
		}
		r.sess = sess
		if role == account.RoleAdmin {
			r.Admin = u.Name
		} else {
			r.Designer = u.Name
		}
		return h(r)
	}
}

// toLogin sends a visitor without a session to the log-in form, remembering the page they asked
// for (a GET; after a form post, the dashboard).
func (k *Console) toLogin(r *request) view {
	next := home(r.c.Path())
	if r.c.Method() == fiber.MethodGet {
		next = string(r.c.Request().URI().RequestURI())
	}
	return view{redirect: "/designer/login?" + url.Values{"next": {next}}.Encode()}
}

// nextPage is where to go after logging in: the page asked for, if it is one of the console's.
func nextPage(next string) string {
	path, _, _ := strings.Cut(next, "?")
	if !localPath(path) {
		return "/designer"
	}
	return next
}

type authForm struct {
	base
	Email, Name, Next string
	Errors            fieldErrors
	Error             string
}

func (k *Console) loginForm(r *request) (view, error) {
	v := authForm{base: r.base, Next: nextPage(r.c.Query("next"))}
	v.Title = r.loc.T("console.login.title")
	v.Notice = k.notice(r)
	return view{name: "designer_login", data: v}, nil
}

// login checks the password through the account service, so the API's rate limits (per address
// and per account) count the console's attempts too. A new session is made on every log-in and a
// session the browser already held is ended: a token planted before log-in never becomes a
// signed-in one (session fixation).
func (k *Console) login(r *request) (view, error) {
	ctx := r.c.UserContext()
	v := authForm{base: r.base, Email: r.c.FormValue("email"), Next: nextPage(r.c.FormValue("next"))}
	v.Title = r.loc.T("console.login.title")
	token, sess, err := k.accounts.LogIn(ctx, account.Login{Email: v.Email, Password: r.c.FormValue("password"), Address: r.c.IP()})
	switch {
	case err == nil:
	case backstitch.ErrorCode(err) == backstitch.CodeUnauthenticated:
		v.Error = r.loc.T("console.login.wrong")
		return view{status: http.StatusUnauthorized, name: "designer_login", data: v}, nil
	case backstitch.ErrorCode(err) == backstitch.CodeRateLimited:
		v.Error = r.loc.T("console.login.limited")
		if e, ok := errors.AsType[*backstitch.Error](err); ok && e.RetryAfter > 0 {
			r.c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(e.RetryAfter.Seconds())))
		}
		return view{status: http.StatusTooManyRequests, name: "designer_login", data: v}, nil
	default:
		return view{}, err
	}
	k.endHeldSession(r)
	k.setSession(r.c, token, sess)
	return view{redirect: landing(sess.Role, v.Next)}, nil
}

// landing is where a log-in leads: the page asked for when it is of the signed-in person's
// console, else that console's first page (admins log in on the same form as designers).
func landing(role account.Role, next string) string {
	path, _, _ := strings.Cut(next, "?")
	if (role == account.RoleAdmin) != adminPath(path) {
		if role == account.RoleAdmin {
			return "/admin"
		}
		return "/designer"
	}
	return next
}

// endHeldSession ends the session whose token the browser sent, if any.
func (k *Console) endHeldSession(r *request) {
	old := r.c.Cookies(k.SessionCookie())
	if old == "" {
		return
	}
	if sess, err := k.accounts.Authenticate(r.c.UserContext(), old); err == nil {
		_ = k.accounts.LogOut(r.c.UserContext(), sess) // best effort: it expires anyway
	}
}

func (k *Console) signupForm(r *request) (view, error) {
	v := authForm{base: r.base}
	v.Title = r.loc.T("console.signup.title")
	return view{name: "designer_signup", data: v}, nil
}

// signup makes a designer account with the API's rules (password length, name, unique email) and
// signs her in.
func (k *Console) signup(r *request) (view, error) {
	ctx := r.c.UserContext()
	in := account.SignupFields{Email: r.c.FormValue("email"), Password: r.c.FormValue("password"), Name: r.c.FormValue("name"), Locale: r.loc.Lang}
	v := authForm{base: r.base, Email: in.Email, Name: in.Name}
	v.Title = r.loc.T("console.signup.title")
	if _, err := k.accounts.SignUpDesigner(ctx, in); err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		v.Errors, v.Error = fieldsOf(r, err, nil)
		if backstitch.ErrorCode(err) == backstitch.CodeEmailTaken {
			v.Errors = fieldErrors{"email": r.loc.T("console.signup.taken")}
			v.Error = ""
		}
		return view{status: status, name: "designer_signup", data: v}, nil
	}
	token, sess, err := k.accounts.LogIn(ctx, account.Login{Email: in.Email, Password: in.Password, Address: r.c.IP()})
	if err != nil {
		// The account exists; a rate limit or outage only costs her a log-in.
		return view{redirect: "/designer/login"}, nil
	}
	k.endHeldSession(r)
	k.setSession(r.c, token, sess)
	return view{redirect: "/designer?" + url.Values{"notice": {"welcome"}}.Encode()}, nil
}

// logout ends the session on the server (the token is dead for the API too) and in the browser.
func (k *Console) logout(r *request) (view, error) {
	k.endHeldSession(r)
	k.clearSession(r.c)
	return view{redirect: "/designer/login"}, nil
}
