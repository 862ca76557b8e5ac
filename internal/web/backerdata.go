package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// exportPledge gives the holder of the manage token everything stored about the pledge, as a
// JSON download.
func (s *Server) exportPledge(c *fiber.Ctx) error {
	e, err := s.pledges.Export(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="pledge-`+e.PledgeID+`.json"`)
	return reply(c, http.StatusOK, e)
}

// erasePledge pseudonymises the backer's data on a settled pledge; admins find the request in the
// audit log (with the pledge id only: the log keeps nothing the erasure removed).
func (s *Server) erasePledge(c *fiber.Ctx) error {
	p, err := s.pledges.Erase(c.UserContext(), s.store, c.Params("id"), c.Get(manageTokenHeader))
	if err != nil {
		return err
	}
	s.audit(c, backstitch.AuditEntry{Actor: "backer", Action: "pledge.erase", Target: p.ID,
		After: map[string]string{"erased_at": p.ErasedAt.UTC().Format("2006-01-02T15:04:05Z"), "status": string(p.Status)}})
	return reply(c, http.StatusOK, s.viewPledge(p))
}
