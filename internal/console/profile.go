package console

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// profileView is the profile page: the profile form and the change-password form, each with
// what was typed and what is wrong.
type profileView struct {
	base
	Email          string
	Form           account.ProfileFields
	Errors         fieldErrors
	Error          string
	PasswordErrors fieldErrors
	PasswordError  string
	// DailyDigest is whether the morning summary of her live campaigns reaches her.
	DailyDigest bool
}

func (k *Console) profilePage(r *request, f *account.ProfileFields) (profileView, error) {
	u, err := k.accounts.Me(r.c.UserContext(), r.sess)
	if err != nil {
		return profileView{}, err
	}
	v := profileView{base: r.base, Email: u.Email, DailyDigest: !u.DailyDigestOff}
	v.Title = r.loc.T("console.profile.title")
	if f != nil {
		v.Form = *f
	} else {
		v.Form = account.ProfileFields{Name: u.Name, Bio: u.Profile.Bio, Website: u.Profile.Website, Instagram: u.Profile.Instagram, Location: u.Profile.Location}
		if v.Form.Instagram != "" {
			v.Form.Instagram = "@" + v.Form.Instagram
		}
	}
	return v, nil
}

func (k *Console) profile(r *request) (view, error) {
	r.Notice = k.notice(r)
	v, err := k.profilePage(r, nil)
	if err != nil {
		return view{}, err
	}
	return view{name: "designer_profile", data: v}, nil
}

func (k *Console) saveProfile(r *request) (view, error) {
	f := account.ProfileFields{Name: r.c.FormValue("name"), Bio: r.c.FormValue("bio"), Website: r.c.FormValue("website"),
		Instagram: r.c.FormValue("instagram"), Location: r.c.FormValue("location")}
	_, err := k.accounts.UpdateProfile(r.c.UserContext(), r.sess, f)
	if err == nil {
		return view{redirect: "/designer/profile?notice=profile_saved"}, nil
	}
	status, ok := formStatus(err)
	if !ok {
		return view{}, err
	}
	v, perr := k.profilePage(r, &f)
	if perr != nil {
		return view{}, perr
	}
	v.Errors, v.Error = fieldsOf(r, err, nil)
	return view{status: status, name: "designer_profile", data: v}, nil
}

// saveDigest turns the daily digest on or off: the checkbox is sent only when ticked.
func (k *Console) saveDigest(r *request) (view, error) {
	on := r.c.FormValue("daily_digest") == "on"
	if err := k.accounts.SetDailyDigest(r.c.UserContext(), r.sess, on); err != nil {
		return view{}, err
	}
	if on {
		return view{redirect: "/designer/profile?notice=digest_on#digest-title"}, nil
	}
	return view{redirect: "/designer/profile?notice=digest_off#digest-title"}, nil
}

// changePassword needs the current password; every other session of the account ends, and
// this browser gets a new one.
func (k *Console) changePassword(r *request) (view, error) {
	token, sess, err := k.accounts.ChangePassword(r.c.UserContext(), r.sess, r.c.FormValue("current_password"), r.c.FormValue("password"))
	if err == nil {
		k.setSession(r.c, token, sess)
		return view{redirect: "/designer/profile?notice=password_changed"}, nil
	}
	v, perr := k.profilePage(r, nil)
	if perr != nil {
		return view{}, perr
	}
	status := http.StatusUnprocessableEntity
	switch {
	case backstitch.ErrorCode(err) == backstitch.CodeRateLimited:
		status, v.PasswordError = http.StatusTooManyRequests, r.loc.T("console.login.limited")
		if e, ok := errors.AsType[*backstitch.Error](err); ok && e.RetryAfter > 0 {
			r.c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(e.RetryAfter.Seconds())))
		}
	case backstitch.ErrorCode(err) == backstitch.CodeValidation:
		v.PasswordErrors, v.PasswordError = fieldsOf(r, err, nil)
		if _, wrong := v.PasswordErrors["current_password"]; wrong {
			v.PasswordErrors["current_password"] = r.loc.T("console.password.wrong")
		}
	default:
		return view{}, err
	}
	return view{status: status, name: "designer_profile", data: v}, nil
}
