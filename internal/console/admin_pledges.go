package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// searchLimit bounds one search's list: an admin narrows a search rather than pages it.
const searchLimit = 50

// refundFormTTL is how long a refund's confirmation is remembered, so the same form sent again
// (a double click, a reload, a retry) within it refunds once.
const refundFormTTL = 24 * time.Hour

func pledgeHref(id string) string { return "/admin/pledges/" + url.PathEscape(id) }

// pledgeRow is a pledge in a search's results.
type pledgeRow struct {
	ID, Href, Backer, Email, Amount, Status, StatusKind, Created string
}

type searchView struct {
	base
	Query    string
	Searched bool
	Pledges  []pledgeRow
}

// searchPledges finds pledges by id, backer's email, Stripe id, or campaign (id or address).
func (k *Console) searchPledges(r *request) (view, error) {
	q := strings.TrimSpace(r.c.Query("q"))
	v := searchView{base: r.base, Query: q, Searched: q != ""}
	v.Title = r.loc.T("admin.pledges.title")
	if q != "" {
		found, err := k.findPledges(r, q)
		if err != nil {
			return view{}, err
		}
		for _, p := range found {
			v.Pledges = append(v.Pledges, pledgeRow{ID: p.ID, Href: pledgeHref(p.ID), Backer: p.Backer.Name, Email: p.Backer.Email,
				Amount: r.loc.Money(p.Amount), Status: r.loc.T("admin.pledge_status." + string(p.Status)), StatusKind: string(p.Status),
				Created: when(r, p.CreatedAt)})
		}
	}
	return view{name: "admin_pledges", data: v}, nil
}

// findPledges reads what the admin typed: an address is an email, a Stripe prefix a Stripe id,
// a pledge id a pledge; anything else is tried as a campaign's id or address.
func (k *Console) findPledges(r *request, q string) ([]pledge.Pledge, error) {
	ctx := r.c.UserContext()
	var s pledge.Search
	switch {
	case strings.Contains(q, "@"):
		s.Email = q
	case strings.HasPrefix(q, "plg_"):
		s.ID = q
	case stripeID(q):
		s.StripeID = q
	default:
		d, err := k.campaigns.Show(ctx, r.actor(), q)
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		s.CampaignID = d.Campaign.ID
	}
	return k.admins.Store.SearchPledges(ctx, s, searchLimit)
}

// stripeID recognises the ids of the Stripe objects admins look pledges up by.
func stripeID(q string) bool {
	for _, prefix := range []string{"seti_", "pi_", "ch_", "py_"} {
		if strings.HasPrefix(q, prefix) {
			return true
		}
	}
	return false
}

// stripeRow is one Stripe object a pledge points at.
type stripeRow struct{ Label, ID, Href string }

type historyRow struct {
	At, From, To, Actor, Reason string
}

type pledgeView struct {
	base
	ID, Href, Campaign, CampaignHref, Backer, Email, Amount, Status, StatusKind string
	Refunded, Left, Created, Funding                                            string
	Stripe                                                                      []stripeRow
	Decline                                                                     *declineView
	Dispute                                                                     string
	History                                                                     []historyRow
	Refundable                                                                  bool
	RefundHref                                                                  string
}

type declineView struct{ Code, DeclineCode, Message, At string }

// pledgePage shows a pledge with its history, Stripe's ids, its last decline and its refunds.
func (k *Console) pledgePage(r *request) (view, error) {
	p, c, err := k.findPledge(r)
	if err != nil {
		return view{}, err
	}
	r.Notice = k.adminNotice(r)
	return view{name: "admin_pledge", data: k.pledgeView(r, p, c)}, nil
}

func (k *Console) findPledge(r *request) (pledge.Pledge, campaign.Campaign, error) {
	ctx := r.c.UserContext()
	p, err := k.admins.Store.FindPledge(ctx, r.c.Params("id"))
	if err != nil {
		return p, campaign.Campaign{}, err
	}
	d, err := k.campaigns.Show(ctx, r.actor(), p.CampaignID)
	return p, d.Campaign, err
}

func (k *Console) pledgeView(r *request, p pledge.Pledge, c campaign.Campaign) pledgeView {
	cur := p.Amount.Currency
	_, refundErr := pledge.Refundable(p, nil)
	v := pledgeView{base: r.base, ID: p.ID, Href: pledgeHref(p.ID), Campaign: c.Title, CampaignHref: reviewHref(c.ID),
		Backer: p.Backer.Name, Email: p.Backer.Email, Amount: r.loc.Money(p.Amount),
		Status: r.loc.T("admin.pledge_status." + string(p.Status)), StatusKind: string(p.Status),
		Refunded: r.loc.Money(money.Money{Amount: p.AmountRefunded, Currency: cur}), Created: when(r, p.CreatedAt),
		Funding: r.loc.T("console.funding." + string(p.FundingModel)), Refundable: refundErr == nil, RefundHref: pledgeHref(p.ID) + "/refund"}
	if p.Status.Charged() {
		v.Left = r.loc.Money(money.Money{Amount: p.Amount.Amount - p.AmountRefunded, Currency: cur})
	}
	v.Title = r.loc.T("admin.pledge.title", p.Backer.Name)
	for _, s := range []stripeRow{{"customer", p.CustomerID, ""}, {"setup_intent", p.SetupIntentID, ""}, {"payment_intent", p.PaymentIntentID, ""},
		{"payment_method", p.PaymentMethodID, ""}, {"charge", p.ChargeID, ""}, {"transfer", p.TransferID, ""}} {
		if s.ID != "" {
			s.Href = k.admins.stripeDashboardURL(s.Label, s.ID)
			s.Label = r.loc.T("admin.stripe." + s.Label)
			v.Stripe = append(v.Stripe, s)
		}
	}
	if f := p.LastFailure; f != nil {
		v.Decline = &declineView{Code: f.Code, DeclineCode: f.DeclineCode, Message: f.Message, At: when(r, f.At)}
	}
	if d := p.Dispute; d != nil {
		v.Dispute = d.Reason + " · " + d.Status + " · " + r.loc.Money(money.Money{Amount: d.Amount, Currency: cur})
	}
	for i := len(p.History) - 1; i >= 0; i-- {
		h := p.History[i]
		row := historyRow{At: when(r, h.At), To: r.loc.T("admin.pledge_status." + string(h.To)), Actor: h.Actor, Reason: h.Reason}
		if h.From != "" {
			row.From = r.loc.T("admin.pledge_status." + string(h.From))
		}
		v.History = append(v.History, row)
	}
	return v
}

type refundView struct {
	base
	Pledge   pledgeView
	Action   string
	Amount   string
	Reason   string
	Currency string
	AllLeft  string
	Errors   fieldErrors
	Error    string
	// Confirm is the step that shows what the refund does before it is made.
	Confirm       bool
	ConfirmAction string
	Back          string
	Gets          string
	LeftAfter     string
	StripeFee     string
	Key           string
	AmountValue   string
}

func (k *Console) refundForm(r *request) (view, error) {
	p, c, err := k.findPledge(r)
	if err != nil {
		return view{}, err
	}
	return k.refundPage(r, p, c, "", "", nil, "", http.StatusOK), nil
}

func (k *Console) refundPage(r *request, p pledge.Pledge, c campaign.Campaign, amount, reason string, errs fieldErrors, msg string, status int) view {
	v := refundView{base: r.base, Pledge: k.pledgeView(r, p, c), Action: pledgeHref(p.ID) + "/refund", Amount: amount, Reason: reason,
		Currency: p.Amount.Currency, Errors: errs, Error: msg, Back: pledgeHref(p.ID)}
	v.AllLeft = v.Pledge.Left
	v.Title = r.loc.T("admin.refund.title", p.Backer.Name)
	return view{status: status, name: "admin_refund", data: v}
}

// readRefund reads the refund form: an empty amount is all that is left.
func readRefund(r *request, currency string) (amount *money.Money, typed, reason string, errs fieldErrors) {
	typed, reason = strings.TrimSpace(r.c.FormValue("amount")), r.c.FormValue("reason")
	errs = fieldErrors{}
	if typed != "" {
		m, err := parseAmount(typed, currency)
		if err != nil {
			errs["amount"] = err.Error()
		}
		amount = &m
	}
	return amount, typed, reason, errs
}

// refundProblem shows the refund form again with what stops the refund beside its field: an
// amount above what is left says how much is left, in the pledge's money.
func (k *Console) refundProblem(r *request, p pledge.Pledge, c campaign.Campaign, typed, reason string, errs fieldErrors, err error) (view, error) {
	status, msg := http.StatusUnprocessableEntity, r.loc.T("console.error.fields")
	if err != nil {
		switch backstitch.ErrorCode(err) {
		case backstitch.CodeRefundExceedsRemaining, backstitch.CodeCurrencyMismatch:
			status = http.StatusUnprocessableEntity
		default:
			var ok bool
			if status, ok = formStatus(err); !ok {
				return view{}, err
			}
		}
		errs, msg = fieldsOf(r, err, errs)
		for _, f := range []string{"amount.amount", "amount.currency"} {
			if m, ok := errs[f]; ok {
				delete(errs, f)
				if _, taken := errs["amount"]; !taken {
					errs["amount"] = m
				}
			}
		}
		if backstitch.ErrorCode(err) == backstitch.CodeRefundExceedsRemaining {
			errs["amount"] = r.loc.T("admin.refund.exceeds", r.loc.Money(money.Money{Amount: p.Amount.Amount - p.AmountRefunded, Currency: p.Amount.Currency}))
			msg = r.loc.T("console.error.fields")
		}
	}
	return k.refundPage(r, p, c, typed, reason, errs, msg, status), nil
}

// planRefund checks the refund as the admin service will make it and shows what it does, to be
// confirmed; nothing is refunded yet.
func (k *Console) planRefund(r *request) (view, error) {
	p, c, err := k.findPledge(r)
	if err != nil {
		return view{}, err
	}
	amount, typed, reason, errs := readRefund(r, p.Amount.Currency)
	if len(errs) > 0 {
		return k.refundProblem(r, p, c, typed, reason, errs, nil)
	}
	plan, err := k.admins.Service.PlanRefund(r.c.UserContext(), p.ID, amount, reason)
	if err != nil {
		return k.refundProblem(r, p, c, typed, reason, errs, err)
	}
	key, err := newFormKey()
	if err != nil {
		return view{}, err
	}
	v := refundView{base: r.base, Pledge: k.pledgeView(r, p, c), Confirm: true, ConfirmAction: pledgeHref(p.ID) + "/refund/confirm",
		Back: pledgeHref(p.ID) + "/refund", Reason: plan.Reason, Gets: r.loc.Money(plan.Amount), LeftAfter: r.loc.Money(plan.Left),
		AmountValue: formatAmount(plan.Amount), Key: key, Currency: p.Amount.Currency}
	if p.StripeFee > 0 {
		v.StripeFee = r.loc.Money(money.Money{Amount: p.StripeFee, Currency: p.Amount.Currency})
	}
	v.Title = r.loc.T("admin.refund.confirm_title")
	return view{name: "admin_refund", data: v}, nil
}

// confirmRefund makes the refund the admin confirmed, once per confirmation: the form carries a
// key of its own, reserved before the refund starts, so the same form sent again while the first
// runs or after it is done refunds nothing more. The amount confirmed is explicit, never "all
// that is left", so a refund made elsewhere in between cannot grow it.
func (k *Console) confirmRefund(r *request) (view, error) {
	ctx := r.c.UserContext()
	p, c, err := k.findPledge(r)
	if err != nil {
		return view{}, err
	}
	amount, typed, reason, errs := readRefund(r, p.Amount.Currency)
	key := r.c.FormValue("key")
	if amount == nil || !validFormKey(key) {
		errs["amount"] = r.loc.T("admin.refund.unconfirmed")
	}
	if len(errs) > 0 {
		return k.refundProblem(r, p, c, typed, reason, errs, nil)
	}
	var refundErr error
	outcome, err := k.once(ctx, hashHex("console:refund", r.sess.UserID, p.ID, key), hashHex(typed, reason), refundFormTTL, func() error {
		_, refundErr = k.admins.Service.Refund(ctx, r.sess.UserID, p.ID, amount, reason)
		return refundErr
	})
	switch {
	case refundErr != nil:
		// Nothing was refunded: the same form may be sent again once what stopped it is fixed.
		if err != refundErr {
			return view{}, err
		}
		return k.refundProblem(r, p, c, typed, reason, fieldErrors{}, err)
	case err != nil:
		return view{}, err
	case outcome == inFlightOrDifferent:
		return k.message(r, http.StatusConflict, "admin.refund.again_title", "admin.refund.again_body"), nil
	}
	return view{redirect: pledgeHref(p.ID) + "?notice=refunded"}, nil
}

func hashHex(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
