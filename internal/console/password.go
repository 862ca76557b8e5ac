package console

import (
	"net/http"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

type forgotView struct {
	base
	Email  string
	Errors fieldErrors
	Error  string
	Sent   bool
}

func (k *Console) forgotForm(r *request) (view, error) {
	v := forgotView{base: r.base}
	v.Title = r.loc.T("console.forgot.title")
	return view{name: "designer_forgot", data: v}, nil
}

// forgot makes a single-use reset link, valid for an hour, mails it, and answers the same whether
// or not the address has an account (or the outbox took the message). In development the link also
// goes to the log, so a local walkthrough works without mail; a production log is no place for a
// key to someone's account.
func (k *Console) forgot(r *request) (view, error) {
	ctx := r.c.UserContext()
	v := forgotView{base: r.base, Email: r.c.FormValue("email")}
	v.Title = r.loc.T("console.forgot.title")
	token, u, err := k.accounts.RequestPasswordReset(ctx, v.Email, r.c.IP())
	switch {
	case err == nil:
	case backstitch.ErrorCode(err) == backstitch.CodeValidation:
		v.Errors, v.Error = fieldsOf(r, err, nil)
		return view{status: http.StatusUnprocessableEntity, name: "designer_forgot", data: v}, nil
	case backstitch.ErrorCode(err) == backstitch.CodeRateLimited:
		v.Error = r.loc.T("console.login.limited")
		return view{status: http.StatusTooManyRequests, name: "designer_forgot", data: v}, nil
	default:
		return view{}, err
	}
	if token != "" {
		link := k.publicURL + "/designer/password/reset?" + url.Values{"token": {token}}.Encode()
		if !k.secure {
			zerolog.Ctx(ctx).Info().Str("user_id", u.ID).Str("reset_link", link).Msg("password reset link (development only; it is mailed too)")
		}
		if k.mail != nil {
			if err := k.mail.SendPasswordReset(ctx, u, account.TokenID(token), link); err != nil {
				// Answered the same: the page must not tell whether the address has an account.
				zerolog.Ctx(ctx).Error().Err(err).Str("user_id", u.ID).Msg("password reset message not written to the outbox")
			}
		}
	}
	v.Sent = true
	return view{name: "designer_forgot", data: v}, nil
}

type resetView struct {
	base
	Token  string
	Errors fieldErrors
	Error  string
}

func (k *Console) resetForm(r *request) (view, error) {
	v := resetView{base: r.base, Token: r.c.Query("token")}
	v.Title = r.loc.T("console.reset.title")
	// The token is in this page's address: no other site may learn it from a Referer.
	r.c.Set("Referrer-Policy", "no-referrer")
	return view{name: "designer_reset", data: v}, nil
}

func (k *Console) reset(r *request) (view, error) {
	v := resetView{base: r.base, Token: r.c.FormValue("token")}
	v.Title = r.loc.T("console.reset.title")
	_, err := k.accounts.ResetPassword(r.c.UserContext(), v.Token, r.c.FormValue("password"))
	if err == nil {
		k.clearSession(r.c)
		return view{redirect: "/designer/login?" + url.Values{"notice": {"password_reset"}}.Encode()}, nil
	}
	switch backstitch.ErrorCode(err) {
	case backstitch.CodeValidation:
		v.Errors, v.Error = fieldsOf(r, err, nil)
		return view{status: http.StatusUnprocessableEntity, name: "designer_reset", data: v}, nil
	case backstitch.CodeNotFound:
		v.Error = r.loc.T("console.reset.expired")
		v.Token = ""
		return view{status: http.StatusGone, name: "designer_reset", data: v}, nil
	}
	return view{}, err
}

// noReferrer keeps the reset page's address (its token) from leaking to whatever it links to.
func noReferrer(c *fiber.Ctx) error {
	c.Set("Referrer-Policy", "no-referrer")
	return c.Next()
}
