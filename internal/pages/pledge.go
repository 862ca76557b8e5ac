package pages

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// pledgeForm is what the backer typed, kept whole through errors and a cancelled Checkout.
type pledgeForm struct {
	Amount, Name, Email, Note string
	Choice                    rewardChoice
}

type pledgeFormView struct {
	base
	Action, CampaignTitle, CampaignHref, TierID, TierTitle, Price, Delivery string
	CSRF                                                                    string
	Ships                                                                   bool
	Currency, MinAmount                                                     string
	Reward                                                                  rewardFields
	Charge                                                                  string
	Held                                                                    string
	Form                                                                    pledgeForm
	formProblems
}

// fieldError links the error summary to its field.
type fieldError struct{ Field, Message string }

// shipCountries are the countries the form offers to ship to when a tier's rates name zones (the
// EU, the rest of the world): Switzerland, its neighbours and the EU, and the countries backers
// of Swiss and European designers most often write from.
var shipCountries = []string{"CH", "LI", "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
	"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "NO", "IS", "GB", "US", "CA", "AU", "NZ", "JP"}

// pendingCookie lets a backer who comes back from Checkout without paying, and submits the form
// again, go on with the pledge that holds their reward instead of taking a second unit. Its path
// is the campaign's pledge form only; it carries the pledge's manage token, like the manage
// cookie, and lives no longer than the hold.
const pendingCookie = "pending_pledge"

func pledgeFormPath(slug string) string { return campaignHref(slug) + "/pledge" }

func (p *Pages) holdPending(c *fiber.Ctx, slug, id, token string, until time.Time) {
	c.Cookie(&fiber.Cookie{Name: pendingCookie, Value: id + "." + token, Path: pledgeFormPath(slug),
		MaxAge: max(1, int(until.Sub(p.now()).Seconds())), HTTPOnly: true, Secure: p.secureCookies,
		SameSite: fiber.CookieSameSiteLaxMode})
}

// pendingPledge is the pledge this browser started on this campaign's form and has not paid, if
// its hold still runs.
func (p *Pages) pendingPledge(r *request, camp campaign.Campaign) (pledge.Pledge, string, bool) {
	id, token, ok := strings.Cut(r.c.Cookies(pendingCookie), ".")
	if !ok {
		return pledge.Pledge{}, "", false
	}
	pl, err := p.pledges.Manage(r.c.UserContext(), id, token)
	if err != nil || pl.Status != pledge.StatusPending || pl.CampaignID != camp.ID || !p.now().Before(pl.HoldExpiresAt) {
		return pledge.Pledge{}, "", false
	}
	return pl, token, true
}

// pledgeTier finds the campaign and the reward the form is for; a reward that is not the
// campaign's is a 404.
func (p *Pages) pledgeTier(r *request, tierID string) (campaign.Campaign, campaign.Tier, error) {
	d, err := p.campaigns.Show(r.c.UserContext(), campaign.Actor{}, r.c.Params("slug"))
	if err != nil {
		return campaign.Campaign{}, campaign.Tier{}, err
	}
	if i := slices.IndexFunc(d.Tiers, func(t campaign.Tier) bool { return t.ID == tierID }); i >= 0 {
		return d.Campaign, d.Tiers[i], nil
	}
	return campaign.Campaign{}, campaign.Tier{}, backstitch.Errorf(backstitch.CodeNotFound, "No such reward.")
}

// pledge is the pledge form for one reward, filled in again from the pledge that still holds it
// when the backer comes back from Checkout.
func (p *Pages) pledge(r *request) (view, error) {
	camp, tier, err := p.pledgeTier(r, r.c.Query("tier"))
	if err != nil {
		return view{}, err
	}
	if camp.Slug != r.c.Params("slug") {
		return view{redirect: pledgeFormPath(camp.Slug) + "?" + url.Values{"tier": {tier.ID}}.Encode()}, nil
	}
	form := pledgeForm{Amount: tier.Price.Decimal()}
	var held *pledge.Pledge
	if pl, _, ok := p.pendingPledge(r, camp); ok && pl.TierID == tier.ID {
		form, held = formOf(pl, tier), &pl
	}
	v, err := p.formView(r, camp, tier, form)
	if err != nil {
		return view{}, err
	}
	if held != nil {
		v.Held = r.loc.T("pledge.held", r.loc.DateTime(held.HoldExpiresAt, p.zone(camp.Timezone)))
	}
	return view{name: "pledge", data: v, private: held != nil}, nil
}

// formOf fills the form in from a pledge.
func formOf(pl pledge.Pledge, tier campaign.Tier) pledgeForm {
	return pledgeForm{Amount: money.Money{Amount: pl.Amount.Amount - pl.Shipping, Currency: pl.Amount.Currency}.Decimal(),
		Name: pl.Backer.Name, Email: pl.Backer.Email, Note: pl.Note, Choice: choiceOf(pl, tier)}
}

func (p *Pages) formView(r *request, camp campaign.Campaign, tier campaign.Tier, form pledgeForm) (pledgeFormView, error) {
	token, err := p.csrf.Token(r.c)
	if err != nil {
		return pledgeFormView{}, err
	}
	loc, zone := r.loc, p.zone(camp.Timezone)
	tv := p.tier(loc, camp, tier)
	v := pledgeFormView{base: r.base, Action: pledgeFormPath(camp.Slug), CampaignTitle: camp.Title, CampaignHref: campaignHref(camp.Slug),
		TierID: tier.ID, TierTitle: tier.Title, Price: tv.Price, Delivery: tv.Delivery, CSRF: token, Ships: tier.Ships,
		Currency: camp.Goal.Currency, MinAmount: loc.T("pledge.min", loc.Money(tier.Price)), Form: form,
		formProblems: newFormProblems()}
	v.Reward = p.rewardFields(loc, tier, asksAll(tier), form.Choice, "", v.Errors)
	v.Title = loc.T("pledge.title", tier.Title)
	if camp.FundingModel == campaign.AllOrNothing {
		v.Charge = loc.T("pledge.charge.all_or_nothing", loc.Date(camp.Deadline, zone))
	} else {
		v.Charge = loc.T("pledge.charge.flexible")
	}
	return v, nil
}

// readForm reads the posted form; every value is kept as typed for showing it again.
func readForm(c *fiber.Ctx, tier campaign.Tier) pledgeForm {
	return pledgeForm{Amount: c.FormValue("amount"), Name: c.FormValue("name"), Email: c.FormValue("email"),
		Note: c.FormValue("note"), Choice: readChoice(c, tier)}
}

// request turns the form into the domain's pledge request: the amount typed is the pledge for
// the reward, and shipping to the chosen country is added to it.
func (f pledgeForm) request(tier campaign.Tier, currency string) (pledge.Request, *backstitch.Error) {
	// People type amounts as they write them: "CHF 1'200", "90,50".
	typed := amountNoise.Replace(strings.TrimPrefix(strings.TrimSpace(f.Amount), currency))
	amount, err := money.Parse(strings.ReplaceAll(typed, ",", "."), currency)
	if err != nil {
		return pledge.Request{}, &backstitch.Error{Code: backstitch.CodeValidation,
			Fields: []backstitch.FieldError{{Field: "amount.amount", Code: "invalid"}}}
	}
	req := pledge.Request{TierID: tier.ID, SessionID: f.Choice.Session, Amount: &amount, Note: f.Note,
		Backer: &pledge.Backer{Name: f.Name, Email: f.Email}}
	if len(tier.Options) > 0 {
		req.Options = f.Choice.options(tier)
	}
	if tier.Ships {
		req.ShippingAddress = f.Choice.address()
		if shipping, ok := tier.ShippingTo(req.ShippingAddress.Country); ok {
			amount.Amount += shipping
			req.Amount = &amount
		}
	}
	return req, nil
}

var amountNoise = strings.NewReplacer("'", "", "’", "", " ", "", "\u00a0", "", "\u202f", "")

// hash identifies what the form asked for, so the same form sent again is recognised.
func (f pledgeForm) hash(tierID string) string {
	h := sha256.New()
	c, a := f.Choice, f.Choice.Address
	for _, s := range append([]string{tierID, f.Amount, f.Name, f.Email, f.Note, c.Session, a.Name, a.Line1,
		a.Line2, a.PostalCode, a.City, a.Region, a.Country}, c.Options...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// submitPledge creates the pledge through the pledge service (the API's rules) and sends the
// backer to Stripe Checkout. Errors come back beside their fields with everything typed kept.
func (p *Pages) submitPledge(r *request) (view, error) {
	if err := p.csrf.Check(r.c); err != nil {
		return p.forged(r, err)
	}
	camp, tier, err := p.pledgeTier(r, r.c.FormValue("tier"))
	if err != nil {
		return view{}, err
	}
	ctx := r.c.UserContext()
	form := readForm(r.c, tier)
	req, ferr := form.request(tier, camp.Goal.Currency)
	req.Source = p.attribution(r.c) // where the backer came from, if a share link brought her
	if ferr != nil {
		return p.formErrors(r, camp, tier, form, ferr)
	}
	req.Locale = r.Lang // her messages come in the language she pledged in
	hash := form.hash(tier.ID)
	id, token := "", ""
	if pl, tok, ok := p.pendingPledge(r, camp); ok {
		if pl.RequestHash == hash {
			id, token = pl.ID, tok // the same pledge again, back from Checkout: it holds the unit
		} else if _, err := p.pledges.Cancel(ctx, pl.ID, tok); err != nil {
			return view{}, err
		}
	}
	if id == "" {
		// A new pledge holds a unit for half an hour: the same brake on scripts as the API's,
		// which would otherwise claim a limited tier's units through this form.
		if err := p.pledgeLimit.Hit(ctx, r.c.IP()); err != nil {
			return p.formErrors(r, camp, tier, form, err)
		}
		created, err := p.pledges.Create(ctx, pledge.Origin{Scope: "pages:" + camp.ID + ":" + backstitch.NewID("form"), RequestHash: hash, Checkout: true}, camp.ID, req)
		if err != nil {
			return p.formErrors(r, camp, tier, form, err)
		}
		id, token = created.Pledge.ID, created.ManageToken
		p.grantManage(r.c, id, token)
		p.holdPending(r.c, camp.Slug, id, token, created.Pledge.HoldExpiresAt)
	}
	base := r.c.BaseURL()
	checkout, err := p.pledges.StartCheckout(ctx, id, token, pledge.CheckoutStart{
		SuccessURL: base + pledgePath(id) + "/thanks?session_id={CHECKOUT_SESSION_ID}",
		CancelURL:  base + pledgeFormPath(camp.Slug) + "?" + url.Values{"tier": {tier.ID}}.Encode(),
		Locale:     r.Lang, Item: camp.Title + " — " + tier.Title})
	if err != nil {
		return p.formErrors(r, camp, tier, form, err)
	}
	return view{redirect: checkout, status: http.StatusSeeOther, private: true}, nil
}

// formErrors shows the form again, answering 422 (429 past the pledge limit, with Retry-After),
// with each domain error beside its field; errors that belong to no field (sold out, the
// campaign closed, Stripe away, too many pledges) on top. Anything else is the error page.
func (p *Pages) formErrors(r *request, camp campaign.Campaign, tier campaign.Tier, form pledgeForm, err error) (view, error) {
	v, verr := p.formView(r, camp, tier, form)
	if verr != nil {
		return view{}, verr
	}
	loc := r.loc
	status := http.StatusUnprocessableEntity
	e, placed := v.placeFieldErrors(loc, err, tier)
	switch {
	case e == nil:
		return view{}, err
	case placed:
	case e.Code == backstitch.CodeRateLimited:
		v.Problem = loc.T("pledge.err.rate_limited")
		status = http.StatusTooManyRequests
		r.c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(e.RetryAfter.Round(time.Second).Seconds())))
	case e.Code == backstitch.CodeSoldOut:
		v.Problem = loc.T("pledge.err.sold_out")
	case e.Code == backstitch.CodeCampaignNotLive:
		v.Problem = loc.T("pledge.err.closed")
	case e.Code == backstitch.CodeAmountBelowTierPrice:
		v.add("amount", fieldMessage(loc, "amount", "below_tier_price", tier))
	case e.Code == backstitch.CodePaymentProvider || e.Code == backstitch.CodeProviderRejected ||
		e.Code == backstitch.CodeProviderObjectMissing || e.Code == backstitch.CodeInvalidState || e.Code == backstitch.CodeConflict:
		v.Problem = loc.T("pledge.err.provider")
	case e.Code == backstitch.CodeValidation || e.Code == backstitch.CodeCurrencyMismatch || e.Code == backstitch.CodeShippingAddressRequired:
		v.Problem = loc.T("pledge.err.invalid")
	default:
		return view{}, err
	}
	return view{status: status, name: "pledge", data: v, private: true}, nil
}

// pledgeFormField maps a field of the domain's error to the pledge form's field.
func pledgeFormField(field string, options int) string {
	switch {
	case strings.HasPrefix(field, "amount"):
		return "amount"
	case field == "backer.email":
		return "email"
	case field == "backer.name", field == "backer":
		return "name"
	case field == "shipping_address.country", field == "shipping_address":
		return "country"
	case strings.HasPrefix(field, "shipping_address."):
		return "address_" + strings.TrimPrefix(field, "shipping_address.")
	case strings.HasPrefix(field, "options") && options > 0:
		return "option_a"
	case field == "session_id":
		return "session"
	case field == "note":
		return "note"
	}
	return ""
}

// fieldMessage says what is wrong with a field in the visitor's language.
func fieldMessage(loc locale.Locale, field, code string, tier campaign.Tier) string {
	switch {
	case field == "amount" && code == "below_tier_price":
		return loc.T("pledge.err.amount_min", loc.Money(tier.Price))
	case field == "amount":
		return loc.T("pledge.err.amount")
	case field == "email":
		return loc.T("pledge.err.email")
	case field == "country" && code == "not_shipped_there":
		return loc.T("pledge.err.not_shipped")
	case field == "country" && code == "shipping_rate_differs":
		return loc.T("survey.err.rate_differs")
	case code == "sold_out":
		return loc.T("form.error.sold_out")
	case field == "option_a":
		return loc.T("pledge.err.option")
	case field == "session":
		return loc.T("pledge.err.session")
	case code == "required":
		return loc.T("pledge.err.required")
	case code == "too_long":
		return loc.T("pledge.err.too_long")
	}
	return loc.T("pledge.err.text")
}

type thanksView struct {
	base
	Status, Heading, Body, Reward, Amount, CampaignTitle, CampaignHref, ManageHref string
	Confirming                                                                     bool
}

// thanksRefresh is how often the thanks page looks again while the pledge is being confirmed.
const thanksRefresh = 3

// thanks is where Checkout sends the backer back: the pledge as it is now, brought up to date
// from the Checkout Session first; while it is still being confirmed the page says so and
// refreshes itself.
func (p *Pages) thanks(r *request) (view, error) {
	ctx := r.c.UserContext()
	pl, err := p.pledges.CheckoutReturned(ctx, r.c.Params("id"), manageToken(r.c), r.c.Query("session_id"))
	if err != nil {
		return view{}, err
	}
	d, err := p.campaigns.Show(ctx, campaign.Actor{}, pl.CampaignID)
	if err != nil {
		return view{}, err
	}
	camp, loc := d.Campaign, r.loc
	v := thanksView{base: r.base, Status: string(pl.Status), Amount: loc.Money(pl.Amount), CampaignTitle: camp.Title,
		CampaignHref: campaignHref(camp.Slug), ManageHref: pledgePath(pl.ID)}
	for _, t := range d.Tiers {
		if t.ID == pl.TierID {
			v.Reward = t.Title
		}
	}
	switch pl.Status {
	case pledge.StatusPending:
		v.Heading, v.Body, v.Confirming, v.Refresh = loc.T("thanks.confirming.title"), loc.T("thanks.confirming.body"), true, thanksRefresh
	case pledge.StatusActive:
		v.Heading, v.Body = loc.T("thanks.title"), loc.T("thanks.active", loc.Date(camp.Deadline, p.zone(camp.Timezone)))
	case pledge.StatusCollected:
		v.Heading, v.Body = loc.T("thanks.title"), loc.T("thanks.collected", v.Amount)
	default:
		v.Heading, v.Body = loc.T("thanks.other.title"), loc.T("thanks.other.body")
	}
	v.Title = v.Heading
	return view{name: "thanks", data: v, private: true}, nil
}
