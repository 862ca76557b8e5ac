package web

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/account"
)

// adminView is an admin as the API shows her; disabled_at is null while she is active.
type adminView struct {
	userView
	DisabledAt *time.Time `json:"disabled_at"`
}

func viewAdmin(u account.User) adminView {
	return adminView{userView: viewUser(u), DisabledAt: u.DisabledAt}
}

// listAdmins lists every admin, oldest first, active or not.
func (s *Server) listAdmins(c *fiber.Ctx) error {
	list, err := s.recon.Users.List(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]adminView, len(list))
	for i, u := range list {
		out[i] = viewAdmin(u)
	}
	return reply(c, http.StatusOK, fiber.Map{"data": out})
}

// inviteInput is whom to invite, and the language of her invitation (default: the inviter's).
type inviteInput struct {
	Email  string `json:"email"`
	Locale string `json:"locale"`
}

// inviteAdmin mails a single-use link that makes its holder an admin; the link itself is never
// in the answer, only in the mail.
func (s *Server) inviteAdmin(c *fiber.Ctx) error {
	var in inviteInput
	if err := decode(c, &in); err != nil {
		return err
	}
	sess, _ := session(c)
	inv, err := s.recon.Users.Invite(c.UserContext(), sess.UserID, in.Email, in.Locale)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, fiber.Map{"email": inv.Email, "expires_at": inv.ExpiresAt})
}

// disableAdmin disables an admin at once (her sessions and tokens end); the last active admin
// stays (409 last_admin).
func (s *Server) disableAdmin(c *fiber.Ctx) error {
	sess, _ := session(c)
	u, err := s.recon.Users.Disable(c.UserContext(), sess.UserID, c.Params("id"))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewAdmin(u))
}
