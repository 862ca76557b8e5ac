package web

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// backerView is a pledge as its campaign's designer sees it among her backers: who, what, how
// much, where it ships, where they came from and what they wrote; never its Stripe ids, manage
// token or history.
type backerView struct {
	ID              string            `json:"id"`
	TierID          *string           `json:"tier_id"`
	Options         map[string]string `json:"options,omitempty"`
	SessionID       string            `json:"session_id,omitempty"`
	Status          pledge.Status     `json:"status"`
	Amount          money.Money       `json:"amount"`
	Backer          pledge.Backer     `json:"backer"`
	ShippingAddress *pledge.Address   `json:"shipping_address,omitempty"`
	Note            string            `json:"note,omitempty"`
	Source          pledge.Source     `json:"source"`
	CreatedAt       time.Time         `json:"created_at"`
}

type backersView struct {
	Data       []backerView `json:"data"`
	NextCursor *string      `json:"next_cursor"`
}

// listBackers pages through a campaign's backers (pledge.BackerStatuses) in a stable order, for
// its designer and admins, as the console's table shows them.
func (s *Server) listBackers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	camp, err := s.campaigns.FindForOwnerOrAdmin(ctx, actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	q, err := s.pageQuery(c, campaign.ListMine)
	if err != nil {
		return err
	}
	// A cursor is good for this campaign's list only.
	list := c.Route().Path + "\x00" + camp.ID
	after := ""
	if cur := c.Query("cursor"); cur != "" {
		payload, err := s.openCursor(ctx, list, cur, 1)
		if err != nil {
			return err
		}
		after = string(payload)
	}
	page, err := s.store.FindPledgesByStatus(ctx, camp.ID, pledge.BackerStatuses, after, q.Limit+1)
	if err != nil {
		return err
	}
	out := backersView{Data: make([]backerView, 0, min(len(page), q.Limit))}
	if len(page) > q.Limit {
		page = page[:q.Limit]
		next, err := s.signCursor(ctx, list, []byte(page[len(page)-1].ID))
		if err != nil {
			return err
		}
		out.NextCursor = &next
	}
	for _, p := range page {
		v := backerView{ID: p.ID, Options: p.Options, SessionID: p.SessionID, Status: p.Status, Amount: p.Amount, Backer: p.Backer,
			ShippingAddress: p.ShippingAddress, Note: p.Note, Source: p.Source, CreatedAt: p.CreatedAt}
		if p.TierID != "" {
			v.TierID = &p.TierID
		}
		out.Data = append(out.Data, v)
	}
	return reply(c, http.StatusOK, out)
}
