package pages

import (
	"net/http"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
)

// The survey after success: with her pledge's cookie (as on the manage page), a backer confirms
// where her reward ships, which option and which date, until the survey's deadline. It asks with
// the same fields as the pledge form and answers through the pledge service like the API's
// POST /pledges/{id}/survey, so its rules (an address only within the rate paid, a date or
// option only with room) are the API's.

type surveyView struct {
	base
	Action, BackHref, CSRF   string
	CampaignTitle, TierTitle string
	Intro, Answered, Closed  string
	Reward                   rewardFields
	formProblems
}

// surveyLink links the manage page to the pledge's survey while it is open, with its deadline;
// "" when there is none.
func (p *Pages) surveyLink(loc locale.Locale, m managed) (href, due string) {
	deadline, ok := m.campaign.SurveyDeadline()
	if !ok || m.tier == nil || !p.now().Before(deadline) {
		return "", ""
	}
	if address, options, session := pledge.SurveyQuestions(m.pledge, *m.tier); !address && !options && !session {
		return "", ""
	}
	return pledgePath(m.pledge.ID) + "/survey", loc.DateTime(deadline, m.zone)
}

// loadSurvey finds the survey of the pledge in the address with the browser's cookie for it. A
// browser without the right is told the link is not valid, as on the manage page; a pledge
// without a survey is sent to its manage page.
func (p *Pages) loadSurvey(r *request) (pledge.Survey, view, bool, error) {
	ctx, id, token := r.c.UserContext(), r.c.Params("id"), manageToken(r.c)
	if _, err := p.pledges.Manage(ctx, id, token); err != nil {
		if denied(err) {
			return pledge.Survey{}, p.linkInvalid(r), false, nil
		}
		return pledge.Survey{}, view{}, false, err
	}
	sv, err := p.pledges.Survey(ctx, id, token)
	if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
		return sv, view{redirect: pledgePath(id), status: http.StatusSeeOther, private: true}, false, nil
	}
	return sv, view{}, err == nil, err
}

func (p *Pages) survey(r *request) (view, error) {
	sv, v, ok, err := p.loadSurvey(r)
	if !ok {
		return v, err
	}
	return p.surveyForm(r, sv, choiceOf(sv.Pledge, sv.Tier), newFormProblems())
}

func (p *Pages) surveyForm(r *request, sv pledge.Survey, rc rewardChoice, fp formProblems) (view, error) {
	token, err := p.csrf.Token(r.c)
	if err != nil {
		return view{}, err
	}
	loc, zone, id := r.loc, p.zone(sv.Campaign.Timezone), sv.Pledge.ID
	v := surveyView{base: r.base, Action: pledgePath(id) + "/survey", BackHref: pledgePath(id), CSRF: token,
		CampaignTitle: sv.Campaign.Title, TierTitle: sv.Tier.Title, formProblems: fp}
	v.Title = loc.T("survey.title", sv.Campaign.Title)
	deadline := loc.DateTime(sv.Deadline, zone)
	if p.now().Before(sv.Deadline) {
		v.Intro = loc.T("survey.intro", deadline)
		v.Reward = p.rewardFields(loc, sv.Tier, asks{sv.Options, sv.Session, sv.Address}, rc, sv.Pledge.SessionID, fp.Errors)
	} else {
		v.Closed = loc.T("survey.closed", deadline)
	}
	if at := sv.Pledge.SurveyAnsweredAt; at != nil {
		v.Answered = loc.T("survey.answered", loc.DateTime(*at, zone))
	}
	status := http.StatusOK
	if len(fp.Summary) > 0 || fp.Problem != "" {
		status = http.StatusUnprocessableEntity
	}
	return view{status: status, name: "survey", data: v, private: true}, nil
}

// surveySubmit records the answers through the pledge service; a refusal shows the form again
// with what was chosen and the reason beside the field.
func (p *Pages) surveySubmit(r *request) (view, error) {
	if err := p.csrf.Check(r.c); err != nil {
		return p.forged(r, err)
	}
	sv, v, ok, err := p.loadSurvey(r)
	if !ok {
		return v, err
	}
	rc := readChoice(r.c, sv.Tier)
	var a pledge.SurveyAnswers
	if sv.Address {
		a.ShippingAddress = rc.address()
	}
	if sv.Options {
		opts := rc.options(sv.Tier)
		a.Options = &opts
	}
	if sv.Session {
		a.SessionID = &rc.Session
	}
	answered, err := p.pledges.AnswerSurvey(r.c.UserContext(), sv.Pledge.ID, manageToken(r.c), a)
	if err == nil {
		return view{redirect: pledgePath(sv.Pledge.ID) + "?done=survey", status: http.StatusSeeOther, private: true}, nil
	}
	fp := newFormProblems()
	if !fp.placeRefusal(r, err, sv.Tier) {
		return view{}, err
	}
	if answered.Pledge.ID != "" {
		sv = answered // as it stands now, should the refusal come from a newer state
	}
	return p.surveyForm(r, sv, rc, fp)
}
