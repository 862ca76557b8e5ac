// Package campaign holds the rules of campaigns and their reward tiers: what a valid campaign is,
// which state changes are allowed and by whom, and which fields lock once a campaign is live.
// Persistence and HTTP live elsewhere; they ask this package what is allowed.
package campaign

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

// Status is where a campaign is in its life.
type Status string

const (
	StatusDraft     Status = "draft"
	StatusInReview  Status = "in_review"
	StatusApproved  Status = "approved"
	StatusLive      Status = "live"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Public reports whether anyone may see a campaign in this status.
func (s Status) Public() bool {
	return s == StatusLive || s == StatusSucceeded || s == StatusFailed
}

// Public reports whether anyone may see this campaign: one in a public status, or one cancelled
// after it launched (its backers must be able to read what happened to their pledges).
func (c Campaign) Public() bool {
	return c.Status.Public() || (c.Status == StatusCancelled && c.LaunchedAt != nil)
}

// FundingModel decides when backers are charged.
type FundingModel string

const (
	// AllOrNothing saves cards at pledge time and charges only if the goal is met at the deadline.
	AllOrNothing FundingModel = "all_or_nothing"
	// Flexible charges at pledge time; the designer keeps what is raised.
	Flexible FundingModel = "flexible"
)

// Text limits, in characters.
const (
	MaxTitle       = 120
	MaxBlurb       = 300
	MaxStory       = 50_000
	MaxReason      = 1_000
	MaxDescription = 2_000
	MaxTiers       = 50
)

// Campaign is a designer's fundraiser.
type Campaign struct {
	ID              string       `bson:"_id"`
	Slug            string       `bson:"slug"`
	DesignerID      string       `bson:"designer_id"`
	Title           string       `bson:"title"`
	Blurb           string       `bson:"blurb"`
	Story           string       `bson:"story"`
	Goal            money.Money  `bson:"goal"`
	FundingModel    FundingModel `bson:"funding_model"`
	Deadline        time.Time    `bson:"deadline"`
	Timezone        string       `bson:"timezone"`
	Status          Status       `bson:"status"`
	RejectionReason string       `bson:"rejection_reason,omitempty"`
	LaunchedAt      *time.Time   `bson:"launched_at,omitempty"`
	CreatedAt       time.Time    `bson:"created_at"`
	UpdatedAt       time.Time    `bson:"updated_at"`
	Pledged         int64        `bson:"pledged"`
	BackersCount    int64        `bson:"backers_count"`
	// CounterRev grows with every change of Pledged and BackersCount, so a recount can write its
	// result only if no pledge moved them meanwhile.
	CounterRev int64          `bson:"counter_rev"`
	Version    int64          `bson:"version"`
	History    []HistoryEntry `bson:"history"`
	Settlement *Settlement    `bson:"settlement,omitempty"`
	// Reviewed is what the last approval or rejection judged (see ReviewSnapshot).
	Reviewed *ReviewSnapshot `bson:"reviewed,omitempty"`
	// Cancellation records a cancellation after launch, and the winding down of its pledges.
	Cancellation *Cancellation `bson:"cancellation,omitempty"`
	// Cover is the campaign's picture; only SetCampaignCover writes it (see images.go).
	Cover *Image `bson:"cover,omitempty"`
	// SurveyDays is how long backers have to answer the survey after success (0: the default).
	SurveyDays int `bson:"survey_days,omitempty"`
	// Owed are the messages its steps owe the designer and the outbox does not hold yet,
	// recorded by the step's own write since OwedSince (see Service.deliverOwed).
	Owed      []backstitch.Notice `bson:"owed,omitempty"`
	OwedSince *time.Time          `bson:"owed_since,omitempty"`
	// TierWrites are the writes of its tiers under way, by id, each with the time after which
	// it can no longer land (its writer died). Tiers are other documents than the campaign, so
	// a review decision, one write of the campaign, waits until none is under way: see
	// Service.beginTierWrite. Only BeginTierWrite and EndTierWrite of the store write it.
	TierWrites map[string]time.Time `bson:"tier_writes,omitempty"`
}

// TiersChanging reports whether a write of c's tiers may still land after now.
func (c Campaign) TiersChanging(now time.Time) bool {
	for _, until := range c.TierWrites {
		if until.After(now) {
			return true
		}
	}
	return false
}

// DefaultSurveyDays is how long backers have to answer the survey unless the designer says.
const DefaultSurveyDays = 14

// MaxSurveyDays bounds the survey: rewards are not held for months.
const MaxSurveyDays = 90

// SurveyDeadline is when the survey of a succeeded campaign closes (ok false before success).
func (c Campaign) SurveyDeadline() (time.Time, bool) {
	if c.Status != StatusSucceeded || c.Settlement == nil {
		return time.Time{}, false
	}
	days := c.SurveyDays
	if days == 0 {
		days = DefaultSurveyDays
	}
	return c.Settlement.DecidedAt.Add(time.Duration(days) * 24 * time.Hour), true
}

// Cancellation is what cancelling a live campaign set in motion: every saved card released and
// every charge refunded in full, by the settler, pledge by pledge (resumable).
type Cancellation struct {
	At     time.Time `bson:"at"`
	By     string    `bson:"by"`
	Reason string    `bson:"reason"`
	// WindingDown stays true until every pledge is void or refunded.
	WindingDown bool       `bson:"winding_down"`
	DoneAt      *time.Time `bson:"done_at,omitempty"`
	// Refunded is what went back to backers; StripeFeesOwed is Stripe's fees on those charges
	// when the designer bears them (BACKSTITCH_CANCEL_FEES_BORNE_BY=designer), else 0.
	Refunded       int64 `bson:"refunded"`
	StripeFeesOwed int64 `bson:"stripe_fees_owed"`
}

// Settlement records what happened at the deadline.
type Settlement struct {
	DecidedAt time.Time `bson:"decided_at"`
	// PledgedAtDeadline and BackersAtDeadline keep the figures the decision was made on; the live
	// totals change afterwards as pledges are voided or dropped.
	PledgedAtDeadline int64 `bson:"pledged_at_deadline"`
	BackersAtDeadline int64 `bson:"backers_at_deadline"`
	// ChargedAt is set once every deadline charge has an outcome (collected or payment_failed).
	ChargedAt *time.Time `bson:"charged_at,omitempty"`
	// SweptAt is set once a failed campaign has no active or pending pledge left, or a succeeded
	// flexible one no pending pledge: until then the settler lists it again (FindCampaignsToSettle),
	// so a settler that died between the decision and the end of that sweep is resumed.
	SweptAt *time.Time `bson:"swept_at,omitempty"`
	// PaidOutAt is set once the designer has received every transfer owed.
	PaidOutAt *time.Time `bson:"paid_out_at,omitempty"`
}

// Owe records news on c, a step from prev about to be written, after what prev still owes; the
// step's own write stores them (see Notices).
func (c *Campaign) Owe(prev Campaign, news []backstitch.Notice, now time.Time) {
	c.Owed, c.OwedSince = prev.Owed, prev.OwedSince
	if len(news) == 0 {
		return
	}
	c.Owed = append(slices.Clone(prev.Owed), news...)
	if c.OwedSince == nil {
		c.OwedSince = &now
	}
}

// Decide closes a live campaign whose deadline has passed. An all-or-nothing campaign succeeds
// only if what is pledged reaches the goal; a flexible one keeps what it raised and succeeds.
func (c Campaign) Decide(pledged, backers int64, now time.Time) (Campaign, error) {
	if c.Status != StatusLive {
		return c, backstitch.Errorf(backstitch.CodeInvalidState, "Only a live campaign can be settled; this one is %s.", c.Status)
	}
	if now.Before(c.Deadline) {
		return c, backstitch.Errorf(backstitch.CodeInvalidState, "The deadline has not passed yet.")
	}
	to, reason := StatusSucceeded, fmt.Sprintf("deadline passed: %s pledged of %s", money.Money{Amount: pledged, Currency: c.Goal.Currency}, c.Goal)
	if c.FundingModel == AllOrNothing && pledged < c.Goal.Amount {
		to = StatusFailed
	}
	next := c.moveTo(to, "system:settler", reason, now)
	next.Settlement = &Settlement{DecidedAt: now, PledgedAtDeadline: pledged, BackersAtDeadline: backers}
	return next, nil
}

// HistoryEntry records one state change of a campaign.
type HistoryEntry = backstitch.HistoryEntry[Status]

// Rules are the configurable limits campaigns are checked against.
type Rules struct {
	MinDuration time.Duration
	MaxDuration time.Duration
}

// Fields is what a designer sends to create or change a campaign. Nil means "not given".
// Status, totals, owner and slug are deliberately absent: clients can never set them.
type Fields struct {
	Title        *string       `json:"title"`
	Blurb        *string       `json:"blurb"`
	Story        *string       `json:"story"`
	Goal         *money.Money  `json:"goal"`
	FundingModel *FundingModel `json:"funding_model"`
	Deadline     *string       `json:"deadline"`
	Timezone     *string       `json:"timezone"`
	// SurveyDays is how many days backers have to answer the survey after success.
	SurveyDays *int `json:"survey_days"`
}

// New validates f as a new draft campaign owned by designerID.
func New(f Fields, designerID string, now time.Time, rules Rules) (Campaign, error) {
	var errs backstitch.FieldErrors
	for _, req := range []struct {
		name  string
		given bool
	}{{"title", f.Title != nil}, {"goal", f.Goal != nil}, {"deadline", f.Deadline != nil}, {"timezone", f.Timezone != nil}} {
		if !req.given {
			errs.Add(req.name, "required", req.name+" is required")
		}
	}
	if err := errs.Err(); err != nil {
		return Campaign{}, err
	}
	c := Campaign{
		ID:           backstitch.NewID("cam"),
		DesignerID:   designerID,
		FundingModel: AllOrNothing,
		Status:       StatusDraft,
		CreatedAt:    now,
		UpdatedAt:    now,
		History:      []HistoryEntry{},
	}
	if err := c.apply(f, now, rules); err != nil {
		return Campaign{}, err
	}
	c.Slug = Slugify(c.Title)
	return c, nil
}

// Edit applies a designer's change. Before launch everything may change; a campaign in review or
// approved goes back to draft, because an admin approved what it said then, not what it says now.
// Once live, only title, blurb and story may change: backers pledged against the rest.
func (c Campaign) Edit(f Fields, actor string, now time.Time, rules Rules) (Campaign, error) {
	switch c.Status {
	case StatusDraft, StatusInReview, StatusApproved:
	case StatusLive:
		var errs backstitch.FieldErrors
		if f.Goal != nil {
			errs.Add("goal", "locked", "goal cannot change after launch")
		}
		if f.FundingModel != nil {
			errs.Add("funding_model", "locked", "funding_model cannot change after launch")
		}
		if f.Deadline != nil {
			errs.Add("deadline", "locked", "deadline cannot change after launch")
		}
		if f.Timezone != nil {
			errs.Add("timezone", "locked", "timezone cannot change after launch")
		}
		if len(errs) > 0 {
			return c, &backstitch.Error{Code: backstitch.CodeCampaignLocked, Message: "The campaign is live: goal, currency, funding model and deadline are locked.", Fields: errs}
		}
	default:
		return c, backstitch.Errorf(backstitch.CodeInvalidState, "A %s campaign can no longer be edited.", c.Status)
	}
	next := c
	if err := next.apply(f, now, rules); err != nil {
		return c, err
	}
	next.UpdatedAt = now
	if c.Status == StatusInReview || c.Status == StatusApproved {
		next = next.moveTo(StatusDraft, actor, "edited after submission; needs review again", now)
	}
	return next, nil
}

// apply validates and sets the given fields, reporting every bad one.
func (c *Campaign) apply(f Fields, now time.Time, rules Rules) error {
	var errs backstitch.FieldErrors
	if f.Title != nil {
		c.Title = backstitch.CheckLine(&errs, "title", *f.Title, 1, MaxTitle)
	}
	if f.Blurb != nil {
		c.Blurb = backstitch.CheckLine(&errs, "blurb", *f.Blurb, 0, MaxBlurb)
	}
	if f.Story != nil {
		c.Story = backstitch.CheckBlock(&errs, "story", *f.Story, 0, MaxStory)
	}
	if f.Goal != nil {
		c.Goal = *f.Goal
		if code, msg := c.Goal.Problem(); code != "" {
			field := "goal.amount"
			if code == "unsupported_currency" {
				field = "goal.currency"
			}
			errs.Add(field, code, msg)
		}
	}
	if f.FundingModel != nil {
		c.FundingModel = *f.FundingModel
		if c.FundingModel != AllOrNothing && c.FundingModel != Flexible {
			errs.Add("funding_model", "invalid", `funding_model must be "all_or_nothing" or "flexible"`)
		}
	}
	if f.Timezone != nil {
		c.Timezone = *f.Timezone
	}
	if f.SurveyDays != nil {
		if *f.SurveyDays < 1 || *f.SurveyDays > MaxSurveyDays {
			errs.Add("survey_days", "out_of_range", fmt.Sprintf("survey_days must be between 1 and %d", MaxSurveyDays))
		} else {
			c.SurveyDays = *f.SurveyDays
		}
	}
	loc, tzErr := loadZone(c.Timezone)
	if f.Timezone != nil && tzErr != nil {
		errs.Add("timezone", "invalid", tzErr.Error())
	}
	if f.Deadline != nil && tzErr == nil {
		d, err := ParseDeadline(*f.Deadline, loc)
		if err != nil {
			errs.Add("deadline", "invalid", err.Error())
		} else if d.Nanosecond() != 0 {
			// Deadlines are shown, compared and stored (BSON keeps milliseconds) to the second; a
			// fraction would make the deadline the designer sees differ from the one that applies.
			errs.Add("deadline", "fractional_seconds", "deadline must be a whole second, such as 2026-12-01T18:00:00+01:00")
		} else {
			c.Deadline = d
		}
	}
	if (f.Deadline != nil || f.Timezone != nil) && len(errs) == 0 {
		// A deadline that could not be valid even if launched right now is reported at once.
		if code, msg := checkDuration(c.Deadline, now, rules); code != "" {
			errs.Add("deadline", code, msg)
		}
	}
	return errs.Err()
}

// geographicAreas are the tz database's continents and oceans: every zone that names a place is
// Area/Location (or Area/Region/Location) under one of them.
var geographicAreas = []string{"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}

// loadZone accepts a canonical IANA time zone name, which here means a geographic name of the tz
// database (Europe/Zurich, America/Argentina/Buenos_Aires), or UTC. Refused, though
// time.LoadLocation reads them from a system's zoneinfo folder: files that are no zone
// (posixrules), the placeholder Factory, the leap-second and POSIX copies (right/UTC,
// posix/Europe/Zurich), POSIX-style legacy zones (EST5EDT, CET), fixed offsets with inverted
// signs (Etc/GMT+5) and the country aliases (US/Eastern). Old geographic spellings that tzdata keeps
// as links (Asia/Calcutta, Europe/Kiev) are accepted: they name a place, load the same rules, and
// browsers still report them. Zones load from Go's embedded tzdata when the machine has none.
func loadZone(name string) (*time.Location, error) {
	invalid := fmt.Errorf("timezone %q is not a canonical IANA time zone; use a name such as Europe/Zurich, America/New_York or UTC", name)
	if name != "UTC" {
		area, rest, ok := strings.Cut(name, "/")
		if !ok || len(name) > 64 || !slices.Contains(geographicAreas, area) || !zoneLocation.MatchString(rest) {
			return nil, invalid
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid
	}
	return loc, nil
}

// zoneLocation is the rest of a tz database name: one or two parts of letters, digits, '_', '-'
// or '+', each starting with a letter (no "..", no empty parts).
var zoneLocation = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z][A-Za-z0-9_+-]*)?$`)

// ParseDeadline reads an RFC 3339 instant, or a date YYYY-MM-DD meaning the last second of that day
// (23:59:59) in loc, so a campaign that "runs until 7 November" ends at midnight in its own zone,
// whatever the UTC offset is that day.
func ParseDeadline(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("deadline must be an RFC 3339 instant or a date YYYY-MM-DD")
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, loc).UTC(), nil
}

func checkDuration(deadline, from time.Time, rules Rules) (code, message string) {
	d := deadline.Sub(from)
	if d < rules.MinDuration {
		return "too_soon", fmt.Sprintf("deadline must be at least %s after launch", rules.MinDuration)
	}
	if d > rules.MaxDuration {
		return "too_late", fmt.Sprintf("deadline must be at most %s after launch", rules.MaxDuration)
	}
	return "", ""
}

// maxSlugRunes keeps slugs short enough to read in a link, and in a URL once percent-encoded.
const maxSlugRunes = 60

// latinLetters transliterates the Latin letters that Unicode does not decompose into a base
// letter and accents.
var latinLetters = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t",
}

// Slugify makes a readable URL slug from a title. Latin letters lose their accents
// ("Zürich Linen Coat" → "zurich-linen-coat"); letters of other scripts are kept as they are
// (lower-cased, with the marks that belong to them), so a Japanese or Greek title gives a slug
// its readers can read: "リネンのコート" → "リネンのコート", "Λινό παλτό" → "λινό-παλτό".
func Slugify(title string) string {
	var b strings.Builder
	n := 0
	dash, keptScript := false, false
	word := func(s string) {
		if dash && b.Len() > 0 {
			b.WriteByte('-')
			n++
		}
		dash = false
		b.WriteString(s)
		n += utf8.RuneCountInString(s)
	}
	for _, r := range norm.NFC.String(strings.ToLower(title)) {
		if n >= maxSlugRunes {
			break
		}
		if latin, ok := latinLetters[r]; ok {
			word(latin)
			keptScript = false
			continue
		}
		if ascii := asciiBase(r); ascii != "" {
			word(ascii)
			keptScript = false
			continue
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word(string(r))
			keptScript = true
		case unicode.In(r, unicode.Mn, unicode.Mc) && keptScript:
			// A vowel sign or accent of a kept script letter (Devanagari, Thai) is part of it.
			b.WriteRune(r)
		case unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me, unicode.Cf):
			// A stray mark or an invisible format character separates nothing.
		default:
			dash = true
		}
	}
	if b.Len() == 0 {
		return "campaign"
	}
	return b.String()
}

// asciiBase is the ASCII spelling of a Latin letter or digit with its accents removed
// ("é" → "e", "ﬁ" → "fi", "²" → "2"), or "" when r has none.
func asciiBase(r rune) string {
	var b strings.Builder
	for _, d := range norm.NFKD.String(string(r)) {
		switch {
		case unicode.Is(unicode.Mn, d):
		case d < unicode.MaxASCII && (unicode.IsLetter(d) || unicode.IsDigit(d)):
			b.WriteRune(d)
		default:
			return ""
		}
	}
	return b.String()
}

// Action is a state change a person can ask for.
type Action string

const (
	ActionSubmit  Action = "submit"
	ActionApprove Action = "approve"
	ActionReject  Action = "reject"
	ActionLaunch  Action = "launch"
	ActionCancel  Action = "cancel"
)

var transitions = map[Action]struct {
	from []Status
	to   Status
}{
	ActionSubmit:  {[]Status{StatusDraft}, StatusInReview},
	ActionApprove: {[]Status{StatusInReview}, StatusApproved},
	ActionReject:  {[]Status{StatusInReview}, StatusDraft},
	ActionLaunch:  {[]Status{StatusApproved}, StatusLive},
	ActionCancel:  {[]Status{StatusDraft, StatusInReview, StatusApproved, StatusLive}, StatusCancelled},
}

// Do applies a state change, checking that the campaign is in a state that allows it.
// Who may do it is the caller's concern (owner or admin); this checks what may happen.
func (c Campaign) Do(a Action, actor, reason string, now time.Time, rules Rules) (Campaign, error) {
	t, ok := transitions[a]
	if !ok {
		return c, backstitch.Errorf(backstitch.CodeInvalidState, "Unknown action %q.", a)
	}
	allowed := false
	for _, s := range t.from {
		allowed = allowed || s == c.Status
	}
	if !allowed {
		return c, backstitch.Errorf(backstitch.CodeInvalidState, "Cannot %s a campaign that is %s.", a, c.Status)
	}
	var errs backstitch.FieldErrors
	switch a {
	case ActionReject:
		reason = backstitch.CheckBlock(&errs, "reason", strings.TrimSpace(reason), 1, MaxReason)
	case ActionCancel:
		if c.Status == StatusLive && !now.Before(c.Deadline) {
			return c, backstitch.Errorf(backstitch.CodeInvalidState, "The deadline has passed and settlement has started: the campaign can no longer be cancelled. Refund pledges one by one instead.")
		}
		reason = backstitch.CheckBlock(&errs, "reason", strings.TrimSpace(reason), 0, MaxReason)
	case ActionSubmit, ActionLaunch:
		if code, msg := checkDuration(c.Deadline, now, rules); code != "" {
			errs.Add("deadline", code, msg+"; change the deadline first")
		}
	}
	if err := errs.Err(); err != nil {
		return c, err
	}
	next := c.moveTo(t.to, actor, reason, now)
	switch a {
	case ActionReject:
		next.RejectionReason = reason
	case ActionSubmit:
		next.RejectionReason = ""
	case ActionLaunch:
		launched := now
		next.LaunchedAt = &launched
	case ActionCancel:
		if c.Status == StatusLive {
			// Backers may hold saved cards or have paid: the settler winds the pledges down.
			next.Cancellation = &Cancellation{At: now, By: actor, Reason: reason, WindingDown: true}
		}
	}
	return next, nil
}

func (c Campaign) moveTo(to Status, actor, reason string, now time.Time) Campaign {
	c.History = append(append([]HistoryEntry(nil), c.History...), HistoryEntry{From: c.Status, To: to, Actor: actor, Reason: reason, At: now})
	c.Status = to
	c.UpdatedAt = now
	return c
}

// Changeable reports whether tiers may be added or changed in this status.
func (s Status) Changeable() bool {
	switch s {
	case StatusDraft, StatusInReview, StatusApproved, StatusLive:
		return true
	}
	return false
}

// ListFilter selects campaigns for a list.
type ListFilter struct {
	Statuses   []Status
	DesignerID string
	// After is the last campaign of the previous page (keyset pagination: stable under inserts).
	After *Campaign
	Limit int
}
