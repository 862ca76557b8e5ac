package notify

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
)

// The scheduled messages: what no single change causes, but time and the state of things do.
// Each tick of the scheduler (every instance runs it) looks at what is due and writes messages
// whose ids name what they are about and when:
//
//   - a designer's daily digest: one per live campaign and local day, at DigestHour in the
//     campaign's time zone, covering the 24 hours before (msg_<campaign>.digest.<YYYY-MM-DD>);
//     a day with no new pledge sends nothing (an empty digest trains people to ignore the
//     real ones; the console shows the same figures any time);
//   - the admins' review digest: once a UTC day at DigestHour while any campaign waits, one per
//     admin (msg_review.<YYYY-MM-DD>.<admin>);
//   - a finished reconciliation run with open findings: once per run and attempt, one per admin;
//   - a cancelled session: once per booked pledge and session;
//   - survey reminders: SurveyFirstReminder before the survey closes and on its last day, once
//     each per pledge, never once the backer answered.
//
// Two instances ticking at once compute the same ids, and the outbox keeps one of each. Work
// done for a day, a run or a session is recorded (ScheduledDone) so later ticks skip it without
// reading pledges again; a tick that dies before recording it does it again and writes nothing new.

// The scheduled kinds.
const (
	DesignerDigest    Kind = "designer_digest"
	ReviewDigest      Kind = "review_digest"
	AdminSubmitted    Kind = "admin_submitted"
	ReconcileFindings Kind = "reconcile_findings"
	SessionCancelled  Kind = "session_cancelled"
	SurveyReminder    Kind = "survey_reminder"
)

// Schedule.
const (
	// DigestHour is the local hour digests go out: the start of a working day.
	DigestHour = 8
	// SurveyFirstReminder is how long before the survey closes the first reminder goes; the
	// second goes on the last day (24 hours before).
	SurveyFirstReminder = 3 * 24 * time.Hour
	surveyLastReminder  = 24 * time.Hour
	// findingsRecent bounds which finished runs are told about: a new instance deployed today
	// does not mail about last month's runs.
	findingsRecent = 48 * time.Hour
	// topSources is how many sources a digest names.
	topSources = 3
)

// ScheduleStore is what the scheduled messages read, besides the outbox.
type ScheduleStore interface {
	Store
	ListCampaigns(ctx context.Context, f campaign.ListFilter) ([]campaign.Campaign, error)
	FindTiers(ctx context.Context, campaignID string) ([]campaign.Tier, error)
	// ListAdmins returns every admin, active or not.
	ListAdmins(ctx context.Context) ([]account.User, error)
	ListRuns(ctx context.Context, f reconcile.RunFilter) ([]reconcile.Run, error)
	CountOpenFindings(ctx context.Context, runID string, attempt int) (int64, error)
	// CreateManageKey stores another manage token of a pledge (its hash), for a message's link.
	CreateManageKey(ctx context.Context, k pledge.ManageKey) error
	// ExistingMessages answers which of ids the outbox holds.
	ExistingMessages(ctx context.Context, ids []string) (map[string]bool, error)
	// ScheduledDone answers which of keys were recorded done; MarkScheduledDone records one.
	ScheduledDone(ctx context.Context, keys []string) (map[string]bool, error)
	MarkScheduledDone(ctx context.Context, key string, now time.Time) error
	// SetDailyDigest turns a designer's daily digest on or off.
	SetDailyDigest(ctx context.Context, userID string, on bool) error
}

// Schedule writes the scheduled messages.
type Schedule struct {
	store     ScheduleStore
	key       func(ctx context.Context, name string) ([]byte, error)
	publicURL string
	now       backstitch.Clock
}

// NewSchedule builds the scheduled messages; key gives the server secret that signs the digest's
// one-click off link (the same one as updates' unsubscribe links, under another label).
func NewSchedule(store ScheduleStore, key func(ctx context.Context, name string) ([]byte, error), publicURL string, now backstitch.Clock) *Schedule {
	return &Schedule{store: store, key: key, publicURL: publicURL, now: now}
}

// Tick writes every scheduled message due now. One job's failure does not stop the others.
func (s *Schedule) Tick(ctx context.Context) error {
	var errs []error
	for _, job := range []func(context.Context) error{s.designerDigests, s.reviewDigest, s.reconcileFindings, s.sessionsCancelled, s.surveyReminders} {
		if err := job(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scheduled messages: %w", err)
	}
	return nil
}

// campaigns lists every campaign in one of statuses, a page at a time.
func (s *Schedule) campaigns(ctx context.Context, statuses ...campaign.Status) ([]campaign.Campaign, error) {
	var out []campaign.Campaign
	f := campaign.ListFilter{Statuses: statuses, Limit: 100}
	for {
		page, err := s.store.ListCampaigns(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list %v campaigns: %w", statuses, err)
		}
		more := len(page) > f.Limit
		if more {
			page = page[:f.Limit]
		}
		out = append(out, page...)
		if !more {
			return out, nil
		}
		f.After = &page[len(page)-1]
	}
}

// digestDay is the local day whose digest is due at now in zone, and the 24 hours it covers
// (from DigestHour the day before to DigestHour that day, local time, across DST); ok is false
// before DigestHour.
func digestDay(now time.Time, zone *time.Location) (day string, from, to time.Time, ok bool) {
	local := now.In(zone)
	to = time.Date(local.Year(), local.Month(), local.Day(), DigestHour, 0, 0, 0, zone)
	if local.Before(to) {
		return "", time.Time{}, time.Time{}, false
	}
	from = time.Date(local.Year(), local.Month(), local.Day()-1, DigestHour, 0, 0, 0, zone)
	return to.Format(time.DateOnly), from, to, true
}

// confirmedAt is when a pledge became counted (its first move to active or collected).
func confirmedAt(p pledge.Pledge) (time.Time, bool) {
	for _, h := range p.History {
		if h.From == pledge.StatusPending && (h.To == pledge.StatusActive || h.To == pledge.StatusCollected) {
			return h.At, true
		}
	}
	return time.Time{}, false
}

// sourceName is how a digest names where a pledge came from.
func sourceName(src pledge.Source) string {
	switch {
	case src.Ref != "":
		return src.Ref
	case src.UTMSource != "":
		return src.UTMSource
	}
	return ""
}

// designerDigests writes today's digest of every live campaign whose designer's morning has come.
func (s *Schedule) designerDigests(ctx context.Context) error {
	live, err := s.campaigns(ctx, campaign.StatusLive)
	if err != nil {
		return err
	}
	now := s.now()
	type due struct {
		c        campaign.Campaign
		key, day string
		from, to time.Time
	}
	var dues []due
	var keys []string
	for _, c := range live {
		zone, err := time.LoadLocation(c.Timezone)
		if err != nil {
			zone = time.UTC
		}
		day, from, to, ok := digestDay(now, zone)
		if !ok {
			continue
		}
		if c.LaunchedAt != nil && c.LaunchedAt.After(from) {
			from = *c.LaunchedAt
		}
		k := "digest." + c.ID + "." + day
		dues = append(dues, due{c: c, key: k, day: day, from: from, to: to})
		keys = append(keys, k)
	}
	if len(dues) == 0 {
		return nil
	}
	done, err := s.store.ScheduledDone(ctx, keys)
	if err != nil {
		return err
	}
	for _, d := range dues {
		if done[d.key] {
			continue
		}
		if err := s.designerDigest(ctx, d.c, d.day, d.from, d.to); err != nil {
			return err
		}
		if err := s.store.MarkScheduledDone(ctx, d.key, s.now()); err != nil {
			return err
		}
	}
	return nil
}

// designerDigest writes one campaign's digest for day, covering pledges confirmed in [from, to).
func (s *Schedule) designerDigest(ctx context.Context, c campaign.Campaign, day string, from, to time.Time) error {
	var count int64
	var amount int64
	bySource := map[string]int64{}
	err := s.store.FindCampaignPledges(ctx, c.ID, func(p pledge.Pledge) error {
		at, ok := confirmedAt(p)
		if !ok || at.Before(from) || !at.Before(to) || !p.Status.Counted() {
			return nil
		}
		count++
		amount += p.Amount.Amount
		bySource[sourceName(p.Source)]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("pledges of campaign %s: %w", c.ID, err)
	}
	if count == 0 {
		return nil
	}
	designer, err := s.store.FindUserByID(ctx, c.DesignerID)
	if err != nil {
		return fmt.Errorf("designer of campaign %s: %w", c.ID, err)
	}
	if designer.DailyDigestOff {
		return nil
	}
	l := locale.Negotiate(langOf(designer.Locale), "")
	type ranked struct {
		name string
		n    int64
	}
	var sources []ranked
	for name, n := range bySource {
		sources = append(sources, ranked{name, n})
	}
	slices.SortFunc(sources, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.name, b.name))
	})
	var named []string
	for i, src := range sources {
		if i == topSources {
			break
		}
		name := src.name
		if name == "" {
			name = l.T("email.designer_digest.direct")
		}
		named = append(named, l.T("email.designer_digest.source", name, l.Number(src.n)))
	}
	key, err := s.key(ctx, unsubscribeSecret)
	if err != nil {
		return fmt.Errorf("digest link key: %w", err)
	}
	off := s.link("/unsubscribe/digest", url.Values{"token": {signDigestOff(key, designer.ID)}})
	now := s.now()
	return s.store.EnqueueMessage(ctx, Message{ID: "msg_" + c.ID + ".digest." + day, Kind: DesignerDigest, To: designer.Email,
		Lang: l.Lang, Status: StatusQueued, DueAt: now, CreatedAt: now, Unsubscribe: off,
		Data: map[string]string{"name": designer.Name, "campaign": c.Title,
			"campaign_url": s.link("/designer/campaigns/"+url.PathEscape(c.ID), nil),
			"new_pledges":  l.Number(count), "new_amount": l.Money(money.Money{Amount: amount, Currency: c.Goal.Currency}),
			"pledged": l.Money(money.Money{Amount: c.Pledged, Currency: c.Goal.Currency}), "goal": l.Money(c.Goal),
			"backers": l.Plural("campaign.backers", int64(c.BackersCount)), "sources": strings.Join(named, ", "), "off_url": off}})
}

// admins are the accounts that review and reconcile.
func (s *Schedule) admins(ctx context.Context) ([]account.User, error) {
	return activeAdmins(ctx, s.store)
}

// activeAdmins lists the admins who are not disabled: a disabled admin hears nothing more.
func activeAdmins(ctx context.Context, f adminFinder) ([]account.User, error) {
	all, err := f.ListAdmins(ctx)
	if err != nil {
		return nil, fmt.Errorf("admins: %w", err)
	}
	out := all[:0]
	for _, a := range all {
		if a.DisabledAt == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// reviewDigest tells every admin, once a UTC day, which campaigns wait for review.
func (s *Schedule) reviewDigest(ctx context.Context) error {
	day, _, _, ok := digestDay(s.now(), time.UTC)
	if !ok {
		return nil
	}
	key := "review." + day
	done, err := s.store.ScheduledDone(ctx, []string{key})
	if err != nil || done[key] {
		return err
	}
	waiting, err := s.campaigns(ctx, campaign.StatusInReview)
	if err != nil {
		return err
	}
	if len(waiting) > 0 {
		// Oldest first: the one waiting longest is the one to open.
		slices.Reverse(waiting)
		admins, err := s.admins(ctx)
		if err != nil {
			return err
		}
		for _, a := range admins {
			l := locale.Negotiate(langOf(a.Locale), "")
			links := make([]Link, 0, len(waiting))
			for _, c := range waiting {
				links = append(links, Link{Label: c.Title, Detail: l.T("email.review_digest.since", l.Date(c.UpdatedAt, time.UTC)),
					URL: s.link("/admin/campaigns/"+url.PathEscape(c.ID), nil)})
			}
			now := s.now()
			err := s.store.EnqueueMessage(ctx, Message{ID: "msg_review." + day + "." + a.ID, Kind: ReviewDigest, To: a.Email,
				Lang: l.Lang, Status: StatusQueued, DueAt: now, CreatedAt: now, Links: links,
				Data: map[string]string{"name": a.Name, "count": l.Number(int64(len(waiting))), "queue_url": s.link("/admin", nil)}})
			if err != nil {
				return err
			}
		}
	}
	return s.store.MarkScheduledDone(ctx, key, s.now())
}

// adminSubmitted tells every admin that campaign c was submitted; id names the submit step,
// so handing it over again writes nothing new.
func (o *Outbox) adminSubmitted(ctx context.Context, c campaign.Campaign, stepID string) error {
	finder, ok := o.store.(adminFinder)
	if !ok {
		return nil
	}
	admins, err := activeAdmins(ctx, finder)
	if err != nil {
		return err
	}
	designer, err := o.store.FindUserByID(ctx, c.DesignerID)
	if err != nil {
		return fmt.Errorf("designer of campaign %s: %w", c.ID, err)
	}
	now := o.now()
	for _, a := range admins {
		err := o.store.EnqueueMessage(ctx, Message{ID: stepID + "." + string(AdminSubmitted) + "." + a.ID, Kind: AdminSubmitted, To: a.Email,
			Lang: langOf(a.Locale), Status: StatusQueued, DueAt: now, CreatedAt: now,
			Data: map[string]string{"name": a.Name, "campaign": c.Title, "designer": designer.Name,
				"review_url": o.link("/admin/campaigns/"+url.PathEscape(c.ID), nil)}})
		if err != nil {
			return err
		}
	}
	return nil
}

// adminFinder is what telling admins needs of the outbox's store (the service's store has it;
// a store without it tells no admin).
type adminFinder interface {
	ListAdmins(ctx context.Context) ([]account.User, error)
}

// reconcileFindings tells every admin about a recently finished run that left open findings.
func (s *Schedule) reconcileFindings(ctx context.Context) error {
	runs, err := s.store.ListRuns(ctx, reconcile.RunFilter{Status: reconcile.RunCompleted, Limit: 50})
	if err != nil {
		return fmt.Errorf("finished reconciliations: %w", err)
	}
	now := s.now()
	var keys []string
	for _, r := range runs {
		keys = append(keys, fmt.Sprintf("findings.%s.%d", r.ID, r.Attempt))
	}
	if len(keys) == 0 {
		return nil
	}
	done, err := s.store.ScheduledDone(ctx, keys)
	if err != nil {
		return err
	}
	var admins []account.User
	for i, r := range runs {
		if done[keys[i]] || r.FinishedAt == nil || now.Sub(*r.FinishedAt) > findingsRecent {
			continue
		}
		open, err := s.store.CountOpenFindings(ctx, r.ID, r.Attempt)
		if err != nil {
			return fmt.Errorf("open findings of %s: %w", r.ID, err)
		}
		if open > 0 {
			if admins == nil {
				if admins, err = s.admins(ctx); err != nil {
					return err
				}
			}
			if err := s.tellFindings(ctx, r, open, admins); err != nil {
				return err
			}
		}
		if err := s.store.MarkScheduledDone(ctx, keys[i], s.now()); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schedule) tellFindings(ctx context.Context, r reconcile.Run, open int64, admins []account.User) error {
	var kinds []string
	if r.Summary != nil {
		for k := range r.Summary.Findings {
			kinds = append(kinds, string(k))
		}
	}
	slices.Sort(kinds)
	for _, a := range admins {
		l := locale.Negotiate(langOf(a.Locale), "")
		var counts []string
		for _, k := range kinds { // kinds is empty when the run has no summary
			if n := r.Summary.Findings[reconcile.Kind(k)]; n > 0 {
				counts = append(counts, l.T("email.reconcile_findings.count", k, l.Number(int64(n))))
			}
		}
		now := s.now()
		err := s.store.EnqueueMessage(ctx, Message{ID: fmt.Sprintf("msg_%s.a%d.findings.%s", r.ID, r.Attempt, a.ID), Kind: ReconcileFindings,
			To: a.Email, Lang: l.Lang, Status: StatusQueued, DueAt: now, CreatedAt: now,
			Data: map[string]string{"name": a.Name, "open": l.Number(open), "counts": strings.Join(counts, ", "),
				"finished": l.DateTime(*r.FinishedAt, time.UTC), "run_url": s.link("/admin/reconciliations/"+url.PathEscape(r.ID), nil)}})
		if err != nil {
			return err
		}
	}
	return nil
}

// sessionsCancelled tells each backer still booked on a cancelled session of a live campaign.
// The backers of a cancelled date are known at its cancellation (nobody can book it after), so
// once all of them are told the session is recorded done and never read again.
func (s *Schedule) sessionsCancelled(ctx context.Context) error {
	live, err := s.campaigns(ctx, campaign.StatusLive)
	if err != nil {
		return err
	}
	for _, c := range live {
		tiers, err := s.store.FindTiers(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("tiers of campaign %s: %w", c.ID, err)
		}
		var keys []string
		cancelled := map[string]campaign.Tier{}
		for _, t := range tiers {
			for _, sess := range t.Sessions {
				if sess.Cancelled {
					keys = append(keys, "session."+sess.ID)
					cancelled[sess.ID] = t
				}
			}
		}
		if len(keys) == 0 {
			continue
		}
		done, err := s.store.ScheduledDone(ctx, keys)
		if err != nil {
			return err
		}
		var booked []owedMessage
		// A pledge still pending on a cancelled date may yet be confirmed: its date stays
		// open to this job until it is (or ends).
		pending := map[string]bool{}
		err = s.store.FindCampaignPledges(ctx, c.ID, func(p pledge.Pledge) error {
			t, ok := cancelled[p.SessionID]
			switch {
			case !ok || done["session."+p.SessionID] || p.ErasedAt != nil:
			case p.Status == pledge.StatusPending:
				pending[p.SessionID] = true
			case p.Status.Counted():
				sess, _ := t.SessionByID(p.SessionID)
				booked = append(booked, owedMessage{pledgeID: p.ID, m: s.sessionCancelled(c, t, sess, p)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("pledges of campaign %s: %w", c.ID, err)
		}
		if err := s.enqueueWithKeys(ctx, booked); err != nil {
			return err
		}
		for _, k := range keys {
			if !done[k] && !pending[strings.TrimPrefix(k, "session.")] {
				if err := s.store.MarkScheduledDone(ctx, k, s.now()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sessionCancelled is the message to the backer of p that her date, sess of tier t, is cancelled;
// its manage link is added by enqueueWithKeys.
func (s *Schedule) sessionCancelled(c campaign.Campaign, t campaign.Tier, sess campaign.Session, p pledge.Pledge) Message {
	l := locale.Negotiate(langOf(p.Locale), "")
	zone, err := time.LoadLocation(sess.Timezone)
	if err != nil {
		zone = time.UTC
	}
	campZone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		campZone = time.UTC
	}
	place := sess.Place
	if sess.Online {
		place = l.T("email.session_cancelled.online")
	}
	// What doing nothing means follows what the service does: the pledge keeps its cancelled
	// date; an all-or-nothing one is charged at the deadline like any other, and the survey
	// after success asks for another date (it refuses to keep a cancelled one).
	ifNothing := "email.session_cancelled.if_nothing.all_or_nothing"
	if p.FundingModel == campaign.Flexible {
		ifNothing = "email.session_cancelled.if_nothing.flexible"
	}
	now := s.now()
	return Message{ID: "msg_" + p.ID + ".session_cancelled." + sess.ID, Kind: SessionCancelled, To: p.Backer.Email,
		Lang: l.Lang, Status: StatusQueued, DueAt: now, CreatedAt: now,
		Data: map[string]string{"name": p.Backer.Name, "campaign": c.Title, "reward": t.Title,
			"session": l.DateTime(sess.StartsAt, zone), "place": place, "deadline": l.Date(c.Deadline, campZone),
			"if_nothing": l.T(ifNothing), "campaign_url": s.link("/campaigns/"+url.PathEscape(c.Slug), nil),
			"manage_page": "change"}}
}

// surveyReminders reminds backers who have not answered the survey of a succeeded campaign.
func (s *Schedule) surveyReminders(ctx context.Context) error {
	succeeded, err := s.campaigns(ctx, campaign.StatusSucceeded)
	if err != nil {
		return err
	}
	now := s.now()
	for _, c := range succeeded {
		deadline, ok := c.SurveyDeadline()
		if !ok || !now.Before(deadline) || now.Before(deadline.Add(-SurveyFirstReminder)) {
			continue
		}
		which := "first"
		if !now.Before(deadline.Add(-surveyLastReminder)) {
			which = "last" // a first reminder not sent by now would only precede this one
		}
		tiers, err := s.store.FindTiers(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("tiers of campaign %s: %w", c.ID, err)
		}
		byID := map[string]campaign.Tier{}
		for _, t := range tiers {
			byID[t.ID] = t
		}
		var msgs []owedMessage
		err = s.store.FindCampaignPledges(ctx, c.ID, func(p pledge.Pledge) error {
			if p.SurveyAnsweredAt != nil || p.ErasedAt != nil || !p.Status.Charged() {
				return nil
			}
			t := byID[p.TierID]
			if a, o, sess := pledge.SurveyQuestions(p, t); !a && !o && !sess {
				return nil
			}
			l := locale.Negotiate(langOf(p.Locale), "")
			zone, err := time.LoadLocation(c.Timezone)
			if err != nil {
				zone = time.UTC
			}
			msgs = append(msgs, owedMessage{pledgeID: p.ID, m: Message{ID: "msg_" + p.ID + ".survey_reminder." + which, Kind: SurveyReminder, To: p.Backer.Email,
				Lang: l.Lang, Status: StatusQueued, DueAt: now, CreatedAt: now,
				Data: map[string]string{"name": p.Backer.Name, "campaign": c.Title, "reward": t.Title,
					"closes": l.DateTime(deadline, zone), "lead": l.T("email.survey_reminder.lead." + which),
					"campaign_url": s.link("/campaigns/"+url.PathEscape(c.Slug), nil), "manage_page": "survey"}}})
			return nil
		})
		if err != nil {
			return fmt.Errorf("pledges of campaign %s: %w", c.ID, err)
		}
		if err := s.enqueueWithKeys(ctx, msgs); err != nil {
			return err
		}
	}
	return nil
}

// owedMessage is a message to a pledge's backer that needs a manage link of its own.
type owedMessage struct {
	pledgeID string
	m        Message
}

// enqueueWithKeys writes the messages the outbox does not hold yet, each with a manage link of
// its own: the pledge's original token is only stored as a hash, so each message gets a new
// manage key (as recovering one's pledges does), made only for a message about to be written.
// Two instances racing may each make a key; the outbox keeps one message, and the other key,
// shown nowhere, opens nothing anyone has.
func (s *Schedule) enqueueWithKeys(ctx context.Context, msgs []owedMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	for i, o := range msgs {
		ids[i] = o.m.ID
	}
	have, err := s.store.ExistingMessages(ctx, ids)
	if err != nil {
		return err
	}
	var fresh []Message
	for _, o := range msgs {
		m, pledgeID := o.m, o.pledgeID
		if have[m.ID] {
			continue
		}
		token := newManageToken()
		if err := s.store.CreateManageKey(ctx, pledge.ManageKey{ID: account.TokenID(token), PledgeID: pledgeID, CreatedAt: s.now()}); err != nil {
			return err
		}
		// The manage link opens the pledge in the browser, then the page the message is about.
		m.Data["manage_url"] = s.link("/pledges/"+pledgeID+"/manage", url.Values{"token": {token}, "then": {m.Data["manage_page"]}})
		delete(m.Data, "manage_page")
		fresh = append(fresh, m)
	}
	if len(fresh) > 0 {
		zerolog.Ctx(ctx).Info().Int("messages", len(fresh)).Str("kind", string(fresh[0].Kind)).Msg("scheduled messages written to the outbox")
	}
	return s.store.EnqueueMessages(ctx, fresh)
}

func newManageToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Schedule) link(path string, q url.Values) string {
	if len(q) > 0 {
		return s.publicURL + path + "?" + q.Encode()
	}
	return s.publicURL + path
}

// signDigestOff is the token of a digest's off link: the designer's id and a MAC of it, under
// its own label so an updates' unsubscribe token never passes for one.
func signDigestOff(key []byte, userID string) string {
	return userID + "." + unsubscribeMAC(key, "digest", userID)
}

// DigestOff turns off the daily digest of the designer a digest's off link names. It is what
// the link's confirm button and RFC 8058's one-click POST do; doing it twice is doing it once.
// A token the service did not sign is not_found.
func (s *Schedule) DigestOff(ctx context.Context, token string) error {
	userID, err := s.CheckDigestOff(ctx, token)
	if err != nil {
		return err
	}
	if err := s.store.SetDailyDigest(ctx, userID, false); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Str("user_id", userID).Msg("a designer turned her daily digest off from its link")
	return nil
}

// CheckDigestOff answers the designer a digest's off link is for.
func (s *Schedule) CheckDigestOff(ctx context.Context, token string) (string, error) {
	invalid := backstitch.Errorf(backstitch.CodeNotFound, "This link is not valid.")
	userID, mac, ok := strings.Cut(token, ".")
	if len(token) > 256 || !ok || !backstitch.IsID("usr", userID) {
		return "", invalid
	}
	key, err := s.key(ctx, unsubscribeSecret)
	if err != nil {
		return "", fmt.Errorf("digest link key: %w", err)
	}
	if !hmac.Equal([]byte(mac), []byte(unsubscribeMAC(key, "digest", userID))) {
		return "", invalid
	}
	return userID, nil
}
