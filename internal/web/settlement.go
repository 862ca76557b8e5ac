package web

import (
	"github.com/backstitch/backstitch/internal/visits"

	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/settlement"
)

// fixPayment lets a backer whose deadline charge failed pay with another card.
func (s *Server) fixPayment(c *fiber.Ctx) error {
	var in confirmInput
	if err := decode(c, &in); err != nil {
		return err
	}
	res, err := s.pledges.FixPayment(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader), in.PaymentMethod)
	if err != nil {
		return err
	}
	v := s.viewPledge(res.Pledge)
	v.ActionRequired = res.ActionRequired
	if res.ActionRequired {
		v.ClientSecret = res.Pledge.ClientSecret
	}
	return reply(c, http.StatusOK, v)
}

// showSettlement shows a campaign's settlement figures to its designer and to admins.
func (s *Server) showSettlement(c *fiber.Ctx) error {
	camp, err := s.campaigns.FindForOwnerOrAdmin(c.UserContext(), actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	r, err := settlement.BuildReport(c.UserContext(), s.store, camp.ID, int64(s.cfg.PlatformFeeBPS), s.now())
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, r)
}

// showSources answers a campaign's visits and pledges per source, to its designer and admins.
func (s *Server) showSources(c *fiber.Ctx) error {
	camp, err := s.campaigns.FindForOwnerOrAdmin(c.UserContext(), actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	r, err := visits.BuildReport(c.UserContext(), s.store, camp.ID, camp.Goal.Currency)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, r)
}

// adminSettle runs or resumes a campaign's settlement now, through the admin service (the
// console's "settle now" too).
func (s *Server) adminSettle(c *fiber.Ctx) error {
	sess, _ := session(c)
	r, err := s.recon.Admin.SettleNow(c.UserContext(), sess.UserID, c.Params("id"))
	if errors.Is(err, settlement.ErrBusy) {
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, r)
}
