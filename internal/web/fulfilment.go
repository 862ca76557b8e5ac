package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// fulfilmentView is a pledge's fulfilment as its designer sees it.
type fulfilmentView struct {
	PledgeID   string            `json:"pledge_id"`
	Status     pledge.Status     `json:"status"`
	Fulfilment pledge.Fulfilment `json:"fulfilment"`
	Changed    bool              `json:"changed"`
}

// setFulfilment records how one pledge's reward reached its backer (the campaign's designer only).
func (s *Server) setFulfilment(c *fiber.Ctx) error {
	var in pledge.FulfilmentChange
	if err := decode(c, &in); err != nil {
		return err
	}
	ctx := c.UserContext()
	camp, err := s.campaigns.FindForOwner(ctx, actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	p, changed, err := s.pledges.SetFulfilment(ctx, camp, c.Params("pledge_id"), in, actor(c).String())
	if err != nil {
		return err
	}
	tier, _ := s.store.FindTier(ctx, camp.ID, p.TierID)
	return reply(c, http.StatusOK, fulfilmentView{PledgeID: p.ID, Status: p.Status, Fulfilment: pledge.FulfilmentOf(p, tier.Kind), Changed: changed})
}

// importShipments applies a CSV of shipments, or with dry_run=true reports what it would do.
func (s *Server) importShipments(c *fiber.Ctx) error {
	ctx := c.UserContext()
	// Who asks comes first: a stranger learns nothing about what this route accepts.
	camp, err := s.campaigns.FindForOwner(ctx, actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	if mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); err != nil || mt != "text/csv" {
		return backstitch.Errorf(backstitch.CodeUnsupportedMedia, "Send the shipments as text/csv.")
	}
	var dryRun bool
	switch c.Query("dry_run") {
	case "true":
		dryRun = true
	case "", "false":
	default:
		return badQuery("dry_run", "dry_run must be true or false")
	}
	rep, err := s.pledges.ImportShipments(ctx, camp, c.Body(), dryRun, actor(c).String())
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rep)
}

// Exports: CSV for the designer's fulfilment, streamed row by row as the pledges are read.

// exportBackers lists every backer who holds or paid for a pledge.
func (s *Server) exportBackers(c *fiber.Ctx) error {
	header := []string{"pledge_id", "name", "email", "tier_id", "reward", "options", "session", "currency", "amount",
		"price", "shipping", "extra", "address_name", "address_line1", "address_line2", "postal_code", "city", "region",
		"country", "status", "fulfilment", "carrier", "tracking_number", "tracking_url"}
	return s.exportCSV(c, "backers", header, func(camp campaign.Campaign, tiers map[string]campaign.Tier, p pledge.Pledge, w func([]string) error) error {
		if !owed(p) {
			return nil
		}
		t := tiers[p.TierID]
		cur := p.Amount.Currency
		major := func(amount int64) string { return money.Money{Amount: amount, Currency: cur}.Decimal() }
		a := p.ShippingAddress
		if a == nil {
			a = &pledge.Address{}
		}
		f := pledge.FulfilmentOf(p, t.Kind)
		return w([]string{p.ID, p.Backer.Name, p.Backer.Email, p.TierID, t.Title, optionsText(p.Options), sessionText(t, p.SessionID), cur,
			major(p.Amount.Amount), major(p.RewardPrice), major(p.Shipping), major(p.Amount.Amount - p.RewardPrice - p.Shipping),
			a.Name, a.Line1, a.Line2, a.PostalCode, a.City, a.Region, a.Country, string(p.Status), string(f.Status), f.Carrier, f.TrackingNumber, f.TrackingURL})
	})
}

// exportPacking counts what to pack: one row per reward and combination of options that ships.
func (s *Server) exportPacking(c *fiber.Ctx) error {
	ctx := c.UserContext()
	camp, tiers, err := s.exportable(c)
	if err != nil {
		return err
	}
	type line struct{ total, toShip int64 }
	counts := map[string]*line{}
	var keys []string
	err = s.store.FindCampaignPledges(ctx, camp.ID, func(p pledge.Pledge) error {
		t, ok := tiers[p.TierID]
		if !owed(p) || !ok || !t.Ships {
			return nil
		}
		k := p.TierID + "\x00" + optionsText(p.Options)
		if counts[k] == nil {
			counts[k] = &line{}
			keys = append(keys, k)
		}
		counts[k].total++
		if pledge.FulfilmentOf(p, t.Kind).Status == pledge.FulfilToShip || !p.Status.Charged() {
			counts[k].toShip++
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(keys)
	rows := [][]string{{"tier_id", "reward", "options", "quantity", "to_ship"}}
	for _, k := range keys {
		tierID, opts, _ := strings.Cut(k, "\x00")
		rows = append(rows, []string{tierID, tiers[tierID].Title, opts, strconv.FormatInt(counts[k].total, 10), strconv.FormatInt(counts[k].toShip, 10)})
	}
	// Grouped counts are small (one row per combination): written at once.
	return sendCSV(c, "packing-"+camp.ID, func(w *csv.Writer) error {
		for _, r := range rows {
			if err := w.Write(backstitch.SafeCells(r)); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportAttendance lists who booked one session.
func (s *Server) exportAttendance(c *fiber.Ctx) error {
	tierID, sessionID := c.Params("tier_id"), c.Params("session_id")
	header := []string{"pledge_id", "name", "email", "options", "session", "status", "attendance"}
	found := false
	return s.exportCSV(c, "attendance-"+sessionID, header, func(camp campaign.Campaign, tiers map[string]campaign.Tier, p pledge.Pledge, w func([]string) error) error {
		t := tiers[tierID]
		if !found {
			if _, ok := t.SessionByID(sessionID); !ok {
				return backstitch.Errorf(backstitch.CodeNotFound, "Session not found.")
			}
			found = true
		}
		if p.TierID != tierID || p.SessionID != sessionID || !owed(p) {
			return nil
		}
		return w([]string{p.ID, p.Backer.Name, p.Backer.Email, optionsText(p.Options), sessionText(t, p.SessionID), string(p.Status),
			string(pledge.FulfilmentOf(p, t.Kind).Status)})
	})
}

// owed reports whether a pledge's backer is to get its reward: its card is saved (before the
// deadline) or its money collected and not all refunded or lost to a dispute.
func owed(p pledge.Pledge) bool {
	return p.TierID != "" && p.Status.Counted()
}

// exportable is the caller's campaign (its designer or an admin) and its tiers by id.
func (s *Server) exportable(c *fiber.Ctx) (campaign.Campaign, map[string]campaign.Tier, error) {
	ctx := c.UserContext()
	camp, err := s.campaigns.FindForOwnerOrAdmin(ctx, actor(c), c.Params("id"))
	if err != nil {
		return camp, nil, err
	}
	list, err := s.store.FindTiers(ctx, camp.ID)
	if err != nil {
		return camp, nil, err
	}
	tiers := make(map[string]campaign.Tier, len(list))
	for _, t := range list {
		tiers[t.ID] = t
	}
	return camp, tiers, nil
}

// exportCSV streams one row per pledge (row decides what, if anything, a pledge writes). The
// first pledge is read before the answer starts, so a failure there is still a clean error; a
// failure later can only cut the file short, which is logged.
func (s *Server) exportCSV(c *fiber.Ctx, name string, header []string,
	row func(campaign.Campaign, map[string]campaign.Tier, pledge.Pledge, func([]string) error) error) error {
	camp, tiers, err := s.exportable(c)
	if err != nil {
		return err
	}
	// A check on no pledge at all (an unknown session of an empty campaign, say) runs on a zero one.
	if err := row(camp, tiers, pledge.Pledge{}, func([]string) error { return nil }); err != nil {
		return err
	}
	// The stream is written after the handler returns, when the request's context is done: it
	// gets its own deadline of the same length, keeping the request's logger.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), s.cfg.RequestTimeout)
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`-`+camp.ID+`.csv"`)
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer cancel()
		_, _ = bw.WriteString(byteOrderMark) // a write error shows at the first flush below
		w := csv.NewWriter(bw)
		write := func(r []string) error {
			if err := w.Write(backstitch.SafeCells(r)); err != nil {
				return err
			}
			if w.Flush(); w.Error() != nil {
				return w.Error()
			}
			return nil
		}
		err := write(header)
		if err == nil {
			err = s.store.FindCampaignPledges(ctx, camp.ID, func(p pledge.Pledge) error { return row(camp, tiers, p, write) })
		}
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("export", name).Str("campaign_id", camp.ID).Msg("export cut short")
		}
	})
	return nil
}

// byteOrderMark starts every CSV file: without it, spreadsheet software opens UTF-8 as its
// local code page and a backer in Genève reads "GenÃ¨ve".
const byteOrderMark = "\ufeff"

func sendCSV(c *fiber.Ctx, name string, fill func(*csv.Writer) error) error {
	var b strings.Builder
	b.WriteString(byteOrderMark)
	w := csv.NewWriter(&b)
	if err := fill(w); err != nil {
		return err
	}
	if w.Flush(); w.Error() != nil {
		return w.Error()
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.csv"`)
	return c.SendString(b.String())
}

func optionsText(o map[string]string) string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + o[k]
	}
	return strings.Join(parts, "; ")
}

func sessionText(t campaign.Tier, id string) string {
	se, ok := t.SessionByID(id)
	if !ok {
		return ""
	}
	where := se.Place
	if se.Online {
		where = "online"
	}
	if loc, err := time.LoadLocation(se.Timezone); err == nil {
		return se.StartsAt.In(loc).Format("2006-01-02 15:04 MST") + " " + where
	}
	return se.StartsAt.Format(time.RFC3339) + " " + where
}
