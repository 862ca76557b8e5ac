package reconcile

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

// CSVHeader names the columns of a run's CSV: one row per pledge or Stripe object, amounts both
// in minor units (for sums) and formatted in the currency's major unit (for people). A pledge's
// row itemises the shipping its amount includes (the last columns, so earlier ones keep their
// places); Stripe's rows leave them empty, as Stripe knows only the total.
var CSVHeader = []string{"key", "campaign_id", "object", "id", "status", "currency",
	"amount_minor", "amount", "refunded_minor", "refunded", "fee_minor", "fee", "findings", "shipping_minor", "shipping"}

// WriteRows writes a match's rows: the pledge, each charge with its refunds and dispute, and
// each transfer, every row carrying the kinds found under the key.
func WriteRows(w *csv.Writer, m Match) error {
	var kinds []string
	for _, f := range m.Findings {
		if !slices.Contains(kinds, string(f.Kind)) {
			kinds = append(kinds, string(f.Kind))
		}
	}
	found := strings.Join(kinds, ";")
	shipping := []string{"", ""}
	row := func(campaign, object, id, status string, amount money.Money, refunded, fee int64) error {
		return w.Write([]string{m.Key, campaign, object, id, status, amount.Currency,
			strconv.FormatInt(amount.Amount, 10), amount.Decimal(),
			strconv.FormatInt(refunded, 10), money.Money{Amount: refunded, Currency: amount.Currency}.Decimal(),
			strconv.FormatInt(fee, 10), money.Money{Amount: fee, Currency: amount.Currency}.Decimal(), found, shipping[0], shipping[1]})
	}
	if p := m.Pledge; p != nil {
		shipping = []string{strconv.FormatInt(p.Shipping, 10), money.Money{Amount: p.Shipping, Currency: p.Amount.Currency}.Decimal()}
		err := row(p.CampaignID, "pledge", p.PledgeID, string(p.Status), p.Amount, p.Refunded, p.StripeFee)
		shipping = []string{"", ""}
		if err != nil {
			return err
		}
	}
	if s := m.Stripe; s != nil {
		for _, ch := range s.Charges {
			if err := row(ch.CampaignID, "charge", ch.ID, ch.Status, ch.Amount, ch.Refunded, ch.Fee); err != nil {
				return err
			}
			for _, rf := range ch.Refunds {
				if err := row(ch.CampaignID, "refund", rf.ID, "", money.Money{Amount: rf.Amount, Currency: ch.Amount.Currency}, 0, 0); err != nil {
					return err
				}
			}
			if d := ch.Dispute; d != nil {
				if err := row(ch.CampaignID, "dispute", d.ID, d.Status, money.Money{Amount: d.Amount, Currency: ch.Amount.Currency}, 0, ch.DisputeFee); err != nil {
					return err
				}
			}
		}
		for _, tr := range s.Transfers {
			if err := row(tr.CampaignID, "transfer", tr.ID, "", tr.Amount, tr.Reversed, 0); err != nil {
				return err
			}
		}
	}
	if m.Pledge == nil && m.Stripe == nil {
		for _, f := range m.Findings {
			for _, o := range f.Objects {
				if err := row(f.CampaignID, o.Type, o.ID, o.Status, o.Amount, 0, 0); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ReportStore holds runs' reports as gzipped chunks, streamed in order.
type ReportStore interface {
	StreamReport(ctx context.Context, runID string, attempt int, fn func([]byte) error) error
}

// OpenReport reads a completed run's CSV report (its last attempt's); a run that has not
// completed has none yet (invalid_state).
func OpenReport(ctx context.Context, store ReportStore, run Run) (io.Reader, error) {
	if run.Status != RunCompleted {
		return nil, backstitch.Errorf(backstitch.CodeInvalidState, "The run is %s; its report exists once it has completed.", run.Status)
	}
	var gz bytes.Buffer
	if err := store.StreamReport(ctx, run.ID, run.Attempt, func(b []byte) error {
		_, err := gz.Write(b)
		return err
	}); err != nil {
		return nil, err
	}
	return gzip.NewReader(&gz)
}
