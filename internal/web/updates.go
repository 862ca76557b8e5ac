package web

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/update"
)

type updateView struct {
	ID         string            `json:"id"`
	CampaignID string            `json:"campaign_id"`
	Title      string            `json:"title"`
	Body       string            `json:"body"`
	Visibility update.Visibility `json:"visibility"`
	CreatedAt  time.Time         `json:"created_at"`
}

func viewUpdate(u update.Update) updateView {
	return updateView{ID: u.ID, CampaignID: u.CampaignID, Title: u.Title, Body: u.Body, Visibility: u.Visibility, CreatedAt: u.CreatedAt}
}

// UseUpdates sets the service behind the updates routes; set before serving.
func (s *Server) UseUpdates(u *update.Service) { s.updates = u }

func (s *Server) postUpdate(c *fiber.Ctx) error {
	var in update.Fields
	if err := decode(c, &in); err != nil {
		return err
	}
	u, err := s.updates.Post(c.UserContext(), actor(c), c.Params("id"), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, viewUpdate(u))
}

// listUpdates answers the updates the caller may read: all for the campaign's designer and
// admins, the public ones for anyone else (signed in or not).
func (s *Server) listUpdates(c *fiber.Ctx) error {
	_, us, err := s.updates.List(c.UserContext(), actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	out := struct {
		Data []updateView `json:"data"`
	}{Data: make([]updateView, len(us))}
	for i, u := range us {
		out.Data[i] = viewUpdate(u)
	}
	// One caller's view (the owner sees backers-only updates): no shared cache may keep it.
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	return reply(c, http.StatusOK, out)
}
