package console

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/markdown"
	"github.com/backstitch/backstitch/internal/money"
)

// defaultZone is where a new campaign's deadline is reckoned until the designer picks another:
// Backstitch's designers are mostly in Geneva.
const defaultZone = "Europe/Zurich"

// dashboardPage is how many campaigns one store read lists; the dashboard reads every page.
const dashboardPage = 100

func (r *request) actor() campaign.Actor {
	return campaign.Actor{UserID: r.sess.UserID, Role: r.sess.Role}
}

func editorHref(id string) string { return "/designer/campaigns/" + url.PathEscape(id) }

// fieldErrors are messages by form field, shown beside it.
type fieldErrors map[string]string

// formFields maps the API's field paths to the form's inputs.
var formFields = map[string]string{"goal.amount": "goal", "goal.currency": "currency", "price.amount": "price", "price.currency": "price"}

// fieldsOf turns a service error into messages beside each field (the API's own messages, so
// the console and the API say the same thing) and a message for the whole form.
func fieldsOf(r *request, err error, into fieldErrors) (fieldErrors, string) {
	if into == nil {
		into = fieldErrors{}
	}
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok {
		return into, r.loc.T("console.error.generic")
	}
	for _, f := range e.Fields {
		name := f.Field
		if n, ok := formFields[name]; ok {
			name = n
		}
		if _, taken := into[name]; !taken {
			into[name] = f.Message
		}
	}
	if len(e.Fields) == 0 || e.Code != backstitch.CodeValidation {
		return into, e.Message
	}
	return into, r.loc.T("console.error.fields")
}

// formStatus is the status of a form shown again with the service's complaint, for the errors a
// designer can fix on the form; ok is false for the others (not found, forbidden, outages).
func formStatus(err error) (int, bool) {
	switch backstitch.ErrorCode(err) {
	case backstitch.CodeValidation:
		return http.StatusUnprocessableEntity, true
	case backstitch.CodeEmailTaken, backstitch.CodeCampaignLocked, backstitch.CodeTierHasBackers,
		backstitch.CodeInvalidState, backstitch.CodeConflict:
		return http.StatusConflict, true
	}
	return 0, false
}

// row is one campaign on the dashboard.
type row struct {
	Title, Href, Status, StatusKind string
	Live                            bool
	Pledged, Goal, Backers, Left    string
	Rejected                        string
}

type dashboardView struct {
	base
	Campaigns []row
}

// dashboard lists every campaign of the designer, newest first, with its figures when live.
func (k *Console) dashboard(r *request) (view, error) {
	ctx := r.c.UserContext()
	v := dashboardView{base: r.base}
	v.Title = r.loc.T("console.dashboard.title")
	v.Notice = k.notice(r)
	now := k.now()
	q := campaign.ListQuery{Scope: campaign.ListMine, Limit: dashboardPage}
	for {
		page, err := k.campaigns.List(ctx, r.actor(), q)
		if err != nil {
			return view{}, err
		}
		for _, c := range page.Campaigns {
			rw := row{Title: c.Title, Href: editorHref(c.ID), Status: r.loc.T("console.status." + string(c.Status)), StatusKind: string(c.Status),
				Goal: r.loc.Money(c.Goal)}
			if c.Status == campaign.StatusLive {
				rw.Live = true
				rw.Pledged = r.loc.Money(money.Money{Amount: c.Pledged, Currency: c.Goal.Currency})
				rw.Backers = r.loc.Plural("campaign.backers", c.BackersCount)
				rw.Left = r.loc.TimeLeft(now, c.Deadline)
			}
			if c.Status == campaign.StatusDraft {
				rw.Rejected = c.RejectionReason
			}
			v.Campaigns = append(v.Campaigns, rw)
		}
		if page.Last == nil {
			break
		}
		q.After = page.Last
	}
	return view{name: "designer_dashboard", data: v}, nil
}

// notice is the confirmation a redirect after a successful form asked for.
func (k *Console) notice(r *request) string {
	switch n := r.c.Query("notice"); n {
	case "welcome", "password_reset", "saved", "created", "submitted", "launched", "tier_added", "tier_saved", "tier_deleted",
		"cover_saved", "image_saved", "cover_removed", "image_removed", "profile_saved", "password_changed", "digest_on", "digest_off":
		return r.loc.T("console.notice." + n)
	}
	return ""
}

// campaignForm is the editor's fields as typed, kept as text so nothing typed is lost when the
// form comes back with errors.
type campaignForm struct {
	Title, Blurb, Story, Goal, Currency, Funding, Deadline, Timezone string
}

type option struct {
	Value, Label string
	Selected     bool
}

// tierRow is a tier as the editor lists it.
type tierRow struct {
	ID, Title, Kind, Price, Limit, Claimed, Href string
	HasBackers                                   bool
}

// tierForm is the tier form's fields as typed.
type tierForm struct {
	Title, Description, Kind, Price, Limit, Delivery string
	Ships                                            bool
}

type editorView struct {
	base
	ID, Action string
	New        bool
	Form       campaignForm
	Errors     fieldErrors
	Error      string
	StatusKind string
	Status     string
	// Editable is false once the campaign has ended; Locked once it is live (goal, currency,
	// funding model, deadline and time zone: backers pledged against them).
	Editable, Locked bool
	Currencies       []option
	Zones            []option
	Fundings         []option
	Rejection        string
	CanSubmit        bool
	CanLaunch        bool
	InReview         bool
	PreviewHref      string
	PublicHref       string
	// BackersHref and InsightsHref lead to a public campaign's backers and figures, UpdatesHref
	// to a launched campaign's updates.
	BackersHref, InsightsHref, UpdatesHref string
	// SettlementHref leads to an ended campaign's settlement figures.
	SettlementHref string
	// Tiers: the list, and the form to add one.
	Tiers           []tierRow
	TiersChangeable bool
	TierAction      string
	TierForm        tierForm
	TierErrors      fieldErrors
	TierError       string
	Kinds           []option
	Currency        string
	// HasBackers is the tier form's lock, never set for a new tier.
	HasBackers bool
	// Cover is the cover's upload form, shown while the campaign's pictures may change.
	Cover         imageForm
	ImagesAllowed bool
}

func (k *Console) newCampaignForm(r *request) (view, error) {
	return k.editorPage(r, nil, nil, campaignForm{Currency: "CHF", Funding: string(campaign.AllOrNothing), Timezone: defaultZone}, nil, "", http.StatusOK), nil
}

// readCampaign reads the editor's form into the service's fields. For a campaign that exists
// (cur), the goal, funding model, deadline and time zone are sent only when they changed, so
// saving a live campaign's story never trips the launch locks, and a deadline set through the API
// to the second is not rounded to the end of its day by a form that only shows the date.
func readCampaign(r *request, cur *campaign.Campaign) (campaignForm, campaign.Fields, fieldErrors) {
	form := campaignForm{
		Title: r.c.FormValue("title"), Blurb: r.c.FormValue("blurb"), Story: r.c.FormValue("story"),
		Goal: strings.TrimSpace(r.c.FormValue("goal")), Currency: r.c.FormValue("currency"),
		Funding: r.c.FormValue("funding_model"), Deadline: strings.TrimSpace(r.c.FormValue("deadline")), Timezone: r.c.FormValue("timezone"),
	}
	errs := fieldErrors{}
	f := campaign.Fields{Title: &form.Title, Blurb: &form.Blurb, Story: &form.Story}
	if cur != nil && cur.Status == campaign.StatusLive {
		// The locked inputs are disabled and not sent; what the page shows is what stands.
		curForm := formOf(*cur, r.loc)
		form.Goal, form.Currency, form.Funding, form.Deadline, form.Timezone = curForm.Goal, curForm.Currency, curForm.Funding, curForm.Deadline, curForm.Timezone
		return form, f, errs
	}
	goal, err := parseAmount(form.Goal, form.Currency)
	switch {
	case form.Goal == "" && cur == nil:
		errs["goal"] = "goal is required"
	case err != nil:
		errs["goal"] = err.Error()
	case cur == nil || goal != cur.Goal:
		f.Goal = &goal
	}
	if fm := campaign.FundingModel(form.Funding); cur == nil || fm != cur.FundingModel {
		f.FundingModel = &fm
	}
	zoneChanged := cur == nil || form.Timezone != cur.Timezone
	if zoneChanged {
		f.Timezone = &form.Timezone
	}
	if form.Deadline != "" && (zoneChanged || form.Deadline != formOf(*cur, r.loc).Deadline) {
		f.Deadline = &form.Deadline
	}
	return form, f, errs
}

// parseAmount reads an amount as people type it in either language: "1500", "1500.50",
// "1 500,50", "1’500.50".
func parseAmount(s, currency string) (money.Money, error) {
	s = strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "", "’", "", "'", "").Replace(s)
	s = strings.Replace(s, ",", ".", 1)
	m, err := money.Parse(s, currency)
	if err != nil {
		if _, ok := money.LookupCurrency(currency); !ok {
			return money.Money{}, errors.New("currency must be one of " + strings.Join(money.Supported(), ", "))
		}
		return money.Money{}, errors.New("amount must be a number such as 1500 or 1500.50")
	}
	return m, nil
}

// formatAmount writes minor units back as the form shows them ("1500.00", "500" for JPY).
func formatAmount(m money.Money) string {
	s := m.String()
	return s[strings.IndexByte(s, ' ')+1:]
}

// formOf is a saved campaign as the editor shows it: the deadline as its day in its own zone.
func formOf(c campaign.Campaign, loc locale.Locale) campaignForm {
	f := campaignForm{Title: c.Title, Blurb: c.Blurb, Story: c.Story, Goal: formatAmount(c.Goal), Currency: c.Goal.Currency,
		Funding: string(c.FundingModel), Timezone: c.Timezone}
	if z, err := time.LoadLocation(c.Timezone); err == nil && !c.Deadline.IsZero() {
		f.Deadline = c.Deadline.In(z).Format(time.DateOnly)
	}
	return f
}

func (k *Console) createCampaign(r *request) (view, error) {
	form, f, errs := readCampaign(r, nil)
	if len(errs) > 0 {
		return k.editorPage(r, nil, nil, form, errs, r.loc.T("console.error.fields"), http.StatusUnprocessableEntity), nil
	}
	c, err := k.campaigns.Create(r.c.UserContext(), r.actor(), f)
	if err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		errs, msg := fieldsOf(r, err, errs)
		return k.editorPage(r, nil, nil, form, errs, msg, status), nil
	}
	return view{redirect: editorHref(c.ID) + "?notice=created"}, nil
}

// load finds the designer's own campaign: another designer's draft is not found, her public
// campaign forbidden, exactly as the API answers.
func (k *Console) load(r *request) (campaign.Detail, error) {
	c, err := k.campaigns.FindForOwnerOrAdmin(r.c.UserContext(), r.actor(), r.c.Params("id"))
	if err != nil {
		return campaign.Detail{}, err
	}
	return k.campaigns.Show(r.c.UserContext(), r.actor(), c.ID)
}

func (k *Console) editor(r *request) (view, error) {
	d, err := k.load(r)
	if err != nil {
		return view{}, err
	}
	r.Notice = k.notice(r)
	return k.editorPage(r, &d, nil, formOf(d.Campaign, r.loc), nil, "", http.StatusOK), nil
}

func (k *Console) saveCampaign(r *request) (view, error) {
	d, err := k.load(r)
	if err != nil {
		return view{}, err
	}
	form, f, errs := readCampaign(r, &d.Campaign)
	if len(errs) > 0 {
		return k.editorPage(r, &d, nil, form, errs, r.loc.T("console.error.fields"), http.StatusUnprocessableEntity), nil
	}
	if _, err := k.campaigns.Edit(r.c.UserContext(), r.actor(), d.Campaign.ID, f); err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		errs, msg := fieldsOf(r, err, errs)
		return k.editorPage(r, &d, nil, form, errs, msg, status), nil
	}
	return view{redirect: editorHref(d.Campaign.ID) + "?notice=saved"}, nil
}

// transition runs a review step (submit, launch) and comes back to the editor; what stops it
// (a deadline now too close, a campaign not approved) is shown there.
func (k *Console) transition(do func(*campaign.Service, context.Context, campaign.Actor, string, string) (campaign.Detail, error), notice string) handler {
	return func(r *request) (view, error) {
		d, err := k.load(r)
		if err != nil {
			return view{}, err
		}
		if _, err := do(k.campaigns, r.c.UserContext(), r.actor(), d.Campaign.ID, ""); err != nil {
			status, ok := formStatus(err)
			if !ok {
				return view{}, err
			}
			errs, msg := fieldsOf(r, err, nil)
			return k.editorPage(r, &d, nil, formOf(d.Campaign, r.loc), errs, msg, status), nil
		}
		return view{redirect: editorHref(d.Campaign.ID) + "?notice=" + notice}, nil
	}
}

// editorPage builds the editor: the campaign's form, its tiers and the form to add one, and what
// the designer can do next.
func (k *Console) editorPage(r *request, d *campaign.Detail, tier *tierEdit, form campaignForm, errs fieldErrors, msg string, status int) view {
	v := editorView{base: r.base, Form: form, Errors: errs, Error: msg, Editable: true, New: d == nil,
		Action: "/designer/campaigns/new", Kinds: kindOptions(r, string(campaign.KindPhysical))}
	v.Title = r.loc.T("console.new.title")
	if d != nil {
		c := d.Campaign
		v.ID, v.Action, v.Title = c.ID, editorHref(c.ID), c.Title
		v.StatusKind, v.Status = string(c.Status), r.loc.T("console.status."+string(c.Status))
		v.Locked = c.Status == campaign.StatusLive
		v.Editable = c.Status == campaign.StatusDraft || c.Status == campaign.StatusInReview || c.Status == campaign.StatusApproved || v.Locked
		v.CanSubmit = c.Status == campaign.StatusDraft
		v.CanLaunch = c.Status == campaign.StatusApproved
		v.InReview = c.Status == campaign.StatusInReview
		if c.Status == campaign.StatusDraft {
			v.Rejection = c.RejectionReason
		}
		v.PreviewHref = editorHref(c.ID) + "/preview"
		if c.Public() {
			v.PublicHref = "/campaigns/" + url.PathEscape(c.Slug)
			v.BackersHref = editorHref(c.ID) + "/backers"
			if c.LaunchedAt != nil {
				v.InsightsHref = editorHref(c.ID) + "/insights"
				v.UpdatesHref = editorHref(c.ID) + "/updates"
				v.SettlementHref = settlementLink(c, k.now())
			}
		}
		v.Currency = c.Goal.Currency
		v.TiersChangeable = c.Status.Changeable()
		v.TierAction = editorHref(c.ID) + "/tiers"
		v.TierForm = tierForm{Kind: string(campaign.KindPhysical), Ships: true}
		v.ImagesAllowed = c.Status.Changeable()
		v.Cover = imageForm{Current: pictureOf(c.Cover), ID: "cover", CSRF: r.CSRF, Action: editorHref(c.ID) + "/cover"}
		for _, t := range d.Tiers {
			v.Tiers = append(v.Tiers, tierRowOf(r, c, t))
		}
		if tier != nil {
			v.TierForm, v.TierErrors, v.TierError = tier.form, tier.errs, tier.msg
			v.Kinds = kindOptions(r, tier.form.Kind)
		}
	}
	if v.Title == "" {
		v.Title = r.loc.T("console.untitled")
	}
	for _, cur := range money.Supported() {
		v.Currencies = append(v.Currencies, option{Value: cur, Label: cur, Selected: cur == form.Currency})
	}
	for _, fm := range []campaign.FundingModel{campaign.AllOrNothing, campaign.Flexible} {
		v.Fundings = append(v.Fundings, option{Value: string(fm), Label: r.loc.T("console.funding." + string(fm)), Selected: string(fm) == form.Funding})
	}
	list := zones
	if form.Timezone != "" && !slices.Contains(list, form.Timezone) {
		// A zone set through the API (an old spelling such as Asia/Calcutta) stays selectable.
		list = append([]string{form.Timezone}, list...)
	}
	for _, z := range list {
		v.Zones = append(v.Zones, option{Value: z, Label: strings.ReplaceAll(z, "_", " "), Selected: z == form.Timezone})
	}
	return view{status: status, name: "designer_campaign", data: v}
}

func kindOptions(r *request, selected string) []option {
	var out []option
	for _, kind := range []campaign.TierKind{campaign.KindPhysical, campaign.KindExperience, campaign.KindDigital} {
		out = append(out, option{Value: string(kind), Label: r.loc.T("console.kind." + string(kind)), Selected: string(kind) == selected})
	}
	return out
}

func tierRowOf(r *request, c campaign.Campaign, t campaign.Tier) tierRow {
	row := tierRow{ID: t.ID, Title: t.Title, Kind: r.loc.T("console.kind." + string(t.Kind)), Price: r.loc.Money(t.Price),
		Claimed: r.loc.Plural("campaign.backers", t.Claimed), HasBackers: t.Claimed > 0,
		Href: editorHref(c.ID) + "/tiers/" + url.PathEscape(t.ID)}
	if t.Limit != nil {
		row.Limit = r.loc.T("console.tier.limited", *t.Limit)
	} else {
		row.Limit = r.loc.T("console.tier.unlimited")
	}
	return row
}

type previewView struct {
	base
	Designer, Blurb, Goal, Deadline, Funding string
	Story                                    template.HTML
	Tiers                                    []tierRow
	Back                                     string
}

// preview shows a campaign as backers will see it, whatever its status: the public page exists
// only once it is live.
func (k *Console) preview(r *request) (view, error) {
	d, err := k.load(r)
	if err != nil {
		return view{}, err
	}
	v := previewOf(r, d, r.Designer)
	v.Back = editorHref(d.Campaign.ID)
	return view{name: "designer_preview", data: v}, nil
}

// previewOf is a campaign as backers will see it, by its designer: the designer's preview and
// the admins' review show the same.
func previewOf(r *request, d campaign.Detail, designer string) previewView {
	c := d.Campaign
	zone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		zone = time.UTC
	}
	v := previewView{base: r.base, Designer: r.loc.T("campaign.by", designer), Blurb: c.Blurb, Story: markdown.Render(c.Story),
		Goal: r.loc.Money(c.Goal), Deadline: r.loc.T("campaign.ends", r.loc.DateTime(c.Deadline, zone))}
	v.Title = c.Title
	if c.FundingModel == campaign.AllOrNothing {
		v.Funding = r.loc.T("funding.all_or_nothing", r.loc.Date(c.Deadline, zone))
	} else {
		v.Funding = r.loc.T("funding.flexible")
	}
	for _, t := range d.Tiers {
		v.Tiers = append(v.Tiers, tierRowOf(r, c, t))
	}
	return v
}

// tierEdit is the tier form coming back with what was typed and what is wrong.
type tierEdit struct {
	form tierForm
	errs fieldErrors
	msg  string
}

// readTier reads the tier form into the service's fields; the price is in the campaign's currency.
func readTier(r *request, c campaign.Campaign) (tierForm, campaign.TierFields, fieldErrors) {
	form := tierForm{Title: r.c.FormValue("title"), Description: r.c.FormValue("description"), Kind: r.c.FormValue("kind"),
		Price: strings.TrimSpace(r.c.FormValue("price")), Limit: strings.TrimSpace(r.c.FormValue("limit")),
		Delivery: strings.TrimSpace(r.c.FormValue("estimated_delivery")), Ships: r.c.FormValue("ships") != ""}
	errs := fieldErrors{}
	kind := campaign.TierKind(form.Kind)
	// Only a physical piece may ship; the box means nothing for the other kinds.
	ships := form.Ships && kind == campaign.KindPhysical
	f := campaign.TierFields{Title: &form.Title, Description: &form.Description, Kind: &kind, Ships: &ships}
	if form.Price == "" {
		errs["price"] = "price is required"
	} else if p, err := parseAmount(form.Price, c.Goal.Currency); err != nil {
		errs["price"] = err.Error()
	} else {
		f.Price = &p
	}
	f.Limit = campaign.Nullable[int64]{Set: true, Null: form.Limit == ""}
	if form.Limit != "" {
		n, err := strconv.ParseInt(form.Limit, 10, 64)
		if err != nil {
			errs["limit"] = "limit must be a whole number, or empty for no limit"
		}
		f.Limit.Value = n
	}
	f.EstimatedDelivery = campaign.Nullable[string]{Set: true, Null: form.Delivery == "" || !ships, Value: form.Delivery}
	return form, f, errs
}

func (k *Console) addTier(r *request) (view, error) {
	d, err := k.load(r)
	if err != nil {
		return view{}, err
	}
	form, f, errs := readTier(r, d.Campaign)
	if len(errs) == 0 {
		_, err = k.campaigns.AddTier(r.c.UserContext(), r.actor(), d.Campaign.ID, f)
		if err == nil {
			return view{redirect: editorHref(d.Campaign.ID) + "?notice=tier_added#tiers"}, nil
		}
	}
	return k.tierProblem(r, d, nil, form, errs, err)
}

// tierProblem shows the tier form again, beside the campaign (a new tier) or alone (an edit).
func (k *Console) tierProblem(r *request, d campaign.Detail, t *campaign.Tier, form tierForm, errs fieldErrors, err error) (view, error) {
	status, msg := http.StatusUnprocessableEntity, r.loc.T("console.error.fields")
	if err != nil {
		var ok bool
		if status, ok = formStatus(err); !ok {
			return view{}, err
		}
		errs, msg = fieldsOf(r, err, errs)
	}
	edit := &tierEdit{form: form, errs: errs, msg: msg}
	if t == nil {
		return k.editorPage(r, &d, edit, formOf(d.Campaign, r.loc), nil, "", status), nil
	}
	return k.tierPage(r, d.Campaign, *t, edit, status), nil
}

type tierView struct {
	base
	Action, DeleteAction, Back, Currency string
	TierForm                             tierForm
	TierErrors                           fieldErrors
	TierError                            string
	Kinds                                []option
	// HasBackers locks price, kind and shipping: backers agreed to them.
	HasBackers bool
	Claimed    string
	Changeable bool
	// Rewards are the tier's options, stock, shipping rates and sessions (rewards.go).
	Rewards rewardsView
	// Image is the tier's picture and its upload form.
	Image imageForm
}

func (k *Console) findTier(r *request) (campaign.Detail, campaign.Tier, error) {
	d, err := k.load(r)
	if err != nil {
		return d, campaign.Tier{}, err
	}
	for _, t := range d.Tiers {
		if t.ID == r.c.Params("tier_id") {
			return d, t, nil
		}
	}
	return d, campaign.Tier{}, backstitch.Errorf(backstitch.CodeNotFound, "Tier not found.")
}

func (k *Console) tierForm(r *request) (view, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return view{}, err
	}
	r.Notice = k.notice(r)
	return k.tierPage(r, d.Campaign, t, nil, http.StatusOK), nil
}

func (k *Console) tierPage(r *request, c campaign.Campaign, t campaign.Tier, edit *tierEdit, status int) view {
	href := editorHref(c.ID) + "/tiers/" + url.PathEscape(t.ID)
	v := tierView{base: r.base, Action: href, DeleteAction: href + "/delete", Back: editorHref(c.ID), Currency: c.Goal.Currency,
		HasBackers: t.Claimed > 0, Claimed: r.loc.Plural("campaign.backers", t.Claimed), Changeable: c.Status.Changeable()}
	v.Title = t.Title
	v.Image = imageForm{Current: pictureOf(t.Image), ID: "tier-image", CSRF: r.CSRF, Action: href + "/image"}
	v.TierForm = tierFormOf(t)
	if edit != nil {
		v.TierForm, v.TierErrors, v.TierError = edit.form, edit.errs, edit.msg
		if v.HasBackers {
			// Locked inputs are disabled, so not sent: show what stands.
			v.TierForm.Kind, v.TierForm.Ships, v.TierForm.Price = string(t.Kind), t.Ships, formatAmount(t.Price)
		}
	}
	v.Kinds = kindOptions(r, v.TierForm.Kind)
	v.Rewards = k.rewardsOf(r, c, t, nil)
	return view{status: status, name: "designer_tier", data: v}
}

func (k *Console) saveTier(r *request) (view, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return view{}, err
	}
	form, f, errs := readTier(r, d.Campaign)
	if t.Claimed > 0 {
		// The locked inputs are disabled in the page and not sent; keep what stands.
		kind, ships, price := t.Kind, t.Ships, t.Price
		f.Kind, f.Ships, f.Price = &kind, &ships, &price
		delete(errs, "price")
		if !ships {
			f.EstimatedDelivery = campaign.Nullable[string]{}
		}
	}
	if len(errs) == 0 {
		_, err = k.campaigns.EditTier(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID, f)
		if err == nil {
			return view{redirect: editorHref(d.Campaign.ID) + "?notice=tier_saved#tiers"}, nil
		}
	}
	return k.tierProblem(r, d, &t, form, errs, err)
}

func (k *Console) deleteTier(r *request) (view, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return view{}, err
	}
	if err := k.campaigns.DeleteTier(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID); err != nil {
		return k.tierProblem(r, d, &t, tierFormOf(t), nil, err)
	}
	return view{redirect: editorHref(d.Campaign.ID) + "?notice=tier_deleted#tiers"}, nil
}

func tierFormOf(t campaign.Tier) tierForm {
	f := tierForm{Title: t.Title, Description: t.Description, Kind: string(t.Kind), Price: formatAmount(t.Price),
		Delivery: t.EstimatedDelivery, Ships: t.Ships}
	if t.Limit != nil {
		f.Limit = strconv.FormatInt(*t.Limit, 10)
	}
	return f
}
