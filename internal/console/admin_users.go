package console

import (
	"net/http"
	"net/url"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
)

// JoinRoutes are the pages an invited admin opens from her invitation: no session yet, the
// link's token is her permission.
var JoinRoutes = []string{"GET /admin/join", "POST /admin/join"}

func userHref(id string) string { return "/admin/users/" + url.PathEscape(id) }

// adminRow is an admin in the list.
type adminRow struct {
	ID, Name, Email, Since, Status, StatusKind, Disable string
	Self, Active                                        bool
}

type usersView struct {
	base
	Admins []adminRow
	// The invitation form: the address, its message's language, and what was wrong.
	Email     string
	Languages []actionChoice
	Errors    fieldErrors
	Error     string
}

func (k *Console) usersPage(r *request) (view, error) {
	r.Notice = k.adminNotice(r)
	return k.usersView(r, "", "", nil, "", http.StatusOK)
}

func (k *Console) usersView(r *request, email, lang string, errs fieldErrors, msg string, status int) (view, error) {
	admins, err := k.admins.Users.List(r.c.UserContext())
	if err != nil {
		return view{}, err
	}
	if lang == "" {
		lang = r.Lang
	}
	v := usersView{base: r.base, Email: email, Errors: errs, Error: msg}
	v.Title = r.loc.T("admin.users.title")
	for _, l := range locale.Languages {
		v.Languages = append(v.Languages, actionChoice{Value: l, Label: r.loc.T("admin.users.language." + l), Selected: l == lang})
	}
	for _, u := range admins {
		row := adminRow{ID: u.ID, Name: u.Name, Email: u.Email, Since: when(r, u.CreatedAt), Self: u.ID == r.sess.UserID,
			Active: u.DisabledAt == nil, Disable: userHref(u.ID) + "/disable", Status: r.loc.T("admin.users.active"), StatusKind: "active"}
		if u.DisabledAt != nil {
			row.Status, row.StatusKind = r.loc.T("admin.users.disabled", when(r, *u.DisabledAt)), "disabled"
		}
		v.Admins = append(v.Admins, row)
	}
	return view{status: status, name: "admin_users", data: v}, nil
}

// invite sends an invitation through the admin service, which audits it.
func (k *Console) invite(r *request) (view, error) {
	email, lang := r.c.FormValue("email"), r.c.FormValue("locale")
	if _, err := k.admins.Users.Invite(r.c.UserContext(), r.sess.UserID, email, lang); err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		errs, msg := fieldsOf(r, err, nil)
		if backstitch.ErrorCode(err) == backstitch.CodeEmailTaken {
			errs, msg = fieldErrors{"email": r.loc.T("admin.users.taken")}, r.loc.T("console.error.fields")
		}
		return k.usersView(r, email, lang, errs, msg, status)
	}
	return view{redirect: "/admin/users?notice=invited"}, nil
}

// disableView asks the admin to confirm disabling one, saying what it does.
type disableView struct {
	base
	// Target is the admin to disable (the layout's Admin is the one signed in).
	Target adminRow
	Action string
}

// disableForm is the confirmation step before disabling an admin: who it is and what it ends.
// An admin already disabled has nothing to confirm; an id that is no admin is not found.
func (k *Console) disableForm(r *request) (view, error) {
	u, err := k.findAdmin(r, r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	if u.DisabledAt != nil {
		return view{redirect: "/admin/users?notice=disabled"}, nil
	}
	v := disableView{base: r.base, Action: userHref(u.ID) + "/disable",
		Target: adminRow{ID: u.ID, Name: u.Name, Email: u.Email, Since: when(r, u.CreatedAt), Self: u.ID == r.sess.UserID}}
	v.Title = r.loc.T("admin.disable.title", u.Name)
	return view{name: "admin_disable", data: v}, nil
}

// findAdmin is the admin of the roster with this id; the roster is short, and reading it is
// what the list does too.
func (k *Console) findAdmin(r *request, id string) (account.User, error) {
	admins, err := k.admins.Users.List(r.c.UserContext())
	if err != nil {
		return account.User{}, err
	}
	for _, u := range admins {
		if u.ID == id {
			return u, nil
		}
	}
	return account.User{}, backstitch.Errorf(backstitch.CodeNotFound, "Admin not found.")
}

// disable disables an admin through the admin service once the confirmation page's form says
// so: a form without the confirmation field (another page's, or a forged one that got past
// CSRF) goes to the confirmation page and changes nothing. Refusing the last active admin is the
// service's rule, shown on top of the list.
func (k *Console) disable(r *request) (view, error) {
	if r.c.FormValue("confirm") != "yes" {
		return view{redirect: userHref(r.c.Params("id")) + "/disable"}, nil
	}
	_, err := k.admins.Users.Disable(r.c.UserContext(), r.sess.UserID, r.c.Params("id"))
	switch backstitch.ErrorCode(err) {
	case "":
		if r.c.Params("id") == r.sess.UserID {
			// She disabled herself: her session has ended with the others.
			k.clearSession(r.c)
			return view{redirect: "/designer/login"}, nil
		}
		return view{redirect: "/admin/users?notice=disabled"}, nil
	case backstitch.CodeLastAdmin:
		return k.usersView(r, "", "", nil, r.loc.T("admin.users.last"), http.StatusConflict)
	case backstitch.CodeInvalidState:
		return view{redirect: "/admin/users?notice=disabled"}, nil
	}
	return view{}, err
}

type joinView struct {
	base
	Token, Email, Name string
	Errors             fieldErrors
	Error              string
}

// joinForm is the invitation's page: the address it was sent to, and the name and password the
// invitee chooses. An expired or used link says so, with nothing else.
func (k *Console) joinForm(r *request) (view, error) {
	v := joinView{base: r.base, Token: r.c.Query("token")}
	v.Title = r.loc.T("admin.join.title")
	inv, err := k.admins.Users.FindInvite(r.c.UserContext(), v.Token)
	switch backstitch.ErrorCode(err) {
	case "":
		v.Email = inv.Email
		return view{name: "admin_join", data: v}, nil
	case backstitch.CodeNotFound:
		v.Token, v.Error = "", r.loc.T("admin.join.expired")
		return view{status: http.StatusGone, name: "admin_join", data: v}, nil
	}
	return view{}, err
}

// join makes the invitee an admin and signs her in.
func (k *Console) join(r *request) (view, error) {
	ctx := r.c.UserContext()
	v := joinView{base: r.base, Token: r.c.FormValue("token"), Name: r.c.FormValue("name")}
	v.Title = r.loc.T("admin.join.title")
	password := r.c.FormValue("password")
	u, err := k.admins.Users.Accept(ctx, v.Token, v.Name, password, r.loc.Lang)
	switch backstitch.ErrorCode(err) {
	case "":
	case backstitch.CodeValidation:
		if inv, ierr := k.admins.Users.FindInvite(ctx, v.Token); ierr == nil {
			v.Email = inv.Email
		}
		v.Errors, v.Error = fieldsOf(r, err, nil)
		return view{status: http.StatusUnprocessableEntity, name: "admin_join", data: v}, nil
	case backstitch.CodeNotFound, backstitch.CodeEmailTaken:
		v.Token, v.Error = "", r.loc.T("admin.join.expired")
		return view{status: http.StatusGone, name: "admin_join", data: v}, nil
	default:
		return view{}, err
	}
	token, sess, err := k.accounts.LogIn(ctx, account.Login{Email: u.Email, Password: password, Address: r.c.IP()})
	if err != nil {
		// She is an admin; a rate limit or outage only costs her a log-in.
		return view{redirect: "/designer/login"}, nil
	}
	k.endHeldSession(r)
	k.setSession(r.c, token, sess)
	return view{redirect: "/admin?notice=joined"}, nil
}
