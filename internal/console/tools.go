package console

import (
	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/visits"
)

// ReportStore is what the backers and insights pages read: a campaign's pledges page by page
// and its visits, as the API's reports read them.
type ReportStore interface {
	visits.ReportStore
}

// UseReports gives the console the store its backers and insights pages read.
func (k *Console) UseReports(st ReportStore) { k.reports = st }

// mountDesignerTools registers the pictures, profile, backers, insights and settlement pages (in their own
// files, so the console's other parts grow without touching the same lines).
func (k *Console) mountDesignerTools(r fiber.Router) {
	r.Post("/designer/campaigns/:id/cover", k.page(k.checkCSRF(k.designer(k.uploadCover))))
	r.Post("/designer/campaigns/:id/tiers/:tier_id/image", k.page(k.checkCSRF(k.designer(k.uploadTierImage))))
	r.Post("/designer/campaigns/:id/cover/delete", k.page(k.checkCSRF(k.designer(k.removeCover))))
	r.Post("/designer/campaigns/:id/tiers/:tier_id/image/delete", k.page(k.checkCSRF(k.designer(k.removeTierImage))))
	r.Get("/designer/profile", k.page(k.designer(k.profile)))
	r.Post("/designer/profile", k.page(k.checkCSRF(k.designer(k.saveProfile))))
	r.Post("/designer/profile/password", k.page(k.checkCSRF(k.designer(k.changePassword))))
	r.Post("/designer/profile/digest", k.page(k.checkCSRF(k.designer(k.saveDigest))))
	r.Get("/designer/campaigns/:id/backers", k.page(k.designer(k.backers)))
	r.Get("/designer/campaigns/:id/insights", k.page(k.designer(k.insights)))
	k.mountSettlement(r)
	k.mountFulfilment(r)
	k.mountPayouts(r)
}

// Session is the designer signed in with the console's cookie, for the downloads the web
// server answers itself (the backers' CSV is the API's export); ok is false without one.
func (k *Console) Session(c *fiber.Ctx) (sess account.Session, ok bool, err error) {
	token := c.Cookies(k.SessionCookie())
	if token == "" {
		return sess, false, nil
	}
	sess, err = k.accounts.Authenticate(c.UserContext(), token)
	switch {
	case backstitch.ErrorCode(err) == backstitch.CodeUnauthenticated:
		return sess, false, nil
	case err != nil:
		return sess, false, err
	case sess.Role != account.RoleDesigner:
		return sess, false, backstitch.Errorf(backstitch.CodeForbidden, "Only designers may do this.")
	}
	return sess, true, nil
}
