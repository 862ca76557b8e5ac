package web

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// surveyView is a pledge's survey: what it asks, the current answers, and the choices.
type surveyView struct {
	PledgeID        string            `json:"pledge_id"`
	Deadline        time.Time         `json:"deadline"`
	AnsweredAt      *time.Time        `json:"answered_at"`
	Asks            []string          `json:"asks"`
	ShippingAddress *pledge.Address   `json:"shipping_address,omitempty"`
	Shipping        *money.Money      `json:"shipping,omitempty"`
	Options         map[string]string `json:"options,omitempty"`
	OptionChoices   []campaign.Option `json:"option_choices,omitempty"`
	SessionID       string            `json:"session_id,omitempty"`
	Sessions        []tierSessionView `json:"sessions,omitempty"`
}

func viewSurvey(sv pledge.Survey) surveyView {
	p := sv.Pledge
	v := surveyView{PledgeID: p.ID, Deadline: sv.Deadline, AnsweredAt: p.SurveyAnsweredAt, Asks: []string{}}
	if sv.Address {
		v.Asks = append(v.Asks, "shipping_address")
		v.ShippingAddress = p.ShippingAddress
		v.Shipping = &money.Money{Amount: p.Shipping, Currency: p.Amount.Currency}
	}
	if sv.Options {
		v.Asks = append(v.Asks, "options")
		v.Options, v.OptionChoices = p.Options, sv.Tier.Options
	}
	if sv.Session {
		v.Asks = append(v.Asks, "session_id")
		v.SessionID = p.SessionID
		for _, se := range sv.Tier.Sessions {
			v.Sessions = append(v.Sessions, viewSession(sv.Tier, se))
		}
	}
	return v
}

// showSurvey shows a backer's survey to the holder of the pledge's manage token.
func (s *Server) showSurvey(c *fiber.Ctx) error {
	sv, err := s.pledges.Survey(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewSurvey(sv))
}

// answerSurvey records a backer's answers.
func (s *Server) answerSurvey(c *fiber.Ctx) error {
	var in pledge.SurveyAnswers
	if err := decode(c, &in); err != nil {
		return err
	}
	sv, err := s.pledges.AnswerSurvey(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewSurvey(sv))
}

// surveyReport lists who answered a campaign's survey (the designer and admins).
func (s *Server) surveyReport(c *fiber.Ctx) error {
	camp, err := s.campaigns.FindForOwnerOrAdmin(c.UserContext(), actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	rep, err := s.pledges.SurveyReport(c.UserContext(), camp)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rep)
}
