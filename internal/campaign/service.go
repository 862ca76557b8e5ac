package campaign

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// Store is what the campaign service needs from persistence. Every write is one conditional
// update of one document; the service decides what to write.
type Store interface {
	CreateCampaign(ctx context.Context, c Campaign) (Campaign, error)
	FindCampaign(ctx context.Context, id string) (Campaign, error)
	FindCampaignBySlug(ctx context.Context, slug string) (Campaign, error)
	// ReplaceCampaign writes next if the campaign is still as prev was read (else a conflict).
	ReplaceCampaign(ctx context.Context, prev, next Campaign) (Campaign, error)
	// ClearCampaignOwed removes a campaign's owed notices if it is still at version (a later
	// step carries them on); FindCampaignsOwing lists campaigns owing notices since before.
	ClearCampaignOwed(ctx context.Context, id string, version int64) error
	FindCampaignsOwing(ctx context.Context, before time.Time, limit int) ([]Campaign, error)
	ListCampaigns(ctx context.Context, f ListFilter) ([]Campaign, error)

	// ReserveTierSlot takes one of a campaign's max tier slots with one conditional update of the
	// campaign document and returns the new tier's position; a full campaign is a validation error.
	ReserveTierSlot(ctx context.Context, campaignID string, max int) (position int, err error)
	// ReleaseTierSlot gives a slot back (a tier deleted, or one whose insert failed).
	ReleaseTierSlot(ctx context.Context, campaignID string) error
	CreateTier(ctx context.Context, t Tier) error
	FindTiers(ctx context.Context, campaignID string) ([]Tier, error)
	FindTier(ctx context.Context, campaignID, tierID string) (Tier, error)
	// ReplaceTier writes next if the tier's claimed units are still what prev saw (else a conflict).
	ReplaceTier(ctx context.Context, prev, next Tier) error
	// DeleteTier removes a tier only while nobody holds a unit of it.
	DeleteTier(ctx context.Context, t Tier) error
	// BeginTierWrite records on a campaign that a write of its tiers is under way (id, and until
	// when it may land) and bumps the campaign's version, in one conditional update, if the
	// campaign is still in status (else a conflict). It drops the records named in stale (their
	// writers died). EndTierWrite removes the record once the tier write is done.
	BeginTierWrite(ctx context.Context, campaignID string, status Status, id string, until time.Time, stale []string) error
	EndTierWrite(ctx context.Context, campaignID, id string) error

	AppendAudit(ctx context.Context, e backstitch.AuditEntry) error
	ImageStore
}

// Actor is who asks for something: the signed-in user and their role. The zero Actor is an
// anonymous visitor.
type Actor struct {
	UserID string
	Role   account.Role
}

// String is how the actor appears in a campaign's history: "designer:usr_…", "admin:usr_…".
func (a Actor) String() string { return string(a.Role) + ":" + a.UserID }

func (a Actor) admin() bool { return a.Role == account.RoleAdmin && a.UserID != "" }

func (a Actor) owns(c Campaign) bool { return a.UserID != "" && a.UserID == c.DesignerID }

// Service is the application service for campaigns and their tiers: the JSON API and the pages
// both call it, so who may do what, the review steps, the tier rules and the audit trail are
// written once, here. Its callers only translate their protocol.
type Service struct {
	store   Store
	now     backstitch.Clock
	rules   Rules
	changes ChangeNotifier
	// imageSlot lets one upload at a time decode and resize on this instance: a 40-megapixel
	// image needs about 160 MB while it is processed, and the machine has few cores.
	imageSlot chan struct{}
	notices   Notices
	fault     func(FaultPoint) error
}

// Notices says what a review step owes the designer and writes it to the outbox (the notify
// package). The step's messages are recorded on the campaign in the same write as the step, then
// handed over with Deliver, which is idempotent: a crash in between leaves them for the sweeper
// (DeliverOwed), never lost, and a second hand-over writes nothing.
type Notices interface {
	// CampaignNews is what the step a from prev to next owes, each notice with an id derived
	// from the step (the campaign and the version it writes). It reads nothing.
	CampaignNews(prev, next Campaign, a Action, reason string) []backstitch.Notice
	// DeliverCampaign writes an owed notice of c to the outbox; one delivered already is a no-op.
	DeliverCampaign(ctx context.Context, c Campaign, n backstitch.Notice) error
}

// NotifyDesigners sets who tells designers about their campaigns; set before serving.
func (s *Service) NotifyDesigners(n Notices) { s.notices = n }

// FaultPoint names a place in a step where a test can stop it, as a crash would.
type FaultPoint string

// AfterCampaignWrite is after a step is stored, before its messages reach the outbox.
const AfterCampaignWrite FaultPoint = "after_campaign_write"

// SetFaultHook arms a hook called at each fault point; an error it returns stops the step there,
// as a crash would. Only tests arm it.
func (s *Service) SetFaultHook(hook func(FaultPoint) error) { s.fault = hook }

func (s *Service) injectFault(at FaultPoint) error {
	if s.fault == nil {
		return nil
	}
	return s.fault(at)
}

// deliverOwed hands c's owed notices to the outbox and clears them. The step is stored whatever
// happens here: a failure is logged, and the notices stay for DeliverOwed.
func (s *Service) deliverOwed(ctx context.Context, c *Campaign) {
	if s.notices == nil || len(c.Owed) == 0 {
		return
	}
	for _, n := range c.Owed {
		if err := s.notices.DeliverCampaign(ctx, *c, n); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("campaign_id", c.ID).Str("notice", n.ID).Msg("message owed for a campaign step not written to the outbox; the sweeper retries")
			return
		}
	}
	if err := s.store.ClearCampaignOwed(ctx, c.ID, c.Version); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("campaign_id", c.ID).Msg("clear delivered notices")
		return
	}
	// Cleared on c too, so a next step from c does not carry them on and hand them over again.
	c.Owed, c.OwedSince = nil, nil
}

// DeliverOwed is the sweeper's part of steps: it delivers the notices of campaigns whose step
// died between its write and the outbox (older than stepWithin), and answers how many it found.
func (s *Service) DeliverOwed(ctx context.Context) (int, error) {
	found, err := s.store.FindCampaignsOwing(ctx, s.now().Add(-stepWithin), 100)
	if err != nil {
		return 0, err
	}
	for _, c := range found {
		s.deliverOwed(ctx, &c)
	}
	return len(found), nil
}

// stepWithin bounds how long a step takes from its write to its messages' delivery (a request's
// timeout, with room): owed notices older than this belong to a step that died.
const stepWithin = time.Minute

// ChangeNotifier hears of every write that may change what the public sees of a campaign (its
// fields, status, totals or tiers), after the write, so copies of the public view (the web
// layer's cache of rendered responses) are dropped at once on the instance that wrote. The
// pledge and settlement services tell it too.
type ChangeNotifier interface {
	CampaignChanged(campaignID string)
}

// NotifyChanges sets who hears of changes (see ChangeNotifier); set before serving.
func (s *Service) NotifyChanges(n ChangeNotifier) { s.changes = n }

func (s *Service) changed(campaignID string) {
	if s.changes != nil {
		s.changes.CampaignChanged(campaignID)
	}
}

// NewService builds the campaign service.
func NewService(store Store, now backstitch.Clock, rules Rules) *Service {
	return &Service{store: store, now: now, rules: rules, imageSlot: make(chan struct{}, 1)}
}

// Create makes a new draft owned by the acting designer.
func (s *Service) Create(ctx context.Context, by Actor, f Fields) (Campaign, error) {
	if by.Role != account.RoleDesigner || by.UserID == "" {
		return Campaign{}, backstitch.Errorf(backstitch.CodeForbidden, "Only designers may do this.")
	}
	c, err := New(f, by.UserID, s.now(), s.rules)
	if err != nil {
		return Campaign{}, err
	}
	if c, err = s.store.CreateCampaign(ctx, c); err != nil {
		return Campaign{}, err
	}
	zerolog.Ctx(ctx).Info().Str("campaign_id", c.ID).Msg("campaign created")
	return c, nil
}

// Detail is a campaign with its tiers as one caller may see it.
type Detail struct {
	Campaign Campaign
	Tiers    []Tier
	// Private is true for the owner and admins: they see history and rejection reasons.
	Private bool
}

// Show finds a campaign by id or slug that the actor may see: anyone sees public campaigns;
// only the owner and admins see the others, and to everyone else they do not exist.
func (s *Service) Show(ctx context.Context, by Actor, ref string) (Detail, error) {
	var c Campaign
	var err error
	if backstitch.IsID("cam", ref) {
		c, err = s.store.FindCampaign(ctx, ref)
	} else {
		c, err = s.store.FindCampaignBySlug(ctx, ref)
	}
	if err != nil {
		return Detail{}, err
	}
	private := by.admin() || by.owns(c)
	if !private && !c.Public() {
		return Detail{}, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
	}
	tiers, err := s.store.FindTiers(ctx, c.ID)
	if err != nil {
		return Detail{}, err
	}
	return Detail{Campaign: c, Tiers: tiers, Private: private}, nil
}

// FindForOwnerOrAdmin finds a campaign that only its designer and admins may look into (its
// settlement, its backers). Others' hidden campaigns do not exist for them (404); others' public
// campaigns are forbidden (403).
func (s *Service) FindForOwnerOrAdmin(ctx context.Context, by Actor, id string) (Campaign, error) {
	return s.findForWrite(ctx, by, id, true)
}

// FindForOwner finds a campaign only its designer may act on (marking its rewards shipped, say):
// admins read such records, they do not write them.
func (s *Service) FindForOwner(ctx context.Context, by Actor, id string) (Campaign, error) {
	return s.findForWrite(ctx, by, id, false)
}

// findForWrite finds a campaign the actor may change: the owner, and admins when allowAdmin.
// Others' drafts stay invisible (404); changing someone else's public campaign is forbidden (403).
func (s *Service) findForWrite(ctx context.Context, by Actor, id string, allowAdmin bool) (Campaign, error) {
	c, err := s.store.FindCampaign(ctx, id)
	if err != nil {
		return c, err
	}
	if by.owns(c) || (allowAdmin && by.admin()) {
		return c, nil
	}
	if c.Public() || by.admin() {
		return c, backstitch.Errorf(backstitch.CodeForbidden, "Only the campaign's designer may do this.")
	}
	return c, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
}

// Edit applies the owner's change (see Campaign.Edit for what may change when).
func (s *Service) Edit(ctx context.Context, by Actor, id string, f Fields) (Detail, error) {
	c, err := s.findForWrite(ctx, by, id, false)
	if err != nil {
		return Detail{}, err
	}
	next, err := c.Edit(f, by.String(), s.now(), s.rules)
	if err != nil {
		return Detail{}, err
	}
	if next, err = s.store.ReplaceCampaign(ctx, c, next); err != nil {
		return Detail{}, err
	}
	s.changed(c.ID)
	return s.private(ctx, next)
}

// Submit sends the owner's draft to review; reason, optional, is a note kept in the history.
func (s *Service) Submit(ctx context.Context, by Actor, id, reason string) (Detail, error) {
	return s.transition(ctx, by, id, ActionSubmit, reason)
}

// Approve accepts a campaign in review (admins only).
func (s *Service) Approve(ctx context.Context, by Actor, id, reason string) (Detail, error) {
	return s.transition(ctx, by, id, ActionApprove, reason)
}

// Reject sends a campaign in review back to its designer with a reason (admins only).
func (s *Service) Reject(ctx context.Context, by Actor, id, reason string) (Detail, error) {
	return s.transition(ctx, by, id, ActionReject, reason)
}

// ApproveAsSeen approves a campaign only if what a reviewer judges is still what seen (the
// ReviewHashes of the page the admin read) says; otherwise nothing changes and the error is
// ErrChangedSinceSeen. So the snapshot the approval keeps is what she actually read, not what
// the designer resubmitted while she was reading.
func (s *Service) ApproveAsSeen(ctx context.Context, by Actor, id, reason string, seen map[string]string) (Detail, error) {
	return s.review(ctx, by, id, ActionApprove, reason, seen)
}

// RejectAsSeen is Reject under ApproveAsSeen's condition: the reason answers what she read.
func (s *Service) RejectAsSeen(ctx context.Context, by Actor, id, reason string, seen map[string]string) (Detail, error) {
	return s.review(ctx, by, id, ActionReject, reason, seen)
}

// ErrChangedSinceSeen refuses a review decision about a campaign that changed after the admin
// opened it (a conflict: read it again, then decide).
var ErrChangedSinceSeen = backstitch.Errorf(backstitch.CodeConflict, "The campaign changed after you opened it; read it again before deciding.")

// Launch opens the owner's approved campaign to backers (reason as for Submit).
func (s *Service) Launch(ctx context.Context, by Actor, id, reason string) (Detail, error) {
	return s.transition(ctx, by, id, ActionLaunch, reason)
}

// Cancel ends a campaign before its deadline; its designer and admins may.
func (s *Service) Cancel(ctx context.Context, by Actor, id, reason string) (Detail, error) {
	return s.transition(ctx, by, id, ActionCancel, reason)
}

// transition runs a state change: submit and launch are the owner's, approve and reject are
// admins', cancel is open to both. What admins do goes to the audit log.
func (s *Service) transition(ctx context.Context, by Actor, id string, a Action, reason string) (Detail, error) {
	return s.review(ctx, by, id, a, reason, nil)
}

// review is transition; for approve and reject with seen set, only of the campaign seen says.
func (s *Service) review(ctx context.Context, by Actor, id string, a Action, reason string, seen map[string]string) (Detail, error) {
	var c Campaign
	var err error
	if a == ActionApprove || a == ActionReject {
		if !by.admin() {
			return Detail{}, backstitch.Errorf(backstitch.CodeForbidden, "Only admins may do this.")
		}
		c, err = s.store.FindCampaign(ctx, id)
	} else {
		c, err = s.findForWrite(ctx, by, id, a == ActionCancel)
	}
	if err != nil {
		return Detail{}, err
	}
	if a == ActionCancel && by.admin() && strings.TrimSpace(reason) == "" {
		return Detail{}, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "reason", Code: "required", Message: "an admin cancelling a campaign must give a reason (the designer and backers see it)"}}}
	}
	next, err := c.Do(a, by.String(), reason, s.now(), s.rules)
	if err != nil {
		return Detail{}, err
	}
	if a == ActionApprove || a == ActionReject {
		// A tier write under way could land after the tiers are read below, unseen by the
		// decision and by its snapshot (see beginTierWrite); one that starts later bumps the
		// version this decision's write is conditional on.
		if c.TiersChanging(s.now()) {
			return Detail{}, ErrChangedSinceSeen
		}
		// Kept with the decision, in the same write, so that the next review shows what changed.
		tiers, err := s.store.FindTiers(ctx, c.ID)
		if err != nil {
			return Detail{}, err
		}
		judged := ReviewHashes(c, tiers)
		if seen != nil && !maps.Equal(seen, judged) {
			return Detail{}, ErrChangedSinceSeen
		}
		next.Reviewed = &ReviewSnapshot{At: s.now(), Fields: judged}
	}
	if s.notices != nil {
		next.Owe(c, s.notices.CampaignNews(c, next, a, reason), s.now())
	}
	if next, err = s.store.ReplaceCampaign(ctx, c, next); err != nil {
		return Detail{}, err
	}
	s.changed(c.ID)
	log := zerolog.Ctx(ctx)
	if err := s.injectFault(AfterCampaignWrite); err != nil {
		return Detail{}, err
	}
	s.deliverOwed(ctx, &next)
	log.Info().Str("campaign_id", c.ID).Str("from", string(c.Status)).Str("to", string(next.Status)).Msg("campaign " + string(a))
	if by.admin() {
		s.audit(ctx, backstitch.AuditEntry{
			Actor: by.UserID, Action: "campaign." + string(a), Target: c.ID, Reason: reason,
			Before: map[string]string{"status": string(c.Status)}, After: map[string]string{"status": string(next.Status)},
		})
	}
	return s.private(ctx, next)
}

// audit appends an admin action to the audit log. The change itself is done by now and is in the
// document's history; a lost audit line is logged as an error for operators rather than undoing it.
func (s *Service) audit(ctx context.Context, e backstitch.AuditEntry) {
	e.At = s.now()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("action", e.Action).Str("target", e.Target).Msg("audit entry not written")
	}
}

func (s *Service) private(ctx context.Context, c Campaign) (Detail, error) {
	tiers, err := s.store.FindTiers(ctx, c.ID)
	if err != nil {
		return Detail{}, err
	}
	return Detail{Campaign: c, Tiers: tiers, Private: true}, nil
}

// ListScope says which list is asked for, and so who may ask and which statuses it offers.
type ListScope int

const (
	// ListPublic is everyone's list of launched campaigns (live by default).
	ListPublic ListScope = iota
	// ListReview is the admins' queue (in review by default, any status on request).
	ListReview
	// ListMine is a designer's own campaigns in every status.
	ListMine
)

// ListQuery asks for one page of a list.
type ListQuery struct {
	Scope ListScope
	// Status is "" for the scope's default.
	Status Status
	Limit  int
	// After is the last campaign of the previous page (nil for the first page). The caller
	// vouches for it: the web layer takes it from a cursor it signed, never from a lookup by id,
	// so a cursor cannot tell whether a hidden campaign exists.
	After *Campaign
}

// Page is one page of a list; Last is the campaign to page after, nil on the last page.
type Page struct {
	Campaigns []Campaign
	Last      *Campaign
	Private   bool
}

// List returns one page of a list, newest first.
func (s *Service) List(ctx context.Context, by Actor, q ListQuery) (Page, error) {
	f := ListFilter{Limit: q.Limit}
	page := Page{}
	switch q.Scope {
	case ListPublic:
		st, err := statusFilter(q.Status, StatusLive, Status.Public)
		if err != nil {
			return Page{}, err
		}
		f.Statuses = st
	case ListReview:
		if !by.admin() {
			return Page{}, backstitch.Errorf(backstitch.CodeForbidden, "Only admins may do this.")
		}
		st, err := statusFilter(q.Status, StatusInReview, func(st Status) bool { return st.Public() || st.Changeable() || st == StatusCancelled })
		if err != nil {
			return Page{}, err
		}
		f.Statuses, page.Private = st, true
	case ListMine:
		if by.Role != account.RoleDesigner || by.UserID == "" {
			return Page{}, backstitch.Errorf(backstitch.CodeForbidden, "Only designers may do this.")
		}
		f.DesignerID, page.Private = by.UserID, true
	}
	f.After = q.After
	found, err := s.store.ListCampaigns(ctx, f)
	if err != nil {
		return Page{}, err
	}
	if len(found) > f.Limit {
		found = found[:f.Limit]
		page.Last = &found[len(found)-1]
	}
	page.Campaigns = found
	return page, nil
}

func statusFilter(st, def Status, allowed func(Status) bool) ([]Status, error) {
	if st == "" {
		st = def
	}
	if !allowed(st) {
		return nil, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid parameters.",
			Fields: []backstitch.FieldError{{Field: "status", Code: "invalid", Message: fmt.Sprintf("this list does not offer status %q", st)}}}
	}
	return []Status{st}, nil
}

// AddTier adds a tier to the owner's campaign. The tier limit is taken atomically on the campaign
// document before the insert and given back if anything after it fails, so racing requests can
// never pass MaxTiers.
func (s *Service) AddTier(ctx context.Context, by Actor, campaignID string, f TierFields) (Tier, error) {
	c, err := s.findForWrite(ctx, by, campaignID, false)
	if err != nil {
		return Tier{}, err
	}
	t, err := NewTier(c, f, s.now())
	if err != nil {
		return Tier{}, err
	}
	if t.Position, err = s.store.ReserveTierSlot(ctx, c.ID, MaxTiers); err != nil {
		return Tier{}, err
	}
	defer s.changed(c.ID)
	end, err := s.beginTierWrite(ctx, by, c)
	if err == nil {
		err = s.store.CreateTier(ctx, t)
		end()
	}
	if err != nil {
		// The request outlived its context perhaps: give the slot back regardless.
		if rerr := s.store.ReleaseTierSlot(context.WithoutCancel(ctx), c.ID); rerr != nil {
			zerolog.Ctx(ctx).Error().Err(rerr).Str("campaign_id", c.ID).Msg("tier slot not given back")
		}
		return Tier{}, err
	}
	return t, nil
}

// EditTier changes a tier of the owner's campaign (see Tier.Edit for what locks once it has backers).
func (s *Service) EditTier(ctx context.Context, by Actor, campaignID, tierID string, f TierFields) (Tier, error) {
	c, t, err := s.findTierForWrite(ctx, by, campaignID, tierID)
	if err != nil {
		return Tier{}, err
	}
	next, err := t.Edit(c, f, s.now())
	if err != nil {
		return Tier{}, err
	}
	// Whatever got written below, even half of it, is told.
	defer s.changed(c.ID)
	end, err := s.beginTierWrite(ctx, by, c)
	if err != nil {
		return Tier{}, err
	}
	defer end()
	if err := s.store.ReplaceTier(ctx, t, next); err != nil {
		return Tier{}, err
	}
	return next, nil
}

// AddSession adds a date to an experience tier of the owner's campaign. The write is conditional
// on the tier's claimed units, like every tier change, so a booking landing meanwhile is a
// conflict to retry, never a lost place.
func (s *Service) AddSession(ctx context.Context, by Actor, campaignID, tierID string, f SessionFields) (Tier, Session, error) {
	c, t, err := s.findTierForWrite(ctx, by, campaignID, tierID)
	if err != nil {
		return Tier{}, Session{}, err
	}
	next, session, err := t.AddSession(c, f, s.now())
	if err != nil {
		return Tier{}, Session{}, err
	}
	defer s.changed(c.ID)
	end, err := s.beginTierWrite(ctx, by, c)
	if err != nil {
		return Tier{}, Session{}, err
	}
	defer end()
	if err := s.store.ReplaceTier(ctx, t, next); err != nil {
		return Tier{}, Session{}, err
	}
	return next, session, nil
}

// EditSession changes a date of a tier of the owner's campaign (see Tier.EditSession). The write
// is conditional on the tier's counters, so a booking landing meanwhile is a conflict to retry,
// never a capacity below what is booked. Backers read their session from the tier: they see the
// change on their booking and calendar file at once (messages to them belong to the outbox, with
// this write, once notifications exist).
func (s *Service) EditSession(ctx context.Context, by Actor, campaignID, tierID, sessionID string, f SessionFields) (Tier, Session, error) {
	c, t, err := s.findTierForWrite(ctx, by, campaignID, tierID)
	if err != nil {
		return Tier{}, Session{}, err
	}
	next, session, err := t.EditSession(c, sessionID, f, s.now())
	if err != nil {
		return Tier{}, Session{}, err
	}
	defer s.changed(c.ID)
	end, err := s.beginTierWrite(ctx, by, c)
	if err != nil {
		return Tier{}, Session{}, err
	}
	defer end()
	if err := s.store.ReplaceTier(ctx, t, next); err != nil {
		return Tier{}, Session{}, err
	}
	return next, session, nil
}

// CancelSession cancels a date of a tier of the owner's campaign (see Tier.CancelSession).
func (s *Service) CancelSession(ctx context.Context, by Actor, campaignID, tierID, sessionID string) (Tier, error) {
	c, t, err := s.findTierForWrite(ctx, by, campaignID, tierID)
	if err != nil {
		return Tier{}, err
	}
	next, err := t.CancelSession(c, sessionID, s.now())
	if err != nil {
		return Tier{}, err
	}
	defer s.changed(c.ID)
	end, err := s.beginTierWrite(ctx, by, c)
	if err != nil {
		return Tier{}, err
	}
	defer end()
	if err := s.store.ReplaceTier(ctx, t, next); err != nil {
		return Tier{}, err
	}
	return next, nil
}

// DeleteTier removes a tier nobody holds a unit of from the owner's campaign.
func (s *Service) DeleteTier(ctx context.Context, by Actor, campaignID, tierID string) error {
	c, t, err := s.findTierForWrite(ctx, by, campaignID, tierID)
	if err != nil {
		return err
	}
	if err := t.CheckDelete(c); err != nil {
		return err
	}
	defer s.changed(c.ID)
	end, err := s.beginTierWrite(ctx, by, c)
	if err != nil {
		return err
	}
	err = s.store.DeleteTier(ctx, t)
	end()
	if err != nil {
		return err
	}
	if t.Image != nil {
		// An upload racing this delete finds no tier to point at and deletes its own bytes.
		if err := s.store.DeleteImage(context.WithoutCancel(ctx), t.Image.ID); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("image_id", t.Image.ID).Msg("deleted tier's image bytes not deleted")
		}
	}
	return s.store.ReleaseTierSlot(ctx, c.ID)
}

func (s *Service) findTierForWrite(ctx context.Context, by Actor, campaignID, tierID string) (Campaign, Tier, error) {
	c, err := s.findForWrite(ctx, by, campaignID, false)
	if err != nil {
		return c, Tier{}, err
	}
	t, err := s.store.FindTier(ctx, c.ID, tierID)
	return c, t, err
}

// reopenForReview sends a campaign that is in review or approved back to draft when its tiers
// or pictures change: the admin approved them as they were. It returns the campaign as written.
func (s *Service) reopenForReview(ctx context.Context, by Actor, c Campaign) (Campaign, error) {
	if c.Status != StatusInReview && c.Status != StatusApproved {
		return c, nil
	}
	next, err := c.Edit(Fields{}, by.String(), s.now(), s.rules)
	if err != nil {
		return c, err
	}
	return s.store.ReplaceCampaign(ctx, c, next)
}

// beginTierWrite fences a write of c's tiers (a tier added, changed or deleted; a date of one
// added, changed or cancelled) against review decisions, so that what an admin approves is
// exactly what goes live. Tiers are documents of their own, and the store offers no write that
// changes a tier and checks its campaign at once. So the write is announced on the campaign
// first, by one conditional update that also bumps its version, and withdrawn by end once the
// tier is written. A decision reads the campaign, refuses while a write is announced, reads the
// tiers, then writes on the version it read. A tier write therefore either was withdrawn
// before the decision read the campaign (so it landed before the tiers were read), or announced
// itself after that read (so the decision's write fails on the version), or found the campaign
// decided already (so its announcement, conditional on the status it read, fails). A campaign
// in review or approved goes back to draft first: its tiers were judged as they were.
func (s *Service) beginTierWrite(ctx context.Context, by Actor, c Campaign) (end func(), err error) {
	if c, err = s.reopenForReview(ctx, by, c); err != nil {
		return nil, err
	}
	now := s.now()
	var stale []string
	for id, until := range c.TierWrites {
		if !until.After(now) {
			stale = append(stale, id)
		}
	}
	// A tier write is one store call within a request: stepWithin bounds it as it bounds a step.
	id := backstitch.NewID("tw")
	if err := s.store.BeginTierWrite(ctx, c.ID, c.Status, id, now.Add(stepWithin), stale); err != nil {
		return nil, err
	}
	return func() {
		// Also when the request was cancelled: a record left behind holds decisions until it expires.
		if err := s.store.EndTierWrite(context.WithoutCancel(ctx), c.ID, id); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("campaign_id", c.ID).Msg("tier write not withdrawn; review decisions wait until it expires")
		}
	}, nil
}
