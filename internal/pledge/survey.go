package pledge

import (
	"context"
	"fmt"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
)

// The survey after success: once a campaign succeeds, each backer whose reward needs it confirms
// where it ships, which option, and which date, until the campaign's survey deadline. Answers go
// through transition like every pledge write, so a new option or date is claimed atomically and
// the old one given back; the money does not move (see AnswerSurvey on addresses).

// Survey is what one pledge's survey asks, with the pledge's current answers.
type Survey struct {
	Pledge   Pledge
	Campaign campaign.Campaign
	Tier     campaign.Tier
	Deadline time.Time
	// What it asks: the shipping address, the options, the session.
	Address, Options, Session bool
}

// SurveyAnswers is what a backer sends; what is not sent is confirmed as it stands.
type SurveyAnswers struct {
	ShippingAddress *Address           `json:"shipping_address"`
	Options         *map[string]string `json:"options"`
	SessionID       *string            `json:"session_id"`
}

// SurveyQuestions says what a pledge's survey asks: nothing for a pledge that owes no reward.
// The manage page asks it too, to link to the survey only where there is one.
func SurveyQuestions(p Pledge, t campaign.Tier) (address, options, session bool) {
	if p.TierID == "" || !p.Status.Counted() {
		return false, false, false
	}
	return t.Ships, len(t.Options) > 0, len(t.Sessions) > 0
}

// Survey finds the survey of the pledge the manage token opens; "not found" when the campaign has
// not succeeded or the reward needs nothing confirmed.
func (s *Service) Survey(ctx context.Context, id, token string) (Survey, error) {
	p, err := s.Manage(ctx, id, token)
	if err != nil {
		return Survey{}, err
	}
	camp, err := s.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return Survey{}, err
	}
	deadline, ok := camp.SurveyDeadline()
	if !ok || p.TierID == "" {
		return Survey{}, backstitch.Errorf(backstitch.CodeNotFound, "This pledge has no survey: there is one once the campaign has succeeded, for rewards that ship or have options or dates.")
	}
	tier, err := s.store.FindTier(ctx, camp.ID, p.TierID)
	if err != nil {
		return Survey{}, err
	}
	sv := Survey{Pledge: p, Campaign: camp, Tier: tier, Deadline: deadline}
	sv.Address, sv.Options, sv.Session = SurveyQuestions(p, tier)
	if !sv.Address && !sv.Options && !sv.Session {
		return Survey{}, backstitch.Errorf(backstitch.CodeNotFound, "This pledge has no survey: its reward needs nothing confirmed.")
	}
	return sv, nil
}

// AnswerSurvey records a backer's answers. An address may move only where shipping costs what
// was paid: the card was charged at the deadline, so another rate would need a new charge or a
// refund, which is the designer's and an admin's call (the refusal says so). A new option or date
// must have room: it is claimed in one conditional update, so two backers racing for the last
// place get one place, and the other a clear sold_out.
func (s *Service) AnswerSurvey(ctx context.Context, id, token string, a SurveyAnswers) (Survey, error) {
	var sv Survey
	_, err := retryOnConflict(func() (Pledge, error) {
		var err error
		if sv, err = s.Survey(ctx, id, token); err != nil {
			return Pledge{}, err
		}
		p, tier, now := sv.Pledge, sv.Tier, s.now()
		if !now.Before(sv.Deadline) {
			return p, backstitch.Errorf(backstitch.CodeInvalidState, "The survey closed on %s; write to the designer.", sv.Deadline.Format(time.DateOnly))
		}
		next := p
		var errs backstitch.FieldErrors
		if a.ShippingAddress != nil {
			if !sv.Address {
				errs.Add("shipping_address", "invalid", "this reward does not ship")
			} else {
				addr := *a.ShippingAddress
				checkShipping(&errs, &addr)
				next.ShippingAddress = &addr
			}
		}
		if a.Options != nil && !sv.Options {
			errs.Add("options", "invalid", "this reward has no options")
		}
		if a.SessionID != nil && !sv.Session {
			errs.Add("session_id", "invalid", "this reward has no sessions")
		}
		if err := errs.Err(); err != nil {
			return p, err
		}
		if a.ShippingAddress != nil {
			if err := sameRate(p, next, tier); err != nil {
				return p, err
			}
		}
		if a.Options != nil {
			stockID, err := tier.Choose(*a.Options)
			if err != nil {
				return p, err
			}
			next.Options, next.StockID = *a.Options, stockID
		}
		if a.SessionID != nil && *a.SessionID != p.SessionID {
			if err := tier.Book(*a.SessionID, now); err != nil {
				return p, err
			}
			if old, ok := tier.SessionByID(p.SessionID); ok && !old.Cancelled && tier.Closed(old, now) {
				return p, backstitch.Errorf(backstitch.CodeInvalidState, "Your session starts in less than %s: it can no longer be left.", tier.CutoffFor(old))
			}
			next.SessionID = *a.SessionID
		}
		if old, ok := tier.SessionByID(next.SessionID); ok && old.Cancelled {
			return p, &backstitch.Error{Code: backstitch.CodeValidation, Message: "Your session was cancelled: choose another.",
				Fields: []backstitch.FieldError{{Field: "session_id", Code: "required", Message: "the booked session was cancelled; choose another"}}}
		}
		next.SurveyAnsweredAt = &now
		next.UpdatedAt = now
		updated, err := s.transition(ctx, p, next, transitionOpts{})
		if err == nil {
			sv.Pledge = updated
		}
		return updated, err
	})
	return sv, err
}

// sameRate refuses an address whose shipping differs from what the pledge paid.
func sameRate(p, next Pledge, tier campaign.Tier) error {
	price, ok := tier.ShippingTo(next.ShippingAddress.Country)
	if !ok {
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: fmt.Sprintf("This reward does not ship to %s.", next.ShippingAddress.Country),
			Fields: []backstitch.FieldError{{Field: "shipping_address.country", Code: "not_shipped_there", Message: "the designer has no shipping rate for " + next.ShippingAddress.Country}}}
	}
	if price != p.Shipping {
		cur := p.Amount.Currency
		return &backstitch.Error{Code: backstitch.CodeValidation,
			Message: fmt.Sprintf("Shipping to %s costs %s, not the %s you paid: after the deadline the address can only move where shipping costs the same. Write to the designer to ship elsewhere.",
				next.ShippingAddress.Country, money.Money{Amount: price, Currency: cur}, money.Money{Amount: p.Shipping, Currency: cur}),
			Fields: []backstitch.FieldError{{Field: "shipping_address.country", Code: "shipping_rate_differs", Message: "shipping there costs another amount than was paid"}}}
	}
	return nil
}

// SurveyEntry is one backer in the designer's list of survey answers.
type SurveyEntry struct {
	PledgeID   string     `json:"pledge_id"`
	Name       string     `json:"name"`
	Email      string     `json:"email"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
}

// SurveyReport is who answered the survey of a campaign and who did not.
type SurveyReport struct {
	Deadline   *time.Time    `json:"deadline"`
	Answered   []SurveyEntry `json:"answered"`
	Unanswered []SurveyEntry `json:"unanswered"`
}

// SurveyReport lists the backers of campaign camp (already checked to be the caller's) whose
// rewards have a survey, answered or not.
func (s *Service) SurveyReport(ctx context.Context, camp campaign.Campaign) (SurveyReport, error) {
	rep := SurveyReport{Answered: []SurveyEntry{}, Unanswered: []SurveyEntry{}}
	deadline, ok := camp.SurveyDeadline()
	if !ok {
		return rep, nil
	}
	rep.Deadline = &deadline
	tiers, err := s.store.FindTiers(ctx, camp.ID)
	if err != nil {
		return rep, err
	}
	byID := map[string]campaign.Tier{}
	for _, t := range tiers {
		byID[t.ID] = t
	}
	err = s.store.FindCampaignPledges(ctx, camp.ID, func(p Pledge) error {
		address, options, session := SurveyQuestions(p, byID[p.TierID])
		if !address && !options && !session {
			return nil
		}
		e := SurveyEntry{PledgeID: p.ID, Name: p.Backer.Name, Email: p.Backer.Email, AnsweredAt: p.SurveyAnsweredAt}
		if e.AnsweredAt != nil {
			rep.Answered = append(rep.Answered, e)
		} else {
			rep.Unanswered = append(rep.Unanswered, e)
		}
		return nil
	})
	return rep, err
}
