package pages

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
)

// The reward choice fields: a reward's options, its date, and where it ships. The pledge form,
// the change form and the survey ask them with one partial (templates/common/reward.html,
// "rewardChoices"), read them back with readChoice and put refusals beside them with
// placeFieldErrors, so each field is named, parsed and explained once.

// rewardChoice is what a backer picked for a reward, kept as typed.
type rewardChoice struct {
	// Options holds the value of each of the tier's options, in the tier's order.
	Options []string
	Session string
	Address pledge.Address
}

// optionField names the form field of a tier's i-th option. Option names are the designer's
// text, so fields are numbered instead (a tier has at most three options).
func optionField(i int) string { return "option_" + string(rune('a'+i)) }

// addressInputs are the address's text fields: form name, catalogue key, autocomplete token.
var addressInputs = [][3]string{
	{"address_name", "pledge.address_name", "name"}, {"address_line1", "pledge.address_line1", "address-line1"},
	{"address_line2", "pledge.address_line2", "address-line2"}, {"address_postal_code", "pledge.address_postal_code", "postal-code"},
	{"address_city", "pledge.address_city", "address-level2"}, {"address_region", "pledge.address_region", "address-level1"},
}

func addressValues(a *pledge.Address) []*string {
	return []*string{&a.Name, &a.Line1, &a.Line2, &a.PostalCode, &a.City, &a.Region}
}

// readChoice reads the reward choice fields a form posted for tier.
func readChoice(c *fiber.Ctx, tier campaign.Tier) rewardChoice {
	rc := rewardChoice{Session: c.FormValue("session")}
	for i := range tier.Options {
		rc.Options = append(rc.Options, c.FormValue(optionField(i)))
	}
	if tier.Ships {
		for i, v := range addressValues(&rc.Address) {
			*v = c.FormValue(addressInputs[i][0])
		}
		rc.Address.Country = strings.ToUpper(strings.TrimSpace(c.FormValue("country")))
	}
	return rc
}

// choiceOf is a pledge's choice as a form shows it for tier: its options and date when tier is
// its own, its address whichever the tier.
func choiceOf(pl pledge.Pledge, tier campaign.Tier) rewardChoice {
	var rc rewardChoice
	if pl.ShippingAddress != nil {
		rc.Address = *pl.ShippingAddress
	}
	for _, o := range tier.Options {
		v := ""
		if tier.ID == pl.TierID {
			v = pl.Options[o.Name]
		}
		rc.Options = append(rc.Options, v)
	}
	if tier.ID == pl.TierID {
		rc.Session = pl.SessionID
	}
	return rc
}

// options is the choice of options as the pledge service takes it; a blank one is left out, so
// the service names it missing.
func (rc rewardChoice) options(tier campaign.Tier) map[string]string {
	out := map[string]string{}
	for i, o := range tier.Options {
		if i < len(rc.Options) && rc.Options[i] != "" {
			out[o.Name] = rc.Options[i]
		}
	}
	return out
}

// address is the shipping address as the pledge service takes it.
func (rc rewardChoice) address() *pledge.Address {
	a := rc.Address
	return &a
}

// asks says which reward choice fields a form shows.
type asks struct{ Options, Session, Address bool }

// asksAll is every field the tier has: what the pledge and change forms ask.
func asksAll(t campaign.Tier) asks { return asks{len(t.Options) > 0, len(t.Sessions) > 0, t.Ships} }

// inputField is one text input of the address; its error is looked up as the page renders.
type inputField struct{ Name, Label, Value, Autocomplete string }

// selectField is a select of the form, such as one of the tier's options.
type selectField struct {
	Name, Label string
	Choices     []choice
}

// rewardFields is what the rewardChoices partial shows.
type rewardFields struct {
	Options    []selectField
	AskSession bool
	Sessions   []choice
	Ships      bool
	Countries  []choice
	Rates      []rate
	Address    []inputField
	Errors     map[string]string
}

// rewardFields prepares the partial for tier with rc filled in. held is the session the pledge
// already books: it stays listed and selectable even when full or past its cut-off, so the form
// can be sent unchanged.
func (p *Pages) rewardFields(loc locale.Locale, tier campaign.Tier, ask asks, rc rewardChoice, held string, errs map[string]string) rewardFields {
	f := rewardFields{Errors: errs, AskSession: ask.Session, Ships: ask.Address}
	if ask.Options {
		for i, o := range tier.Options {
			sf := selectField{Name: optionField(i), Label: o.Name}
			for _, val := range o.Values {
				sf.Choices = append(sf.Choices, choice{Value: val, Label: val, Selected: i < len(rc.Options) && rc.Options[i] == val})
			}
			f.Options = append(f.Options, sf)
		}
	}
	if ask.Session {
		now := p.now()
		for _, se := range tier.Sessions {
			mine := se.ID == held && held != ""
			if !mine && (se.Cancelled || tier.Closed(se, now)) {
				continue
			}
			left := tier.StockLeft[se.ID] // what the claims left, not the capacity
			label := p.sessionLabel(loc, se)
			if !se.Cancelled {
				label += " · " + loc.Plural("tier.left", max(left, 0))
			}
			f.Sessions = append(f.Sessions, choice{Value: se.ID, Label: label, Selected: se.ID == rc.Session, Disable: left <= 0 && !mine})
		}
	}
	if ask.Address {
		for _, r := range tier.ShippingRates {
			f.Rates = append(f.Rates, rate{Zone: loc.Zone(r.Zone), Price: loc.Money(r.Price)})
		}
		codes := shipCountries
		if c := rc.Address.Country; c != "" && !slices.Contains(codes, c) {
			codes = append(slices.Clip(codes), c) // an address given through the API, say
		}
		for _, code := range codes {
			if _, ok := tier.ShippingTo(code); ok {
				f.Countries = append(f.Countries, choice{Value: code, Label: loc.Zone(code), Selected: code == rc.Address.Country})
			}
		}
		sort.Slice(f.Countries, func(i, j int) bool { return f.Countries[i].Label < f.Countries[j].Label })
		a := rc.Address
		for i, v := range addressValues(&a) {
			in := addressInputs[i]
			f.Address = append(f.Address, inputField{Name: in[0], Label: loc.T(in[1]), Value: *v, Autocomplete: in[2]})
		}
	}
	return f
}

// formProblems are a form's refusals: each beside its field (by the field's id) and in a summary
// that links to it, and a problem that belongs to no field.
type formProblems struct {
	Errors  map[string]string
	Summary []fieldError
	Problem string
}

func newFormProblems() formProblems { return formProblems{Errors: map[string]string{}} }

// add puts msg beside field, keeping the first reason a field was given.
func (f *formProblems) add(field, msg string) {
	if field == "" || f.Errors[field] != "" {
		return
	}
	f.Errors[field] = msg
	f.Summary = append(f.Summary, fieldError{Field: field, Message: msg})
}

// placeFieldErrors puts the domain's field errors of err beside the form's fields, in the
// visitor's language. It answers the error as a *backstitch.Error (nil for an error that is not
// the backer's to fix) and whether any field took one.
func (f *formProblems) placeFieldErrors(loc locale.Locale, err error, tier campaign.Tier) (*backstitch.Error, bool) {
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok {
		return nil, false
	}
	placed := false
	for _, fe := range e.Fields {
		if field := pledgeFormField(fe.Field, len(tier.Options)); field != "" {
			f.add(field, fieldMessage(loc, field, fe.Code, tier))
			placed = true
		}
	}
	return e, placed
}
