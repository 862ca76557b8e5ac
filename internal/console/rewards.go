package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// A reward's details on its console page: its options and the stock of their combinations, its
// shipping rates by zone, and its dated sessions (added, edited, cancelled). Every form goes
// through the campaign service as the API's PATCH of a tier and its sessions routes do, so the
// rules are the API's, and its messages stand beside the fields they are about.

// rewardRoutes are the routes mountRewards adds (listed in Routes).
var rewardRoutes = []string{
	"POST /designer/campaigns/:id/tiers/:tier_id/details", "POST /designer/campaigns/:id/tiers/:tier_id/sessions",
	"POST /designer/campaigns/:id/tiers/:tier_id/sessions/:session_id",
	"POST /designer/campaigns/:id/tiers/:tier_id/sessions/:session_id/cancel",
}

func (k *Console) mountRewards(r fiber.Router) {
	r.Post("/designer/campaigns/:id/tiers/:tier_id/details", k.page(k.checkCSRF(k.designer(k.saveDetails))))
	r.Post("/designer/campaigns/:id/tiers/:tier_id/sessions", k.page(k.checkCSRF(k.designer(k.addSession))))
	r.Post("/designer/campaigns/:id/tiers/:tier_id/sessions/:session_id", k.page(k.checkCSRF(k.designer(k.editSession))))
	r.Post("/designer/campaigns/:id/tiers/:tier_id/sessions/:session_id/cancel", k.page(k.checkCSRF(k.designer(k.cancelSession))))
}

// detailsForm is the options, stock and shipping form as typed: one entry a line.
type detailsForm struct{ Options, Stock, Rates string }

// sessionForm is a session's fields as typed; times are the wall clock of its time zone.
type sessionForm struct {
	Starts, Ends, Timezone, Place, Link, Capacity string
	Online                                        bool
}

// sessionRow is one date of the tier with its own form.
type sessionRow struct {
	ID, Action, CancelAction, Booked string
	Cancelled                        bool
	Form                             sessionForm
	Errors                           fieldErrors
	Error                            string
}

// rewardsView is the part of the tier page this file serves.
type rewardsView struct {
	Notice string
	// Details: options and stock (locked once the tier has backers), shipping rates (tiers that ship).
	DetailsAction      string
	Details            detailsForm
	Locked, Ships      bool
	Currency           string
	Errors             fieldErrors
	Error              string
	Experience         bool
	Sessions           []sessionRow
	New                sessionRow
	Zones              []string
	CampaignChangeable bool
}

// rewardsEdit is a form of this file coming back with what was typed and what is wrong; session
// is "" for the details form, "new" for the add form, else the session's id.
type rewardsEdit struct {
	session string
	details detailsForm
	form    sessionForm
	errs    fieldErrors
	msg     string
}

func tierHref(c campaign.Campaign, t campaign.Tier) string {
	return editorHref(c.ID) + "/tiers/" + url.PathEscape(t.ID)
}

// rewardsOf prepares the tier page's details and sessions, with edit's form shown as typed.
func (k *Console) rewardsOf(r *request, c campaign.Campaign, t campaign.Tier, edit *rewardsEdit) rewardsView {
	href := tierHref(c, t)
	v := rewardsView{DetailsAction: href + "/details", Details: detailsOf(t), Locked: t.Claimed > 0, Ships: t.Ships,
		Currency: c.Goal.Currency, Errors: fieldErrors{}, Experience: t.Kind == campaign.KindExperience, Zones: zones,
		CampaignChangeable: c.Status.Changeable()}
	if n := r.c.Query("notice"); n == "details_saved" || n == "session_added" || n == "session_saved" || n == "session_cancelled" {
		v.Notice = r.loc.T("console.notice." + n)
	}
	v.New = sessionRow{ID: "new", Action: href + "/sessions", Form: sessionForm{Timezone: c.Timezone, Capacity: "12"}, Errors: fieldErrors{}}
	for _, se := range t.Sessions {
		row := sessionRow{ID: se.ID, Action: href + "/sessions/" + url.PathEscape(se.ID), Cancelled: se.Cancelled,
			Form: sessionFormOf(se), Errors: fieldErrors{}}
		row.CancelAction = row.Action + "/cancel"
		row.Booked = r.loc.T("console.sessions.booked", t.StockClaimed[se.ID], se.Capacity)
		v.Sessions = append(v.Sessions, row)
	}
	if edit == nil {
		return v
	}
	switch edit.session {
	case "":
		v.Details, v.Errors, v.Error = edit.details, edit.errs, edit.msg
	case "new":
		v.New.Form, v.New.Errors, v.New.Error = edit.form, edit.errs, edit.msg
	default:
		for i := range v.Sessions {
			if v.Sessions[i].ID == edit.session {
				v.Sessions[i].Form, v.Sessions[i].Errors, v.Sessions[i].Error = edit.form, edit.errs, edit.msg
			}
		}
	}
	return v
}

// rewardsPage is the tier page with one of this file's forms shown again.
func (k *Console) rewardsPage(r *request, c campaign.Campaign, t campaign.Tier, edit *rewardsEdit, status int) view {
	v := k.tierPage(r, c, t, nil, status)
	tv := v.data.(tierView)
	tv.Rewards = k.rewardsOf(r, c, t, edit)
	v.data = tv
	return v
}

// problem shows a refused form again: the service's messages beside their fields (mapped by
// field), parsing errors already in edit.errs; an error the designer cannot fix is the error page.
func (k *Console) problem(r *request, c campaign.Campaign, t campaign.Tier, edit *rewardsEdit, err error) (view, error) {
	status, msg := http.StatusUnprocessableEntity, r.loc.T("console.error.fields")
	if err != nil {
		var ok bool
		if status, ok = formStatus(err); !ok {
			return view{}, err
		}
		var raw fieldErrors
		raw, msg = fieldsOf(r, err, nil)
		for field, m := range raw {
			if _, taken := edit.errs[detailsField(field)]; !taken {
				edit.errs[detailsField(field)] = m
			}
		}
	}
	edit.msg = msg
	return k.rewardsPage(r, c, t, edit, status), nil
}

// detailsField maps the API's field path ("options[1].values", "shipping_rates[0].zone") to the
// form's input.
func detailsField(api string) string {
	for _, f := range []string{"options", "stock", "shipping_rates"} {
		if strings.HasPrefix(api, f) {
			return f
		}
	}
	return api
}

func detailsOf(t campaign.Tier) detailsForm {
	var opts, stock, rates []string
	for _, o := range t.Options {
		opts = append(opts, o.Name+": "+strings.Join(o.Values, ", "))
	}
	for _, st := range t.Stock {
		var combo []string
		for _, o := range t.Options {
			if v, ok := st.Options[o.Name]; ok {
				combo = append(combo, o.Name+"="+v)
			}
		}
		stock = append(stock, strings.Join(combo, "; ")+": "+strconv.FormatInt(st.Limit, 10))
	}
	for _, sr := range t.ShippingRates {
		rates = append(rates, sr.Zone+": "+formatAmount(sr.Price))
	}
	return detailsForm{strings.Join(opts, "\n"), strings.Join(stock, "\n"), strings.Join(rates, "\n")}
}

// line is one line of a textarea, with its number as the designer counts them.
type line struct {
	n    int
	text string
}

// lines are a textarea's non-blank lines.
func lines(s string) []line {
	var out []line
	for i, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, line{i + 1, l})
		}
	}
	return out
}

// readDetails parses the details form into the service's fields: "Name: a, b" a line for options,
// "Name=a; Other=b: 10" for stock, "ZONE: 12.00" for shipping rates.
func readDetails(r *request, c campaign.Campaign, t campaign.Tier) (detailsForm, campaign.TierFields, fieldErrors) {
	form := detailsForm{Options: r.c.FormValue("options"), Stock: r.c.FormValue("stock"), Rates: r.c.FormValue("shipping_rates")}
	errs := fieldErrors{}
	var f campaign.TierFields
	bad := func(field string, n int) {
		if _, taken := errs[field]; !taken {
			errs[field] = r.loc.T("console.rewards.err.line", n)
		}
	}
	if t.Claimed == 0 {
		// Locked once backers chose among them: the inputs are disabled and nothing is sent.
		opts, stock := []campaign.Option{}, []campaign.StockFields{}
		for _, l := range lines(form.Options) {
			name, values, ok := strings.Cut(l.text, ":")
			if !ok {
				bad("options", l.n)
				continue
			}
			o := campaign.Option{Name: strings.TrimSpace(name)}
			for _, v := range strings.Split(values, ",") {
				if v = strings.TrimSpace(v); v != "" {
					o.Values = append(o.Values, v)
				}
			}
			opts = append(opts, o)
		}
		for _, l := range lines(form.Stock) {
			i := strings.LastIndexByte(l.text, ':')
			limit, err := strconv.ParseInt(strings.TrimSpace(l.text[i+1:]), 10, 64)
			if i < 0 || err != nil {
				bad("stock", l.n)
				continue
			}
			st := campaign.StockFields{Options: map[string]string{}, Limit: limit}
			for _, pair := range strings.Split(l.text[:i], ";") {
				name, value, ok := strings.Cut(pair, "=")
				if !ok {
					bad("stock", l.n)
					break
				}
				st.Options[strings.TrimSpace(name)] = strings.TrimSpace(value)
			}
			stock = append(stock, st)
		}
		f.Options, f.Stock = &opts, &stock
	}
	if t.Ships {
		rates := []campaign.ShippingRate{}
		for _, l := range lines(form.Rates) {
			zone, amount, ok := strings.Cut(l.text, ":")
			price, err := parseAmount(strings.TrimSpace(amount), c.Goal.Currency)
			if !ok || err != nil {
				bad("shipping_rates", l.n)
				continue
			}
			rates = append(rates, campaign.ShippingRate{Zone: strings.ToUpper(strings.TrimSpace(zone)), Price: price})
		}
		f.ShippingRates = &rates
	}
	return form, f, errs
}

func (k *Console) saveDetails(r *request) (view, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return view{}, err
	}
	form, f, errs := readDetails(r, d.Campaign, t)
	if len(errs) == 0 {
		if _, err = k.campaigns.EditTier(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID, f); err == nil {
			return view{redirect: tierHref(d.Campaign, t) + "?notice=details_saved#details"}, nil
		}
	}
	return k.problem(r, d.Campaign, t, &rewardsEdit{details: form, errs: errs}, err)
}

// dateTimeLocal is the format of an <input type="datetime-local">.
const dateTimeLocal = "2006-01-02T15:04"

func sessionFormOf(se campaign.Session) sessionForm {
	zone, err := time.LoadLocation(se.Timezone)
	if err != nil {
		zone = time.UTC
	}
	return sessionForm{Starts: se.StartsAt.In(zone).Format(dateTimeLocal), Ends: se.EndsAt.In(zone).Format(dateTimeLocal),
		Timezone: se.Timezone, Place: se.Place, Link: se.Link, Capacity: strconv.FormatInt(se.Capacity, 10), Online: se.Online}
}

// readSession parses a session form: its times are read in the time zone it names.
func readSession(r *request) (sessionForm, campaign.SessionFields, fieldErrors) {
	c := r.c
	form := sessionForm{Starts: strings.TrimSpace(c.FormValue("starts_at")), Ends: strings.TrimSpace(c.FormValue("ends_at")),
		Timezone: strings.TrimSpace(c.FormValue("timezone")), Place: strings.TrimSpace(c.FormValue("place")),
		Link: strings.TrimSpace(c.FormValue("link")), Capacity: strings.TrimSpace(c.FormValue("capacity")), Online: c.FormValue("online") != ""}
	errs := fieldErrors{}
	f := campaign.SessionFields{Timezone: &form.Timezone, Online: &form.Online}
	if form.Online {
		f.Link = &form.Link
	} else {
		f.Place = &form.Place
	}
	zone, err := time.LoadLocation(form.Timezone)
	if err != nil || form.Timezone == "" || form.Timezone == "Local" {
		errs["timezone"] = r.loc.T("console.sessions.err.timezone")
		zone = time.UTC
	}
	for _, in := range []struct {
		field, value string
		into         **time.Time
	}{{"starts_at", form.Starts, &f.StartsAt}, {"ends_at", form.Ends, &f.EndsAt}} {
		at, err := time.ParseInLocation(dateTimeLocal, in.value, zone)
		if err != nil {
			errs[in.field] = r.loc.T("console.sessions.err.time")
			continue
		}
		*in.into = &at
	}
	if n, err := strconv.ParseInt(form.Capacity, 10, 64); err != nil {
		errs["capacity"] = r.loc.T("console.sessions.err.capacity")
	} else {
		f.Capacity = &n
	}
	return form, f, errs
}

func (k *Console) addSession(r *request) (view, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return view{}, err
	}
	form, f, errs := readSession(r)
	if len(errs) == 0 {
		if _, _, err = k.campaigns.AddSession(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID, f); err == nil {
			return view{redirect: tierHref(d.Campaign, t) + "?notice=session_added#sessions"}, nil
		}
	}
	return k.problem(r, d.Campaign, t, &rewardsEdit{session: "new", form: form, errs: errs}, err)
}

// findSession is the session in the address, of the tier in the address.
func (k *Console) findSession(r *request) (campaign.Detail, campaign.Tier, campaign.Session, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return d, t, campaign.Session{}, err
	}
	se, ok := t.SessionByID(r.c.Params("session_id"))
	if !ok {
		return d, t, se, backstitch.Errorf(backstitch.CodeNotFound, "Session not found.")
	}
	return d, t, se, nil
}

func (k *Console) editSession(r *request) (view, error) {
	d, t, se, err := k.findSession(r)
	if err != nil {
		return view{}, err
	}
	form, f, errs := readSession(r)
	if len(errs) == 0 {
		if _, _, err = k.campaigns.EditSession(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID, se.ID, f); err == nil {
			return view{redirect: tierHref(d.Campaign, t) + "?notice=session_saved#sessions"}, nil
		}
	}
	return k.problem(r, d.Campaign, t, &rewardsEdit{session: se.ID, form: form, errs: errs}, err)
}

func (k *Console) cancelSession(r *request) (view, error) {
	d, t, se, err := k.findSession(r)
	if err != nil {
		return view{}, err
	}
	if _, err := k.campaigns.CancelSession(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID, se.ID); err != nil {
		return k.problem(r, d.Campaign, t, &rewardsEdit{session: se.ID, form: sessionFormOf(se), errs: fieldErrors{}}, err)
	}
	return view{redirect: tierHref(d.Campaign, t) + "?notice=session_cancelled#sessions"}, nil
}
