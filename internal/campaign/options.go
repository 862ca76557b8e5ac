package campaign

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Option is a choice a backer makes for a reward, such as a size or a colour.
type Option struct {
	Name   string   `bson:"name" json:"name"`
	Values []string `bson:"values" json:"values"`
}

// Stock is a limited number of one combination of a tier's options (size M: 10). A combination
// without a Stock entry is limited only by the tier's own limit.
type Stock struct {
	ID      string            `bson:"id" json:"id"`
	Options map[string]string `bson:"options" json:"options"`
	Limit   int64             `bson:"limit" json:"limit"`
}

// StockFields is a stocked combination as a designer sends it.
type StockFields struct {
	Options map[string]string `json:"options"`
	Limit   int64             `json:"limit"`
}

// Limits on options.
const (
	MaxOptions      = 3
	MaxOptionValues = 30
	MaxOptionText   = 40
	MaxStockEntries = 200
)

// setOptions validates and sets a tier's options and stock. Stock counters (left, claimed) are
// kept per stock id on the tier document, so a unit of a stocked combination is claimed together
// with the tier's in one conditional update and never oversold.
func (t *Tier) setOptions(errs *backstitch.FieldErrors, opts *[]Option, stock *[]StockFields) {
	if opts != nil {
		t.Options = nil
		seen := map[string]bool{}
		if len(*opts) > MaxOptions {
			errs.Add("options", "too_many", fmt.Sprintf("a tier has at most %d options", MaxOptions))
			return
		}
		for i, o := range *opts {
			field := fmt.Sprintf("options[%d]", i)
			name := backstitch.CheckLine(errs, field+".name", o.Name, 1, MaxOptionText)
			if seen[strings.ToLower(name)] {
				errs.Add(field+".name", "duplicate", "option names must be unique")
			}
			seen[strings.ToLower(name)] = true
			if len(o.Values) == 0 || len(o.Values) > MaxOptionValues {
				errs.Add(field+".values", "invalid", fmt.Sprintf("an option has 1 to %d values", MaxOptionValues))
				continue
			}
			values := make([]string, 0, len(o.Values))
			for j, v := range o.Values {
				v = backstitch.CheckLine(errs, fmt.Sprintf("%s.values[%d]", field, j), v, 1, MaxOptionText)
				if slices.Contains(values, v) {
					errs.Add(fmt.Sprintf("%s.values[%d]", field, j), "duplicate", "option values must be unique")
				}
				values = append(values, v)
			}
			t.Options = append(t.Options, Option{Name: name, Values: values})
		}
		if stock == nil && len(t.Stock) > 0 {
			empty := []StockFields{}
			stock = &empty // options changed: stock of the old combinations goes
		}
	}
	if stock == nil {
		return
	}
	if len(*stock) > MaxStockEntries {
		errs.Add("stock", "too_many", fmt.Sprintf("at most %d stocked combinations", MaxStockEntries))
		return
	}
	// Only the stocked combinations' counters go; sessions count in the same maps.
	t.StockLeft, t.StockClaimed = cloneCounts(t.StockLeft), cloneCounts(t.StockClaimed)
	for _, old := range t.Stock {
		delete(t.StockLeft, old.ID)
		delete(t.StockClaimed, old.ID)
	}
	t.Stock = nil
	seen := map[string]bool{}
	for i, s := range *stock {
		field := fmt.Sprintf("stock[%d]", i)
		if err := t.checkChoice(s.Options); err != "" {
			errs.Add(field+".options", "invalid", err)
			continue
		}
		key := choiceKey(s.Options)
		if seen[key] {
			errs.Add(field+".options", "duplicate", "each combination is stocked once")
			continue
		}
		seen[key] = true
		if s.Limit < 1 || s.Limit > MaxLimit {
			errs.Add(field+".limit", "out_of_range", fmt.Sprintf("limit must be between 1 and %d", MaxLimit))
			continue
		}
		id := backstitch.NewID("stk")
		t.Stock = append(t.Stock, Stock{ID: id, Options: maps.Clone(s.Options), Limit: s.Limit})
		t.StockLeft[id], t.StockClaimed[id] = s.Limit, 0
	}
}

// checkChoice says what is wrong with a choice of options for this tier ("" when it is one value
// of each option, and nothing else).
func (t Tier) checkChoice(choice map[string]string) string {
	if len(choice) != len(t.Options) {
		names := make([]string, 0, len(t.Options))
		for _, o := range t.Options {
			names = append(names, o.Name)
		}
		if len(names) == 0 {
			return "this reward has no options"
		}
		return "choose one value of each option: " + strings.Join(names, ", ")
	}
	for _, o := range t.Options {
		v, ok := choice[o.Name]
		if !ok {
			return "choose a " + o.Name
		}
		if !slices.Contains(o.Values, v) {
			return fmt.Sprintf("%s must be one of %s", o.Name, strings.Join(o.Values, ", "))
		}
	}
	return ""
}

// Choose checks a backer's choice of options and answers the stock it draws on ("" when the
// combination is not stocked on its own). A tier without options takes no choice.
func (t Tier) Choose(choice map[string]string) (stockID string, err error) {
	if len(t.Options) == 0 && len(choice) == 0 {
		return "", nil
	}
	if msg := t.checkChoice(choice); msg != "" {
		return "", &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "options", Code: "invalid", Message: msg}}}
	}
	key := choiceKey(choice)
	for _, s := range t.Stock {
		if choiceKey(s.Options) == key {
			return s.ID, nil
		}
	}
	return "", nil
}

// choiceKey is a choice of options in a canonical form, to compare choices.
func choiceKey(choice map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(choice)) {
		b.WriteString(k + "\x00" + choice[k] + "\x00")
	}
	return b.String()
}
