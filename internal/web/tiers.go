package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/campaign"
)

func (s *Server) createTier(c *fiber.Ctx) error {
	var in campaign.TierFields
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := s.campaigns.AddTier(c.UserContext(), actor(c), c.Params("id"), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, viewTier(t))
}

func (s *Server) editTier(c *fiber.Ctx) error {
	var in campaign.TierFields
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := s.campaigns.EditTier(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id"), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewTier(t))
}

func (s *Server) createSession(c *fiber.Ctx) error {
	var in campaign.SessionFields
	if err := decode(c, &in); err != nil {
		return err
	}
	t, session, err := s.campaigns.AddSession(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id"), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, viewSession(t, session))
}

func (s *Server) editSession(c *fiber.Ctx) error {
	var in campaign.SessionFields
	if err := decode(c, &in); err != nil {
		return err
	}
	t, session, err := s.campaigns.EditSession(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id"), c.Params("session_id"), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewSession(t, session))
}

func (s *Server) cancelSession(c *fiber.Ctx) error {
	t, err := s.campaigns.CancelSession(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id"), c.Params("session_id"))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewTier(t))
}

func (s *Server) deleteTier(c *fiber.Ctx) error {
	if err := s.campaigns.DeleteTier(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
