package pages

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/csrf"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// The manage pages: a backer sees her pledge and changes or cancels it until the deadline. The
// right to do so is the manage token, exchanged once from a magic link for the pledge's cookie
// (access.go); every change goes through the same pledge service as the API.

// exchange turns a magic link into the pledge's cookie and sends the backer to the page without the
// token, so it leaves the address bar and the history. A wrong or old token is the same "link not
// valid" page whether or not the pledge exists.
func (p *Pages) exchange(r *request) (view, error) {
	id, token := r.c.Params("id"), r.c.Query("token")
	pl, err := p.pledges.Manage(r.c.UserContext(), id, token)
	if err != nil {
		if denied(err) {
			return p.linkInvalid(r), nil
		}
		return view{}, err
	}
	p.grantManage(r.c, id, token)
	to := pledgePath(id)
	switch _, fixable := p.pledges.FixableUntil(pl); {
	case fixable:
		to += "#fix-payment" // the link of the charge-failed message: straight to the new card
	case r.c.Query("then") == "change", r.c.Query("then") == "survey":
		// The links of the cancelled-date and survey messages: straight to the form they ask
		// for (only these two names: the link never takes the browser anywhere else).
		to += "/" + r.c.Query("then")
	}
	return view{redirect: to, status: http.StatusSeeOther, private: true}, nil
}

// denied reports whether err means the browser has no right to the pledge (no token, a wrong one,
// or no such pledge: deliberately the same to the visitor).
func denied(err error) bool {
	switch backstitch.ErrorCode(err) {
	case backstitch.CodeNotFound, backstitch.CodeForbidden, backstitch.CodeUnauthenticated:
		return true
	}
	return false
}

func (p *Pages) linkInvalid(r *request) view {
	b := r.base
	b.Title = r.loc.T("manage.denied.title")
	return view{status: http.StatusForbidden, name: "manage_denied", data: struct{ base }{b}, private: true}
}

// managed is a pledge the browser may manage, with its campaign and tiers.
type managed struct {
	pledge   pledge.Pledge
	campaign campaign.Campaign
	tiers    []campaign.Tier
	tier     *campaign.Tier
	zone     *time.Location
}

// load finds the pledge in the address with the browser's cookie for it; ok is false (and v the
// page to answer) when the browser may not see it.
func (p *Pages) load(r *request) (m managed, v view, ok bool, err error) {
	ctx := r.c.UserContext()
	pl, err := p.pledges.Manage(ctx, r.c.Params("id"), manageToken(r.c))
	if err != nil {
		if denied(err) {
			return m, p.linkInvalid(r), false, nil
		}
		return m, v, false, err
	}
	d, err := p.campaigns.Show(ctx, campaign.Actor{}, pl.CampaignID)
	if err != nil {
		return m, v, false, err
	}
	m = managed{pledge: pl, campaign: d.Campaign, tiers: d.Tiers, zone: p.zone(d.Campaign.Timezone)}
	for i := range d.Tiers {
		if d.Tiers[i].ID == pl.TierID {
			m.tier = &d.Tiers[i]
		}
	}
	return m, v, true, nil
}

// changeable reports whether the backer may still change the pledge here: the campaign is live
// before its deadline, the pledge holds its unit, and (all or nothing) no money has moved yet.
func (p *Pages) changeable(m managed) bool {
	return m.campaign.Status == campaign.StatusLive && p.now().Before(m.campaign.Deadline) &&
		m.campaign.FundingModel == campaign.AllOrNothing &&
		(m.pledge.Status == pledge.StatusActive || m.pledge.Status == pledge.StatusPending)
}

// cancellable: until the deadline, any pledge that still holds its unit (a charged flexible pledge
// is refunded in full).
func (p *Pages) cancellable(m managed) bool {
	return m.campaign.Status == campaign.StatusLive && p.now().Before(m.campaign.Deadline) && m.pledge.Status.HoldsUnit()
}

type manageView struct {
	base
	CampaignTitle, CampaignHref string
	Status, Explain             string
	StatusKind                  string
	Reward                      []line
	Items                       []line
	Total                       string
	Address                     []string
	History                     []line
	Flash                       string
	ChangeHref, CancelHref      string
	SurveyHref, SurveyDue       string
	// Problem is why the last request was refused (a fix-payment form sent too late, say).
	Problem string
	Fix     *fixPanel
}

// fixPanel offers the backer of a pledge in dunning to pay with another card.
type fixPanel struct {
	Reason, Until, Action, CSRF string
}

// line is a label and its value.
type line struct{ Label, Value string }

func (p *Pages) manage(r *request) (view, error) {
	m, v, ok, err := p.load(r)
	if !ok {
		return v, err
	}
	return p.managePage(r, m, "")
}

// managePage shows the pledge; a problem (the reason a form was refused) is shown on top and
// answered with 409.
func (p *Pages) managePage(r *request, m managed, problem string) (view, error) {
	loc, pl, c := r.loc, m.pledge, m.campaign
	mv := manageView{base: r.base, CampaignTitle: c.Title, CampaignHref: campaignHref(c.Slug),
		Status: loc.T("pledge.status." + string(pl.Status)), StatusKind: string(pl.Status),
		Explain: p.explain(loc, m), Total: loc.Money(pl.Amount)}
	mv.Title = loc.T("manage.title", c.Title)
	if done := r.c.Query("done"); done != "" && problem == "" {
		mv.Flash = loc.T("manage.flash." + flashKey(done, pl.Status))
	}
	mv.Problem = problem
	mv.Reward = p.rewardLines(loc, m)
	cur := pl.Amount.Currency
	if m.tier != nil {
		mv.Items = append(mv.Items, line{loc.T("manage.item.reward"), loc.Money(money.Money{Amount: pl.RewardPrice, Currency: cur})})
		if m.tier.Ships {
			mv.Items = append(mv.Items, line{loc.T("manage.item.shipping"), loc.Money(money.Money{Amount: pl.Shipping, Currency: cur})})
		}
	}
	if extra := pl.Amount.Amount - pl.RewardPrice - pl.Shipping; extra > 0 {
		mv.Items = append(mv.Items, line{loc.T("manage.item.extra"), loc.Money(money.Money{Amount: extra, Currency: cur})})
	}
	if a := pl.ShippingAddress; a != nil {
		for _, s := range []string{a.Name, a.Line1, a.Line2, strings.TrimSpace(a.PostalCode + " " + a.City), a.Region, loc.Zone(a.Country)} {
			if s != "" {
				mv.Address = append(mv.Address, s)
			}
		}
	}
	for i := len(pl.History) - 1; i >= 0; i-- {
		h := pl.History[i]
		mv.History = append(mv.History, line{loc.DateTime(h.At, m.zone), loc.T("pledge.status." + string(h.To))})
	}
	if p.changeable(m) {
		mv.ChangeHref = pledgePath(pl.ID) + "/change"
	}
	if p.cancellable(m) {
		mv.CancelHref = pledgePath(pl.ID) + "/cancel"
	}
	mv.SurveyHref, mv.SurveyDue = p.surveyLink(loc, m)
	if until, ok := p.pledges.FixableUntil(pl); ok && p.now().Before(until) {
		token, err := p.csrf.Token(r.c)
		if err != nil {
			return view{}, err
		}
		mv.Fix = &fixPanel{Reason: loc.T(declineKey(pl.LastFailure)), Until: loc.T("manage.fix.until", loc.DateTime(until, m.zone)),
			Action: pledgePath(pl.ID) + "/fix", CSRF: token}
	}
	v := view{name: "manage", data: mv, private: true}
	if problem != "" {
		v.status = http.StatusConflict
	}
	return v, nil
}

// flashKey keeps ?done= to the words the catalogue has: anything else says nothing new. Back
// from paying with another card, the words follow what became of the charge.
func flashKey(done string, status pledge.Status) string {
	switch {
	case done == "changed" || done == "cancelled" || done == "survey":
		return done
	case done == "fixed" && status == pledge.StatusCollected:
		return "fixed"
	case done == "fixed" && status == pledge.StatusPaymentFailed:
		return "fix_failed"
	}
	return "none"
}

// declineKey is the catalogue key that says why a charge failed, in plain words.
func declineKey(f *pledge.Failure) string {
	if f == nil {
		return locale.DeclineKey("", "")
	}
	return locale.DeclineKey(f.Code, f.DeclineCode)
}

// fixSubmit sends the backer of a pledge in dunning to Stripe Checkout to save another card.
// Once the window has closed (or the pledge was paid or dropped meanwhile) the page says why,
// with 409, and nothing is opened.
func (p *Pages) fixSubmit(r *request) (view, error) {
	if err := p.csrf.Check(r.c); err != nil {
		return p.forged(r, err)
	}
	m, v, ok, err := p.load(r)
	if !ok {
		return v, err
	}
	base := r.c.BaseURL() + pledgePath(m.pledge.ID)
	checkout, err := p.pledges.StartFixCheckout(r.c.UserContext(), m.pledge.ID, manageToken(r.c), pledge.CheckoutStart{
		SuccessURL: base + "/fixed?session_id={CHECKOUT_SESSION_ID}", CancelURL: base, Locale: r.Lang})
	if backstitch.ErrorCode(err) == backstitch.CodeInvalidState {
		if m, v, ok, err = p.load(r); !ok {
			return v, err
		}
		return p.managePage(r, m, r.loc.T(fixRefusal(m, p.pledges, p.now())))
	}
	if err != nil {
		return view{}, err
	}
	return view{redirect: checkout, status: http.StatusSeeOther, private: true}, nil
}

// fixRefusal is the catalogue key that says why a pledge cannot be fixed now.
func fixRefusal(m managed, pledges *pledge.Service, now time.Time) string {
	switch until, ok := pledges.FixableUntil(m.pledge); {
	case m.pledge.Status.Charged():
		return "manage.fix.refused.paid"
	case ok && !now.Before(until), m.pledge.Status == pledge.StatusDropped:
		return "manage.fix.refused.closed"
	}
	return "manage.fix.refused.none"
}

// fixed is where Checkout sends the backer back after saving another card: the card is taken up
// and charged (unless the webhook did it first), and the manage page shows what came of it.
func (p *Pages) fixed(r *request) (view, error) {
	id := r.c.Params("id")
	_, err := p.pledges.FixReturned(r.c.UserContext(), id, manageToken(r.c), r.c.Query("session_id"))
	if denied(err) {
		return p.linkInvalid(r), nil
	}
	if err != nil && backstitch.ErrorCode(err) != backstitch.CodePaymentProvider {
		return view{}, err
	}
	// Stripe away: the card is saved and the next dunning tick charges it; the page says where
	// the pledge stands meanwhile.
	return view{redirect: pledgePath(id) + "?done=fixed", status: http.StatusSeeOther, private: true}, nil
}

// explain says in one sentence what happens next to the backer's money.
func (p *Pages) explain(loc locale.Locale, m managed) string {
	pl, c := m.pledge, m.campaign
	deadline := loc.DateTime(c.Deadline, m.zone)
	switch pl.Status {
	case pledge.StatusPending:
		return loc.T("manage.explain.pending", loc.DateTime(pl.HoldExpiresAt, m.zone))
	case pledge.StatusActive:
		return loc.T("manage.explain.active", loc.Money(pl.Amount), deadline)
	case pledge.StatusPaymentFailed:
		if until, _ := p.pledges.FixableUntil(pl); !p.now().Before(until) {
			return loc.T("manage.explain.payment_failed_closed")
		}
		return loc.T("manage.explain.payment_failed")
	}
	return loc.T("manage.explain." + string(pl.Status))
}

func (p *Pages) rewardLines(loc locale.Locale, m managed) []line {
	if m.tier == nil {
		return []line{{loc.T("manage.reward"), loc.T("manage.no_reward")}}
	}
	out := []line{{loc.T("manage.reward"), m.tier.Title}}
	for _, o := range m.tier.Options {
		if v, ok := m.pledge.Options[o.Name]; ok {
			out = append(out, line{o.Name, v})
		}
	}
	if s, ok := m.tier.SessionByID(m.pledge.SessionID); ok {
		out = append(out, line{loc.T("manage.session"), p.sessionLabel(loc, s)})
	}
	// Where the reward is, once its designer has said so (the console or PATCH …/fulfilment).
	if m.pledge.Fulfilment != nil {
		f := m.pledge.Fulfilment
		out = append(out, line{loc.T("manage.fulfilment"), loc.T("fulfilment.status." + string(f.Status))})
		if f.Carrier != "" || f.TrackingNumber != "" {
			out = append(out, line{loc.T("manage.tracking"), strings.TrimSpace(f.Carrier + " " + f.TrackingNumber)})
		}
	}
	return out
}

func (p *Pages) sessionLabel(loc locale.Locale, s campaign.Session) string {
	where := s.Place
	if s.Online {
		where = loc.T("session.online")
	}
	return loc.DateTime(s.StartsAt, p.zone(s.Timezone)) + " · " + where
}

type cancelView struct {
	base
	Action, BackHref, CSRF, Explain string
}

// cancelConfirm asks once more before cancelling, and says what happens to the money.
func (p *Pages) cancelConfirm(r *request) (view, error) {
	m, v, ok, err := p.load(r)
	if !ok {
		return v, err
	}
	if !p.cancellable(m) {
		return view{redirect: pledgePath(m.pledge.ID), status: http.StatusSeeOther, private: true}, nil
	}
	token, err := p.csrf.Token(r.c)
	if err != nil {
		return view{}, err
	}
	cv := cancelView{base: r.base, Action: pledgePath(m.pledge.ID) + "/cancel", BackHref: pledgePath(m.pledge.ID), CSRF: token}
	cv.Title = r.loc.T("cancel.title", m.campaign.Title)
	if m.pledge.Status.Charged() {
		cv.Explain = r.loc.T("cancel.explain.refund", r.loc.Money(m.pledge.Amount))
	} else {
		cv.Explain = r.loc.T("cancel.explain.nothing")
	}
	return view{name: "cancel", data: cv, private: true}, nil
}

func (p *Pages) cancelSubmit(r *request) (view, error) {
	if err := p.csrf.Check(r.c); err != nil {
		return p.forged(r, err)
	}
	m, v, ok, err := p.load(r)
	if !ok {
		return v, err
	}
	if _, err := p.pledges.Cancel(r.c.UserContext(), m.pledge.ID, manageToken(r.c)); err != nil {
		if c := backstitch.ErrorCode(err); c != backstitch.CodeInvalidState && c != backstitch.CodeCampaignNotLive {
			return view{}, err
		}
		// Too late (the deadline passed meanwhile) or already over: the page says where it stands.
		return view{redirect: pledgePath(m.pledge.ID), status: http.StatusSeeOther, private: true}, nil
	}
	return view{redirect: pledgePath(m.pledge.ID) + "?done=cancelled", status: http.StatusSeeOther, private: true}, nil
}

// forged answers a form that did not come from our page (or an old one) with 403 and a way back.
func (p *Pages) forged(r *request, err error) (view, error) {
	if !errors.Is(err, csrf.ErrForged) {
		return view{}, err
	}
	b := r.base
	b.Title = r.loc.T("forged.title")
	return view{status: http.StatusForbidden, name: "forged", data: struct{ base }{b}, private: true}, nil
}
