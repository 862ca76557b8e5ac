package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/campaign"
)

// reopenForReview sends a campaign that is in review or approved back to draft when its tiers
// change: the admin approved the tiers as they were.
func (s *Server) reopenForReview(c *fiber.Ctx, camp campaign.Campaign) error {
	if camp.Status != campaign.StatusInReview && camp.Status != campaign.StatusApproved {
		return nil
	}
	sess, _ := session(c)
	next, err := camp.Edit(campaign.Fields{}, actorOf(sess), s.now(), s.rules)
	if err != nil {
		return err
	}
	_, err = s.store.ReplaceCampaign(c.UserContext(), camp, next)
	return err
}

func (s *Server) createTier(c *fiber.Ctx) error {
	var in campaign.TierFields
	if err := decode(c, &in); err != nil {
		return err
	}
	camp, err := s.findForWrite(c, false)
	if err != nil {
		return err
	}
	t, err := campaign.NewTier(camp, in, s.now())
	if err != nil {
		return err
	}
	if err := s.reopenForReview(c, camp); err != nil {
		return err
	}
	if err := s.store.CreateTier(c.UserContext(), t); err != nil {
		return err
	}
	return reply(c, http.StatusCreated, viewTier(t))
}

func (s *Server) findTierForWrite(c *fiber.Ctx) (campaign.Campaign, campaign.Tier, error) {
	camp, err := s.findForWrite(c, false)
	if err != nil {
		return camp, campaign.Tier{}, err
	}
	t, err := s.store.FindTier(c.UserContext(), camp.ID, c.Params("tier_id"))
	return camp, t, err
}

func (s *Server) editTier(c *fiber.Ctx) error {
	var in campaign.TierFields
	if err := decode(c, &in); err != nil {
		return err
	}
	camp, t, err := s.findTierForWrite(c)
	if err != nil {
		return err
	}
	next, err := t.Edit(camp, in, s.now())
	if err != nil {
		return err
	}
	if err := s.reopenForReview(c, camp); err != nil {
		return err
	}
	if err := s.store.ReplaceTier(c.UserContext(), t, next); err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewTier(next))
}

func (s *Server) deleteTier(c *fiber.Ctx) error {
	camp, t, err := s.findTierForWrite(c)
	if err != nil {
		return err
	}
	if err := t.CheckDelete(camp); err != nil {
		return err
	}
	if err := s.reopenForReview(c, camp); err != nil {
		return err
	}
	if err := s.store.DeleteTier(c.UserContext(), t); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
