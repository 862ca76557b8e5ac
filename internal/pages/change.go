package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// changeView is the form that changes a pledge: the reward (switching is a link that reloads the
// form for another tier), its choices (the shared rewardChoices fields), and the amount.
type changeView struct {
	base
	Action, BackHref, CSRF string
	CampaignTitle          string
	Tier                   string
	Tiers                  []tierChoice
	Reward                 rewardFields
	Amount, Currency       string
	MinAmount              string
	formProblems
}

type tierChoice struct {
	Title, Price, Href string
	Current, SoldOut   bool
}

type choice struct {
	Value, Label      string
	Selected, Disable bool
}

// change shows the change form for the tier in ?tier= (the pledge's own by default).
func (p *Pages) change(r *request) (view, error) {
	m, v, ok, err := p.load(r)
	if !ok {
		return v, err
	}
	if !p.changeable(m) {
		return view{redirect: pledgePath(m.pledge.ID), status: http.StatusSeeOther, private: true}, nil
	}
	tier, ok := m.pick(r.c.Query("tier"))
	if !ok {
		return p.notFound(r), nil
	}
	return p.changeForm(r, m, tier, formFromPledge(m, tier), newFormProblems())
}

// pick is the tier the form is for: the pledge's own when id is empty.
func (m managed) pick(id string) (*campaign.Tier, bool) {
	if id == "" {
		return m.tier, true
	}
	for i := range m.tiers {
		if m.tiers[i].ID == id {
			return &m.tiers[i], true
		}
	}
	return nil, false
}

// changeFields is what the change form sends.
type changeFields struct {
	Amount string
	Choice rewardChoice
}

func formFromPledge(m managed, tier *campaign.Tier) changeFields {
	pl := m.pledge
	f := changeFields{Amount: pl.Amount.Decimal()}
	if tier == nil {
		return f
	}
	f.Choice = choiceOf(pl, *tier)
	if tier.ID != pl.TierID && tier.Price.Amount > pl.Amount.Amount {
		f.Amount = tier.Price.Decimal()
	}
	return f
}

func (p *Pages) changeForm(r *request, m managed, tier *campaign.Tier, f changeFields, fp formProblems) (view, error) {
	token, err := p.csrf.Token(r.c)
	if err != nil {
		return view{}, err
	}
	loc := r.loc
	cv := changeView{base: r.base, Action: pledgePath(m.pledge.ID) + "/change", BackHref: pledgePath(m.pledge.ID),
		CSRF: token, CampaignTitle: m.campaign.Title, Amount: f.Amount, Currency: m.campaign.Goal.Currency, formProblems: fp}
	cv.Title = loc.T("change.title", m.campaign.Title)
	for _, t := range m.tiers {
		tc := tierChoice{Title: t.Title, Price: loc.Money(t.Price), Current: tier != nil && t.ID == tier.ID,
			SoldOut: t.Remaining != nil && *t.Remaining <= 0 && t.ID != m.pledge.TierID}
		tc.Href = pledgePath(m.pledge.ID) + "/change?" + url.Values{"tier": {t.ID}}.Encode()
		cv.Tiers = append(cv.Tiers, tc)
	}
	if tier != nil {
		cv.Tier = tier.ID
		cv.MinAmount = loc.T("form.amount_hint", loc.Money(tier.Price))
		if tier.Ships && len(tier.ShippingRates) > 0 {
			cv.MinAmount = loc.T("form.amount_hint_shipping", loc.Money(tier.Price))
		}
		held := ""
		if tier.ID == m.pledge.TierID {
			held = m.pledge.SessionID
		}
		cv.Reward = p.rewardFields(loc, *tier, asksAll(*tier), f.Choice, held, fp.Errors)
	}
	status := http.StatusOK
	if len(fp.Summary) > 0 || fp.Problem != "" {
		status = http.StatusUnprocessableEntity
	}
	return view{status: status, name: "change", data: cv, private: true}, nil
}

// changeSubmit applies the change form through the pledge service; any refusal shows the form
// again with what the backer typed and the reason beside the field.
func (p *Pages) changeSubmit(r *request) (view, error) {
	if err := p.csrf.Check(r.c); err != nil {
		return p.forged(r, err)
	}
	m, v, ok, err := p.load(r)
	if !ok {
		return v, err
	}
	if !p.changeable(m) {
		return view{redirect: pledgePath(m.pledge.ID), status: http.StatusSeeOther, private: true}, nil
	}
	c, loc := r.c, r.loc
	tier, ok := m.pick(c.FormValue("tier"))
	if !ok || tier == nil {
		return p.notFound(r), nil
	}
	f := changeFields{Amount: strings.TrimSpace(c.FormValue("amount")), Choice: readChoice(c, *tier)}
	fp := newFormProblems()
	ch := pledge.Change{TierID: &tier.ID}
	cur := m.campaign.Goal.Currency
	if amount, err := money.Parse(strings.ReplaceAll(f.Amount, ",", "."), cur); err != nil {
		fp.add("amount", loc.T("form.error.amount", cur))
	} else {
		ch.Amount = &amount
	}
	if len(tier.Options) > 0 {
		opts := f.Choice.options(*tier)
		ch.Options = &opts
	}
	if len(tier.Sessions) > 0 {
		ch.SessionID = &f.Choice.Session
	}
	if tier.Ships {
		ch.ShippingAddress = f.Choice.address()
	}
	if len(fp.Summary) > 0 {
		return p.changeForm(r, m, tier, f, fp)
	}
	_, err = p.pledges.Update(c.UserContext(), m.pledge.ID, manageToken(c), ch)
	if err == nil {
		return view{redirect: pledgePath(m.pledge.ID) + "?done=changed", status: http.StatusSeeOther, private: true}, nil
	}
	if !fp.placeRefusal(r, err, *tier) {
		return view{}, err
	}
	return p.changeForm(r, m, tier, f, fp)
}

// placeRefusal puts a refusal of the change form or the survey on the form: beside its fields,
// or as the form's problem, in the visitor's language where the catalogue has words for it (the
// domain's English otherwise). It reports false for an error that is not the backer's to fix.
func (f *formProblems) placeRefusal(r *request, err error, tier campaign.Tier) bool {
	loc := r.loc
	e, placed := f.placeFieldErrors(loc, err, tier)
	switch {
	case e == nil:
		return false
	case placed:
	case e.Code == backstitch.CodeSoldOut:
		f.Problem = loc.T("form.error.sold_out")
	case e.Code == backstitch.CodeCampaignNotLive:
		f.Problem = loc.T("form.error.campaign_not_live")
	case e.Code == backstitch.CodeAmountBelowTierPrice, e.Code == backstitch.CodeCurrencyMismatch:
		f.add("amount", loc.T("form.error.amount_below_tier_price"))
	case e.Code == backstitch.CodeShippingAddressRequired:
		f.add("country", loc.T("pledge.err.required"))
	case e.Code == backstitch.CodeValidation, e.Code == backstitch.CodeInvalidState:
		f.Problem = loc.TOr("form.error."+string(e.Code), e.Message)
	default:
		return false
	}
	return true
}
