package campaign

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Session is one date of an experience reward (a workshop, a guided tour): when, where, and for
// how many. Its places are counted on the tier document like a stocked combination (StockLeft
// and StockClaimed by session id), so booking one is claimed with the tier's unit in one update.
type Session struct {
	ID       string    `bson:"id" json:"id"`
	StartsAt time.Time `bson:"starts_at" json:"starts_at"`
	EndsAt   time.Time `bson:"ends_at" json:"ends_at"`
	Timezone string    `bson:"timezone" json:"timezone"`
	// Place is an address; an online session has a Link instead, shown only to its backers.
	Place     string `bson:"place,omitempty" json:"place,omitempty"`
	Online    bool   `bson:"online" json:"online"`
	Link      string `bson:"link,omitempty" json:"-"`
	Capacity  int64  `bson:"capacity" json:"capacity"`
	Cancelled bool   `bson:"cancelled" json:"cancelled"`
	// ChangeCutoffHours, when set, replaces the tier's cut-off for this date (see CutoffFor).
	ChangeCutoffHours *int64 `bson:"change_cutoff_hours,omitempty" json:"change_cutoff_hours,omitempty"`
	// ChangedAt is when the designer last moved the date, the place or the link: its backers see
	// that it changed.
	ChangedAt *time.Time `bson:"changed_at,omitempty" json:"changed_at,omitempty"`
}

// SessionFields is a session as a designer sends it.
type SessionFields struct {
	StartsAt          *time.Time `json:"starts_at"`
	EndsAt            *time.Time `json:"ends_at"`
	Timezone          *string    `json:"timezone"`
	Place             *string    `json:"place"`
	Online            *bool      `json:"online"`
	Link              *string    `json:"link"`
	Capacity          *int64     `json:"capacity"`
	ChangeCutoffHours *int64     `json:"change_cutoff_hours"`
}

// Limits on sessions.
const (
	MaxSessions = 100
	MaxPlace    = 300
	// DefaultSessionChangeCutoff is how long before a session starts its backers can still book
	// it or move to another date, unless the designer sets another cut-off for the tier or date.
	DefaultSessionChangeCutoff = 48 * time.Hour
	// MaxCutoffHours bounds a cut-off: thirty days.
	MaxCutoffHours = 720
)

// CutoffFor is how long before a session starts its backers stop booking, leaving or moving to
// it: the date's own cut-off, else the tier's, else DefaultSessionChangeCutoff.
func (t Tier) CutoffFor(s Session) time.Duration {
	switch {
	case s.ChangeCutoffHours != nil:
		return time.Duration(*s.ChangeCutoffHours) * time.Hour
	case t.SessionChangeCutoffHours != nil:
		return time.Duration(*t.SessionChangeCutoffHours) * time.Hour
	}
	return DefaultSessionChangeCutoff
}

// Closed reports whether a session's cut-off has passed at now.
func (t Tier) Closed(s Session, now time.Time) bool { return s.StartsAt.Sub(now) < t.CutoffFor(s) }

func checkCutoff(errs *backstitch.FieldErrors, field string, h *int64) {
	if h != nil && (*h < 0 || *h > MaxCutoffHours) {
		errs.Add(field, "out_of_range", fmt.Sprintf("%s must be between 0 and %d hours", field, MaxCutoffHours))
	}
}

// AddSession adds a date to an experience tier. Sessions may be added while the tier has
// backers: a new date takes nothing from anyone.
func (t Tier) AddSession(c Campaign, f SessionFields, now time.Time) (Tier, Session, error) {
	if !c.Status.Changeable() {
		return t, Session{}, backstitch.Errorf(backstitch.CodeInvalidState, "Sessions of a %s campaign cannot change.", c.Status)
	}
	var errs backstitch.FieldErrors
	if t.Kind != KindExperience {
		errs.Add("tier", "not_an_experience", "only experience rewards (workshops, tours, coaching, meetings) have sessions")
	}
	if len(t.Sessions) >= MaxSessions {
		errs.Add("tier", "too_many_sessions", fmt.Sprintf("a tier has at most %d sessions", MaxSessions))
	}
	s := checkSession(&errs, Session{ID: backstitch.NewID("ses")}, f, true, now)
	if err := errs.Err(); err != nil {
		return t, Session{}, err
	}
	next := t
	next.Sessions = append(slices.Clone(t.Sessions), s)
	next.StockLeft, next.StockClaimed = cloneCounts(t.StockLeft), cloneCounts(t.StockClaimed)
	next.StockLeft[s.ID], next.StockClaimed[s.ID] = s.Capacity, 0
	next.UpdatedAt = t.touched(now)
	return next, s, nil
}

// EditSession changes a date: its time, place or link, capacity or cut-off. It may change after
// the deadline too (a workshop moves to a bigger room), never below the places booked; its
// backers see the change on their booking and calendar file.
func (t Tier) EditSession(c Campaign, id string, f SessionFields, now time.Time) (Tier, Session, error) {
	if !c.Status.Changeable() && c.Status != StatusSucceeded {
		return t, Session{}, backstitch.Errorf(backstitch.CodeInvalidState, "Sessions of a %s campaign cannot change.", c.Status)
	}
	i := slices.IndexFunc(t.Sessions, func(s Session) bool { return s.ID == id })
	if i < 0 {
		return t, Session{}, backstitch.Errorf(backstitch.CodeNotFound, "Session not found.")
	}
	old := t.Sessions[i]
	if old.Cancelled {
		return t, Session{}, backstitch.Errorf(backstitch.CodeInvalidState, "This session was cancelled; add a new date instead.")
	}
	// What is not sent stays as it is; switching to online drops the place, and back the link.
	m := SessionFields{StartsAt: &old.StartsAt, EndsAt: &old.EndsAt, Timezone: &old.Timezone, Online: &old.Online,
		Capacity: &old.Capacity, ChangeCutoffHours: old.ChangeCutoffHours}
	if old.Online {
		m.Link = &old.Link
	} else {
		m.Place = &old.Place
	}
	if f.Online != nil && *f.Online != old.Online {
		m.Online, m.Place, m.Link = f.Online, nil, nil
	}
	m.StartsAt = cmp.Or(f.StartsAt, m.StartsAt)
	m.EndsAt = cmp.Or(f.EndsAt, m.EndsAt)
	m.Timezone = cmp.Or(f.Timezone, m.Timezone)
	m.Place = cmp.Or(f.Place, m.Place)
	m.Link = cmp.Or(f.Link, m.Link)
	m.Capacity = cmp.Or(f.Capacity, m.Capacity)
	m.ChangeCutoffHours = cmp.Or(f.ChangeCutoffHours, m.ChangeCutoffHours)
	var errs backstitch.FieldErrors
	s := checkSession(&errs, Session{ID: old.ID, ChangedAt: old.ChangedAt}, m, f.StartsAt != nil, now)
	booked := t.StockClaimed[id]
	if s.Capacity > 0 && s.Capacity < booked {
		errs.Add("capacity", "below_booked", fmt.Sprintf("capacity cannot go below the %d places booked", booked))
	}
	if err := errs.Err(); err != nil {
		return t, Session{}, err
	}
	if !s.StartsAt.Equal(old.StartsAt) || !s.EndsAt.Equal(old.EndsAt) || s.Timezone != old.Timezone || s.Place != old.Place ||
		s.Online != old.Online || s.Link != old.Link {
		s.ChangedAt = &now
	}
	next := t
	next.Sessions = slices.Clone(t.Sessions)
	next.Sessions[i] = s
	next.StockLeft = cloneCounts(t.StockLeft)
	next.StockLeft[id] = s.Capacity - booked
	next.UpdatedAt = t.touched(now)
	return next, s, nil
}

// checkSession validates a session's fields onto s; startsAtGiven says whether starts_at is new
// (a date that has begun may still get a bigger room).
func checkSession(errs *backstitch.FieldErrors, s Session, f SessionFields, startsAtGiven bool, now time.Time) Session {
	switch {
	case f.StartsAt == nil:
		errs.Add("starts_at", "required", "starts_at is required (RFC 3339)")
	case startsAtGiven && !f.StartsAt.After(now):
		errs.Add("starts_at", "in_past", "starts_at must be in the future")
	default:
		s.StartsAt = f.StartsAt.UTC()
	}
	switch {
	case f.EndsAt == nil:
		errs.Add("ends_at", "required", "ends_at is required (RFC 3339)")
	case f.StartsAt != nil && !f.EndsAt.After(*f.StartsAt):
		errs.Add("ends_at", "before_start", "ends_at must be after starts_at")
	default:
		s.EndsAt = f.EndsAt.UTC()
	}
	if f.Timezone == nil {
		errs.Add("timezone", "required", "timezone is required, such as Europe/Zurich")
	} else if _, err := loadZone(*f.Timezone); err != nil {
		errs.Add("timezone", "invalid", err.Error())
	} else {
		s.Timezone = *f.Timezone
	}
	s.Online = f.Online != nil && *f.Online
	switch {
	case s.Online && f.Place != nil && *f.Place != "":
		errs.Add("place", "invalid", "an online session has a link, not a place")
	case s.Online:
		if f.Link == nil {
			errs.Add("link", "required", "an online session needs its link (shown only to its backers)")
		} else if u, err := url.Parse(*f.Link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(*f.Link) > 500 {
			errs.Add("link", "invalid", "link must be an http(s) URL")
		} else {
			s.Link = *f.Link
		}
	case f.Place == nil:
		errs.Add("place", "required", "place is required, or online: true with a link")
	default:
		s.Place = backstitch.CheckBlock(errs, "place", *f.Place, 1, MaxPlace)
	}
	switch {
	case f.Capacity == nil:
		errs.Add("capacity", "required", "capacity is required")
	case *f.Capacity < 1 || *f.Capacity > MaxLimit:
		errs.Add("capacity", "out_of_range", fmt.Sprintf("capacity must be between 1 and %d", MaxLimit))
	default:
		s.Capacity = *f.Capacity
	}
	checkCutoff(errs, "change_cutoff_hours", f.ChangeCutoffHours)
	s.ChangeCutoffHours = f.ChangeCutoffHours
	return s
}

// CancelSession cancels a date: nobody can book it any more. Its backers keep their pledges and
// see it cancelled; they move to another date (or cancel) until the deadline.
func (t Tier) CancelSession(c Campaign, id string, now time.Time) (Tier, error) {
	if !c.Status.Changeable() {
		return t, backstitch.Errorf(backstitch.CodeInvalidState, "Sessions of a %s campaign cannot change.", c.Status)
	}
	i := slices.IndexFunc(t.Sessions, func(s Session) bool { return s.ID == id })
	if i < 0 {
		return t, backstitch.Errorf(backstitch.CodeNotFound, "Session not found.")
	}
	next := t
	next.Sessions = slices.Clone(t.Sessions)
	next.Sessions[i].Cancelled = true
	next.StockLeft = cloneCounts(t.StockLeft)
	next.StockLeft[id] = ClosedSlot
	next.UpdatedAt = t.touched(now)
	return next, nil
}

// Book checks a backer's choice of session: a tier with sessions needs one that is not cancelled
// and whose cut-off (CutoffFor) has not passed; a tier without takes none.
func (t Tier) Book(sessionID string, now time.Time) error {
	invalid := func(msg string) error {
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "session_id", Code: "invalid", Message: msg}}}
	}
	if len(t.Sessions) == 0 {
		if sessionID != "" {
			return invalid("this reward has no sessions")
		}
		return nil
	}
	if sessionID == "" {
		return invalid("choose a session of this reward")
	}
	i := slices.IndexFunc(t.Sessions, func(s Session) bool { return s.ID == sessionID })
	switch {
	case i < 0:
		return invalid("no such session for this reward")
	case t.Sessions[i].Cancelled:
		return invalid("this session was cancelled; choose another")
	case t.Closed(t.Sessions[i], now):
		return invalid(fmt.Sprintf("this session starts in less than %s: it can no longer be booked or left", t.CutoffFor(t.Sessions[i])))
	}
	return nil
}

// ClosedSlot is what a cancelled session has left: so far below zero that the places its backers
// give back when they move never open it again.
const ClosedSlot = -(1 << 40)

// SlotLeft is what a slot of the tier (a stocked combination or a session) has left once claimed
// units are held; ClosedSlot for a cancelled session.
func (t Tier) SlotLeft(id string, claimed int64) int64 {
	for _, st := range t.Stock {
		if st.ID == id {
			return max(0, st.Limit-claimed)
		}
	}
	se, ok := t.SessionByID(id)
	switch {
	case ok && se.Cancelled:
		return ClosedSlot
	case ok:
		return max(0, se.Capacity-claimed)
	}
	return 0
}

// SessionByID finds a tier's session.
func (t Tier) SessionByID(id string) (Session, bool) {
	i := slices.IndexFunc(t.Sessions, func(s Session) bool { return s.ID == id })
	if i < 0 {
		return Session{}, false
	}
	return t.Sessions[i], true
}

func cloneCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
