package web

import (
	"context"
	"encoding/binary"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/admin"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/reconcile"
)

// ReconcileStore is what the reconciliation routes need beyond Store.
type ReconcileStore interface {
	CreateRun(ctx context.Context, r reconcile.Run) error
	FindRun(ctx context.Context, id string) (reconcile.Run, error)
	ListRuns(ctx context.Context, f reconcile.RunFilter) ([]reconcile.Run, error)
	FindFindings(ctx context.Context, f reconcile.FindingFilter) ([]reconcile.FindingRecord, error)
	CountOpenFindings(ctx context.Context, runID string, attempt int) (int64, error)
	StreamReport(ctx context.Context, runID string, attempt int, fn func([]byte) error) error
	FindAudit(ctx context.Context, f backstitch.AuditFilter) ([]backstitch.AuditEntry, error)
}

// Reconciliation holds what the reconciliation and other admin routes use. Admin carries out
// the admins' actions (refunds, runs, resolutions) with their audit entries, the same service
// the admins' console calls.
type Reconciliation struct {
	Store ReconcileStore
	Admin *admin.Service
	// Users invites and disables admins.
	Users *admin.Users
}

// runInput is what an admin sends to start a run: a campaign, or a period.
type runInput struct {
	CampaignID string     `json:"campaign_id"`
	From       *time.Time `json:"from"`
	To         *time.Time `json:"to"`
}

// runView is a run as the API shows it, with one page of its findings.
type runView struct {
	reconcile.Run
	OpenFindings *int64                    `json:"open_findings"`
	Findings     []reconcile.FindingRecord `json:"findings"`
	NextCursor   string                    `json:"next_cursor,omitempty"`
}

// startReconciliation queues a run and kicks this instance's runner; it answers at once.
func (s *Server) startReconciliation(c *fiber.Ctx) error {
	sess, _ := session(c)
	var in runInput
	if err := decode(c, &in); err != nil {
		return err
	}
	run, err := s.recon.Admin.StartRun(c.UserContext(), sess.UserID, reconcile.Scope{CampaignID: in.CampaignID, From: in.From, To: in.To})
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, runView{Run: run, Findings: []reconcile.FindingRecord{}})
}

// showReconciliation shows a run with a page of its findings, or its CSV with ?format=csv.
func (s *Server) showReconciliation(c *fiber.Ctx) error {
	ctx := c.UserContext()
	run, err := s.recon.Store.FindRun(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	switch c.Query("format") {
	case "", "json":
	case "csv":
		return s.reconciliationCSV(c, run)
	default:
		return badQuery("format", "format must be json or csv")
	}
	f := reconcile.FindingFilter{RunID: run.ID, Attempt: run.Attempt, Status: reconcile.FindingStatus(c.Query("status")), Kind: reconcile.Kind(c.Query("kind"))}
	switch f.Status {
	case "", reconcile.FindingOpen, reconcile.FindingResolved, reconcile.FindingExplained:
	default:
		return badQuery("status", "status must be open, resolved or explained")
	}
	if f.Kind != "" && !containsKind(f.Kind) {
		return badQuery("kind", "kind must be one of the finding kinds, e.g. missing_in_db")
	}
	if f.Limit, err = pageLimit(c); err != nil {
		return err
	}
	// A cursor pages this run attempt's findings with these filters only.
	list := c.Route().Path + "\x00" + run.ID + "\x00" + strconv.Itoa(run.Attempt) + "\x00" + string(f.Status) + "\x00" + string(f.Kind)
	if cur := c.Query("cursor"); cur != "" {
		payload, err := s.openCursor(ctx, list, cur, 8)
		if err != nil {
			return err
		}
		f.AfterSeq = int(binary.BigEndian.Uint64(payload))
	}
	v := runView{Run: run, Findings: []reconcile.FindingRecord{}}
	if run.Status != reconcile.RunCompleted {
		return reply(c, http.StatusOK, v)
	}
	if v.Findings, err = s.recon.Store.FindFindings(ctx, f); err != nil {
		return err
	}
	if len(v.Findings) == f.Limit {
		if v.NextCursor, err = s.signCursor(ctx, list, binary.BigEndian.AppendUint64(nil, uint64(v.Findings[len(v.Findings)-1].Seq))); err != nil {
			return err
		}
	}
	open, err := s.recon.Store.CountOpenFindings(ctx, run.ID, run.Attempt)
	if err != nil {
		return err
	}
	v.OpenFindings = &open
	return reply(c, http.StatusOK, v)
}

func containsKind(k reconcile.Kind) bool {
	for _, known := range reconcile.Kinds {
		if k == known {
			return true
		}
	}
	return false
}

func badQuery(field, msg string) error {
	return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid query parameters.",
		Fields: []backstitch.FieldError{{Field: field, Code: "invalid", Message: msg}}}
}

// pageLimit reads ?limit: 50 by default, at most 200.
func pageLimit(c *fiber.Ctx) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, badQuery("limit", "limit must be a whole number from 1 to 200")
	}
	return min(n, 200), nil
}

// reconciliationCSV sends a completed run's report: one row per pledge or Stripe object.
func (s *Server) reconciliationCSV(c *fiber.Ctx, run reconcile.Run) error {
	r, err := reconcile.OpenReport(c.UserContext(), s.recon.Store, run)
	if err != nil {
		if backstitch.ErrorCode(err) == backstitch.CodeInvalidState {
			c.Set(fiber.HeaderRetryAfter, "5")
		}
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="reconciliation-`+run.ID+`.csv"`)
	return c.SendStream(r)
}

// resolveFinding applies an admin's action to a finding and audits it.
func (s *Server) resolveFinding(c *fiber.Ctx) error {
	sess, _ := session(c)
	var in reconcile.ResolveRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	ctx := c.UserContext()
	run, err := s.recon.Store.FindRun(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	f, err := s.recon.Admin.Resolve(ctx, sess.UserID, run.ID, c.Params("finding_id"), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, f)
}

// audit appends an admin action to the audit log. The action itself is done by now; a lost
// audit line is logged loudly rather than failing the request.
func (s *Server) audit(c *fiber.Ctx, e backstitch.AuditEntry) {
	e.At = s.now()
	if err := s.store.AppendAudit(c.UserContext(), e); err != nil {
		zerolog.Ctx(c.UserContext()).Error().Err(err).Str("action", e.Action).Str("target", e.Target).Msg("audit entry not written")
	}
}

// auditLog pages through the audit log, newest first, optionally for one action or target.
func (s *Server) auditLog(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := backstitch.AuditFilter{Action: c.Query("action"), Target: c.Query("target"), Actor: c.Query("actor")}
	var err error
	if f.Limit, err = pageLimit(c); err != nil {
		return err
	}
	list := c.Route().Path + "\x00" + f.Action + "\x00" + f.Target + "\x00" + f.Actor
	if cur := c.Query("cursor"); cur != "" {
		if f.Before, f.BeforeID, err = s.decodeTimeCursor(ctx, list, cur); err != nil {
			return err
		}
	}
	entries, err := s.recon.Store.FindAudit(ctx, f)
	if err != nil {
		return err
	}
	out := fiber.Map{"entries": entries}
	if len(entries) == f.Limit {
		last := entries[len(entries)-1]
		if out["next_cursor"], err = s.encodeTimeCursor(ctx, list, last.At, last.ID); err != nil {
			return err
		}
	}
	return reply(c, http.StatusOK, out)
}

// runList is a page of runs, newest first; next_cursor is null on the last page.
type runList struct {
	Data       []reconcile.Run `json:"data"`
	NextCursor *string         `json:"next_cursor"`
}

// listReconciliations pages through the runs, newest first, optionally of one status or campaign.
func (s *Server) listReconciliations(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := reconcile.RunFilter{Status: reconcile.RunStatus(c.Query("status")), CampaignID: c.Query("campaign_id")}
	if f.Status != "" && !f.Status.Valid() {
		return badQuery("status", "status must be queued, running, completed or failed")
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	// A cursor pages the list with the filters it was given out for only.
	list := c.Route().Path + "\x00" + string(f.Status) + "\x00" + f.CampaignID
	if cur := c.Query("cursor"); cur != "" {
		if f.Before, f.BeforeID, err = s.decodeTimeCursor(ctx, list, cur); err != nil {
			return err
		}
	}
	// One more than the page tells whether there is a next page, so the last page says so.
	f.Limit = limit + 1
	runs, err := s.recon.Store.ListRuns(ctx, f)
	if err != nil {
		return err
	}
	out := runList{Data: runs}
	if len(runs) > limit {
		out.Data = runs[:limit]
		last := out.Data[limit-1]
		next, err := s.encodeTimeCursor(ctx, list, last.CreatedAt, last.ID)
		if err != nil {
			return err
		}
		out.NextCursor = &next
	}
	return reply(c, http.StatusOK, out)
}
