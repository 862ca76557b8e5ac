// Package reconcile proves the pledges Backstitch keeps against what Stripe holds, to the minor
// unit: every pledge against its charges, refunds, disputes, Stripe fees and transfers. The heart
// is Compare, a pure function of two sequences sorted by pledge id that streams one Match per
// key; Run (run.go) gathers both sides, feeds Compare and stores what it found.
package reconcile

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"

	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Kind is what a finding says is wrong. Clients switch on it, so kinds are never renamed.
type Kind string

const (
	// MissingInStripe: the database says money was taken; Stripe has no succeeded charge.
	MissingInStripe Kind = "missing_in_stripe"
	// MissingInDB: Stripe took money that no pledge records (unknown pledge, or one not charged,
	// e.g. after a lost webhook).
	MissingInDB Kind = "missing_in_db"
	// AmountMismatch and CurrencyMismatch: the charge differs from the pledge.
	AmountMismatch   Kind = "amount_mismatch"
	CurrencyMismatch Kind = "currency_mismatch"
	// RefundMismatch: Stripe and the database disagree on what was refunded.
	RefundMismatch Kind = "refund_mismatch"
	// DisputeUnrecorded: a dispute (or its outcome) at Stripe that the pledge does not show.
	DisputeUnrecorded Kind = "dispute_unrecorded"
	// DuplicateCharge: more than one succeeded, unrefunded charge for one pledge.
	DuplicateCharge Kind = "duplicate_charge"
	// StuckPledge: a pledge in "charging" for longer than Options.StuckAfter.
	StuckPledge Kind = "stuck_pledge"
	// TransferMismatch: what was transferred to the designer differs from what was owed.
	TransferMismatch Kind = "transfer_mismatch"
)

// Kinds lists every kind, in the order reports show them.
var Kinds = []Kind{MissingInStripe, MissingInDB, AmountMismatch, CurrencyMismatch, RefundMismatch,
	DisputeUnrecorded, DuplicateCharge, StuckPledge, TransferMismatch}

// Ledger is one pledge as the database records it: the part reconciliation compares.
type Ledger struct {
	PledgeID   string
	CampaignID string
	Status     pledge.Status
	Amount     money.Money
	// Shipping is the part of Amount that pays for shipping (itemised in the report).
	Shipping        int64
	PaymentIntentID string
	ChargeID        string
	Refunded        int64
	Dispute         *Dispute
	// TransferID is the designer's transfer for this pledge ("none" when nothing was owed).
	TransferID     string
	TransferAmount int64
	StripeFee      int64
	UpdatedAt      time.Time
}

// Dispute is a chargeback as either side records it.
type Dispute struct {
	ID     string `json:"id" bson:"id"`
	Status string `json:"status" bson:"status"`
	Amount int64  `json:"amount" bson:"amount"`
}

// open reports whether the dispute has not been won or lost yet.
func (d *Dispute) open() bool { return d != nil && d.Status != "won" && d.Status != "lost" }

// Charge is a Stripe charge with what hangs off it: its refunds, its dispute and Stripe's fee.
type Charge struct {
	ID              string
	PaymentIntentID string
	// PledgeID comes from the charge's metadata; empty for a charge Backstitch did not make.
	PledgeID   string
	CampaignID string // the transfer group
	Amount     money.Money
	// Status is Stripe's: succeeded, pending or failed.
	Status   string
	Refunded int64
	Refunds  []Refund
	Dispute  *Dispute
	// Fee is Stripe's processing fee (the charge's balance transaction); DisputeFee what its
	// dispute's balance transactions withdrew as fees.
	Fee        int64
	DisputeFee int64
	Created    time.Time
}

// Refund is one refund of a charge.
type Refund struct {
	ID     string
	Amount int64
}

func (c Charge) succeeded() bool { return c.Status == "succeeded" }

// kept is what a succeeded charge still holds: neither refunded nor taken by a dispute not won.
func (c Charge) kept() int64 {
	k := c.Amount.Amount - c.Refunded
	if c.Dispute != nil && c.Dispute.Status != "won" {
		k -= min(c.Dispute.Amount, k)
	}
	return k
}

// Transfer is money sent to a designer's connected account for one pledge.
type Transfer struct {
	ID         string
	PledgeID   string
	CampaignID string
	Amount     money.Money
	Reversed   int64
}

func (t Transfer) net() int64 { return t.Amount.Amount - t.Reversed }

// Stripe is everything Stripe holds under one key: a pledge id, or, for objects that name no
// pledge Backstitch knows, a key of their own (UnknownKey).
type Stripe struct {
	Key       string
	Charges   []Charge
	Transfers []Transfer
}

// UnknownKey keys a Stripe object that belongs to no known pledge. It cannot collide with a
// pledge id, which never starts with "?".
func UnknownKey(objectID string) string { return "?" + objectID }

// Object is one record a finding points at.
type Object struct {
	Type   string      `json:"type" bson:"type"` // pledge, charge, refund, dispute, transfer, campaign
	ID     string      `json:"id" bson:"id"`
	Status string      `json:"status,omitempty" bson:"status,omitempty"`
	Amount money.Money `json:"amount" bson:"amount"`
}

// Finding is one discrepancy, with the objects involved and the amounts each side holds.
type Finding struct {
	Kind       Kind     `json:"kind" bson:"kind"`
	PledgeID   string   `json:"pledge_id,omitempty" bson:"pledge_id,omitempty"`
	CampaignID string   `json:"campaign_id,omitempty" bson:"campaign_id,omitempty"`
	Objects    []Object `json:"objects" bson:"objects"`
	// Database and Stripe are the amounts that disagree (what each side says), in the
	// currency each side uses.
	Database money.Money `json:"database" bson:"database"`
	Stripe   money.Money `json:"stripe" bson:"stripe"`
	Message  string      `json:"message" bson:"message"`
	// MessageCode and MessageArgs are Message's code and values (messages.go), for pages
	// that write it in another language; findings stored before they existed have neither.
	MessageCode string `json:"-" bson:"message_code,omitempty"`
	MessageArgs []Arg  `json:"-" bson:"message_args,omitempty"`
}

// Fingerprint identifies the discrepancy itself, the same in every run that finds it again:
// an explanation given once is carried to later runs by it.
func (f Finding) Fingerprint() string {
	s := fmt.Sprintf("%s|%s|%s|%d %s|%d %s", f.Kind, f.PledgeID, f.CampaignID, f.Database.Amount, f.Database.Currency, f.Stripe.Amount, f.Stripe.Currency)
	for _, o := range f.Objects {
		s += fmt.Sprintf("|%s:%s:%s:%d", o.Type, o.ID, o.Status, o.Amount.Amount)
	}
	return s
}

// Match is one key of the comparison: the pledge (nil when the database has none), what Stripe
// holds for it (nil when nothing) and what is wrong.
type Match struct {
	Key      string
	Pledge   *Ledger
	Stripe   *Stripe
	Findings []Finding
}

// Options tune a comparison.
type Options struct {
	// Now and StuckAfter decide when a pledge in "charging" is stuck rather than in flight.
	Now        time.Time
	StuckAfter time.Duration
	// PlatformFeeBPS is the platform's fee, as settlement computes it, for what designers are owed.
	PlatformFeeBPS int64
	// PaidOut names campaigns whose designer has been paid: their transfers must add up to what
	// their charges kept minus the platform fee. Only a run over whole campaigns sets it.
	PaidOut map[string]bool
}

// Count is a number of records and what they amount to.
type Count struct {
	Count  int64 `json:"count" bson:"count"`
	Amount int64 `json:"amount" bson:"amount"`
}

func (c *Count) add(amount int64) { c.Count++; c.Amount += amount }

// Totals are one currency's figures. Stripe's side: Gross (succeeded charges), Refunds, Disputes
// (withdrawn by disputes not won), StripeFees (from balance transactions, dispute fees included),
// Net (gross − refunds − disputes − Stripe fees), PlatformFee (on what the pledges' charges kept)
// and Transferred (to designers, net of reversals). The database's side: Collected, Refunded and
// RecordedTransfers of charged pledges. Each side's records split into matched and unmatched (and,
// for pledges, uncharged: no money on either side), which add up to the side's total.
type Totals struct {
	Currency          string `json:"currency" bson:"currency"`
	Gross             int64  `json:"gross" bson:"gross"`
	Refunds           int64  `json:"refunds" bson:"refunds"`
	Disputes          int64  `json:"disputes" bson:"disputes"`
	StripeFees        int64  `json:"stripe_fees" bson:"stripe_fees"`
	Net               int64  `json:"net" bson:"net"`
	PlatformFee       int64  `json:"platform_fee" bson:"platform_fee"`
	Transferred       int64  `json:"transferred" bson:"transferred"`
	Collected         int64  `json:"collected" bson:"collected"`
	Refunded          int64  `json:"refunded" bson:"refunded"`
	RecordedTransfers int64  `json:"recorded_transfers" bson:"recorded_transfers"`

	Pledges   PledgeCounts `json:"pledges" bson:"pledges"`
	Charges   SideCounts   `json:"charges" bson:"charges"`
	Transfers SideCounts   `json:"transfers" bson:"transfers"`
}

// SideCounts split one side's records: Total = Matched + Unmatched.
type SideCounts struct {
	Total     Count `json:"total" bson:"total"`
	Matched   Count `json:"matched" bson:"matched"`
	Unmatched Count `json:"unmatched" bson:"unmatched"`
}

// PledgeCounts split the pledges: Total = Matched + Unmatched + Uncharged.
type PledgeCounts struct {
	SideCounts `bson:",inline"`
	Uncharged  Count `json:"uncharged" bson:"uncharged"`
}

// Summary is what a whole comparison adds up to.
type Summary struct {
	Totals   []Totals     `json:"totals" bson:"totals"`
	Findings map[Kind]int `json:"findings" bson:"findings"`
}

// comparer carries the running totals of one Compare.
type comparer struct {
	o        Options
	totals   map[string]*Totals
	owed     map[string]int64 // campaign → what its designer is owed, from Stripe's figures
	sent     map[string]int64 // campaign → transferred, net of reversals
	currency map[string]string
}

func (c *comparer) in(currency string) *Totals {
	t := c.totals[currency]
	if t == nil {
		t = &Totals{Currency: currency}
		c.totals[currency] = t
	}
	return t
}

// Compare merges the database's pledges and Stripe's objects, both sorted by key (strictly
// increasing, by Go string order), and hands emit one Match per key, in order, holding nothing
// but the current key: it runs in constant memory however long the sequences are. Inputs out of
// order are an error, never a silent mismatch.
func Compare(db iter.Seq[Ledger], stripe iter.Seq[Stripe], o Options, emit func(Match) error) (Summary, error) {
	c := &comparer{o: o, totals: map[string]*Totals{}, owed: map[string]int64{}, sent: map[string]int64{}, currency: map[string]string{}}
	sum := Summary{Findings: map[Kind]int{}}
	nextL, stopL := iter.Pull(db)
	defer stopL()
	nextS, stopS := iter.Pull(stripe)
	defer stopS()
	l, lok := nextL()
	s, sok := nextS()
	var lastL, lastS string
	for lok || sok {
		var m Match
		// Copies, so a Match emit keeps goes on holding its own records once l and s move on.
		pl, ps := l, s
		switch {
		case lok && (!sok || l.PledgeID < s.Key):
			m = Match{Key: l.PledgeID, Pledge: &pl}
		case sok && (!lok || s.Key < l.PledgeID):
			m = Match{Key: s.Key, Stripe: &ps}
		default:
			m = Match{Key: l.PledgeID, Pledge: &pl, Stripe: &ps}
		}
		if m.Pledge != nil {
			if m.Key <= lastL && lastL != "" {
				return sum, fmt.Errorf("reconcile: pledges out of order: %q after %q", m.Key, lastL)
			}
			lastL = m.Key
		}
		if m.Stripe != nil {
			if m.Key <= lastS && lastS != "" {
				return sum, fmt.Errorf("reconcile: Stripe objects out of order: %q after %q", m.Key, lastS)
			}
			lastS = m.Key
		}
		m.Findings = c.check(m.Pledge, m.Stripe)
		for _, f := range m.Findings {
			sum.Findings[f.Kind]++
		}
		if err := emit(m); err != nil {
			return sum, err
		}
		if m.Pledge != nil {
			l, lok = nextL()
		}
		if m.Stripe != nil {
			s, sok = nextS()
		}
	}
	for _, camp := range slices.Sorted(func(yield func(string) bool) {
		for id := range o.PaidOut {
			if !yield(id) {
				return
			}
		}
	}) {
		if !o.PaidOut[camp] || c.owed[camp] == c.sent[camp] {
			continue
		}
		cur := c.currency[camp]
		f := Finding{Kind: TransferMismatch, CampaignID: camp,
			Objects:  []Object{{Type: "campaign", ID: camp, Amount: money.Money{Amount: c.owed[camp], Currency: cur}}},
			Database: money.Money{Amount: c.owed[camp], Currency: cur}, Stripe: money.Money{Amount: c.sent[camp], Currency: cur}}
		say("transfer_owed", amount(f.Database), amount(f.Stripe)).set(&f)
		sum.Findings[TransferMismatch]++
		if err := emit(Match{Key: "campaign:" + camp, Findings: []Finding{f}}); err != nil {
			return sum, err
		}
	}
	for _, cur := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.totals {
			if !yield(k) {
				return
			}
		}
	}) {
		t := c.totals[cur]
		t.Net = t.Gross - t.Refunds - t.Disputes - t.StripeFees
		sum.Totals = append(sum.Totals, *t)
	}
	return sum, nil
}

// Primary picks the charge that stands for a pledge's payment among its succeeded charges: the
// one the pledge records, else the one of its PaymentIntent, else the oldest. Every other
// succeeded charge is an extra one.
func Primary(p *Ledger, succeeded []Charge) (Charge, bool) {
	if len(succeeded) == 0 {
		return Charge{}, false
	}
	if p != nil {
		for _, pick := range []func(Charge) bool{
			func(ch Charge) bool { return p.ChargeID != "" && ch.ID == p.ChargeID },
			func(ch Charge) bool { return p.PaymentIntentID != "" && ch.PaymentIntentID == p.PaymentIntentID },
		} {
			if i := slices.IndexFunc(succeeded, pick); i >= 0 {
				return succeeded[i], true
			}
		}
	}
	return slices.MinFunc(succeeded, func(a, b Charge) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	}), true
}

// check finds what is wrong under one key and adds the key's records to the totals.
func (c *comparer) check(p *Ledger, s *Stripe) []Finding {
	var charges []Charge
	var transfers []Transfer
	if s != nil {
		charges, transfers = s.Charges, s.Transfers
	}
	var succeeded []Charge
	for _, ch := range charges {
		if ch.succeeded() {
			succeeded = append(succeeded, ch)
		}
	}
	primary, hasPrimary := Primary(p, succeeded)
	charged := p != nil && p.Status.Charged()
	c.count(p, succeeded, primary, hasPrimary, charged, transfers)

	var out []Finding
	if p == nil {
		for _, ch := range succeeded {
			f := Finding{Kind: MissingInDB, CampaignID: ch.CampaignID, Objects: []Object{chargeObject(ch)}, Stripe: ch.Amount}
			say("charge_unknown", text(ch.ID), amount(ch.Amount)).set(&f)
			out = append(out, f)
		}
		for _, tr := range transfers {
			f := Finding{Kind: TransferMismatch, CampaignID: tr.CampaignID, Objects: []Object{transferObject(tr)},
				Stripe: money.Money{Amount: tr.net(), Currency: tr.Amount.Currency}}
			say("transfer_unknown", text(tr.ID), amount(tr.Amount)).set(&f)
			out = append(out, f)
		}
		return out
	}
	pledgeObj := Object{Type: "pledge", ID: p.PledgeID, Status: string(p.Status), Amount: p.Amount}
	finding := func(k Kind, db, st money.Money, msg said, objs ...Object) {
		f := Finding{Kind: k, PledgeID: p.PledgeID, CampaignID: p.CampaignID, Objects: append([]Object{pledgeObj}, objs...),
			Database: db, Stripe: st}
		msg.set(&f)
		out = append(out, f)
	}
	zero := money.Money{Currency: p.Amount.Currency}
	stuck := p.Status == pledge.StatusCharging && c.o.Now.Sub(p.UpdatedAt) > c.o.StuckAfter
	switch {
	case stuck:
		var objs []Object
		for _, ch := range succeeded {
			objs = append(objs, chargeObject(ch))
		}
		st := zero
		if hasPrimary {
			st = primary.Amount
		}
		finding(StuckPledge, p.Amount, st, say("stuck", instant(p.UpdatedAt)), objs...)
	case charged && !hasPrimary:
		finding(MissingInStripe, p.Amount, zero, say("no_charge", pledgeStatus(string(p.Status))))
	case !charged && hasPrimary && p.Status != pledge.StatusCharging:
		finding(MissingInDB, zero, primary.Amount, say("charge_not_recorded", text(primary.ID), amount(primary.Amount), pledgeStatus(string(p.Status))), chargeObject(primary))
	}
	if charged && hasPrimary {
		chObj := chargeObject(primary)
		switch {
		case primary.Amount.Currency != p.Amount.Currency:
			finding(CurrencyMismatch, p.Amount, primary.Amount, say("currency", text(p.Amount.Currency), text(primary.ID), text(primary.Amount.Currency)), chObj)
		case primary.Amount.Amount != p.Amount.Amount:
			finding(AmountMismatch, p.Amount, primary.Amount, say("amount", amount(p.Amount), text(primary.ID), amount(primary.Amount)), chObj)
		}
		if primary.Refunded != p.Refunded {
			objs := []Object{chObj}
			for _, rf := range primary.Refunds {
				objs = append(objs, Object{Type: "refund", ID: rf.ID, Amount: money.Money{Amount: rf.Amount, Currency: primary.Amount.Currency}})
			}
			db := money.Money{Amount: p.Refunded, Currency: p.Amount.Currency}
			st := money.Money{Amount: primary.Refunded, Currency: primary.Amount.Currency}
			finding(RefundMismatch, db, st, say("refund", amount(db), amount(st)), objs...)
		}
		if msg, differ := disputeDiff(p.Dispute, primary.Dispute); differ {
			objs := []Object{chObj}
			st := zero
			if d := primary.Dispute; d != nil {
				st = money.Money{Amount: d.Amount, Currency: primary.Amount.Currency}
				objs = append(objs, Object{Type: "dispute", ID: d.ID, Status: d.Status, Amount: st})
			}
			db := zero
			if p.Dispute != nil {
				db.Amount = p.Dispute.Amount
			}
			finding(DisputeUnrecorded, db, st, msg, objs...)
		}
	}
	if hasPrimary {
		var extra []Object
		var extraAmount int64
		for _, ch := range succeeded {
			if ch.ID != primary.ID && ch.Refunded < ch.Amount.Amount {
				extra = append(extra, chargeObject(ch))
				extraAmount += ch.Amount.Amount - ch.Refunded
			}
		}
		if len(extra) > 0 {
			finding(DuplicateCharge, primary.Amount, money.Money{Amount: primary.Amount.Amount + extraAmount, Currency: primary.Amount.Currency},
				say("duplicate", text(strconv.Itoa(len(extra)+1)), text(p.PledgeID), amount(money.Money{Amount: extraAmount, Currency: primary.Amount.Currency})),
				append([]Object{chargeObject(primary)}, extra...)...)
		}
	}
	recorded := int64(0)
	if p.TransferID != "" && p.TransferID != "none" {
		recorded = p.TransferAmount
	}
	var sent int64
	var trObjs []Object
	known := p.TransferID == "" || p.TransferID == "none"
	for _, tr := range transfers {
		sent += tr.net()
		trObjs = append(trObjs, transferObject(tr))
		known = known || tr.ID == p.TransferID
	}
	if sent != recorded || !known {
		db := money.Money{Amount: recorded, Currency: p.Amount.Currency}
		st := money.Money{Amount: sent, Currency: p.Amount.Currency}
		finding(TransferMismatch, db, st, say("transfer", amount(db), amount(st)), trObjs...)
	}
	return out
}

// disputeDiff says how the database's record of a dispute differs from Stripe's, if it does.
// Open disputes compare as open whatever stage they are at: only their outcome matters here.
func disputeDiff(db, st *Dispute) (said, bool) {
	switch {
	case st == nil && db == nil:
		return said{}, false
	case st == nil:
		return say("dispute_not_at_stripe", text(db.ID)), true
	case db == nil || db.ID != st.ID:
		return say("dispute_not_recorded", text(st.ID), text(st.Status)), true
	case db.open() != st.open() || (!st.open() && db.Status != st.Status):
		return say("dispute_status", text(st.ID), text(st.Status), text(db.Status)), true
	}
	return said{}, false
}

// count adds one key's records to the totals and to the matched and unmatched counts.
func (c *comparer) count(p *Ledger, succeeded []Charge, primary Charge, hasPrimary, charged bool, transfers []Transfer) {
	if p != nil {
		t := c.in(p.Amount.Currency)
		t.Pledges.Total.add(p.Amount.Amount)
		switch {
		case charged && hasPrimary:
			t.Pledges.Matched.add(p.Amount.Amount)
		case charged || hasPrimary:
			t.Pledges.Unmatched.add(p.Amount.Amount)
		default:
			t.Pledges.Uncharged.add(p.Amount.Amount)
		}
		if charged {
			t.Collected += p.Amount.Amount
			t.Refunded += p.Refunded
			if p.TransferID != "none" {
				t.RecordedTransfers += p.TransferAmount
			}
		}
		if _, ok := c.currency[p.CampaignID]; !ok {
			c.currency[p.CampaignID] = p.Amount.Currency
		}
	}
	for _, ch := range succeeded {
		t := c.in(ch.Amount.Currency)
		t.Gross += ch.Amount.Amount
		t.Refunds += ch.Refunded
		t.StripeFees += ch.Fee + ch.DisputeFee
		if ch.Dispute != nil && ch.Dispute.Status != "won" {
			t.Disputes += ch.Dispute.Amount
		}
		t.Charges.Total.add(ch.Amount.Amount)
		if charged && hasPrimary && ch.ID == primary.ID {
			t.Charges.Matched.add(ch.Amount.Amount)
		} else {
			t.Charges.Unmatched.add(ch.Amount.Amount)
		}
	}
	if p != nil && hasPrimary {
		kept := primary.kept()
		fee := money.PlatformFee(kept, c.o.PlatformFeeBPS)
		c.in(primary.Amount.Currency).PlatformFee += fee
		// Settlement pays designers for pledges still collected (or partly refunded) at payout.
		if charged && (primary.Dispute == nil || primary.Dispute.Status == "won") {
			c.owed[p.CampaignID] += kept - fee
		}
	}
	for _, tr := range transfers {
		t := c.in(tr.Amount.Currency)
		t.Transferred += tr.net()
		t.Transfers.Total.add(tr.net())
		if p != nil && tr.ID == p.TransferID {
			t.Transfers.Matched.add(tr.net())
		} else {
			t.Transfers.Unmatched.add(tr.net())
		}
		c.sent[tr.CampaignID] += tr.net()
	}
}

func chargeObject(ch Charge) Object {
	return Object{Type: "charge", ID: ch.ID, Status: ch.Status, Amount: ch.Amount}
}

func transferObject(tr Transfer) Object {
	return Object{Type: "transfer", ID: tr.ID, Amount: money.Money{Amount: tr.net(), Currency: tr.Amount.Currency}}
}
