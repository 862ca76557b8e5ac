// Package admin carries out what admins do to money and to reconciliation findings — refund a
// pledge, start a run, resolve a finding — with the checks and the audit entry each needs, once
// for the JSON API and the admins' console alike. The rules of the money itself stay the pledge
// and reconcile packages'; this package adds who did it, why, and the record of it.
package admin

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/settlement"
)

// MaxReason bounds the reason an admin gives for a refund.
const MaxReason = 1000

// Store is what admin actions read and write besides the services'.
type Store interface {
	FindPledge(ctx context.Context, id string) (pledge.Pledge, error)
	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)
	CreateRun(ctx context.Context, r reconcile.Run) error
	AppendAudit(ctx context.Context, e backstitch.AuditEntry) error
	pledge.RefundStore
	settlement.StateStore
	FindCampaignPledges(ctx context.Context, campaignID string, fn func(pledge.Pledge) error) error
}

// Service carries out admins' actions.
type Service struct {
	store    Store
	pledges  *pledge.Service
	runner   *reconcile.Runner
	resolver *reconcile.Resolver
	now      backstitch.Clock
	settler  Settler
	feeBPS   int64
}

// New builds a Service.
func New(store Store, pledges *pledge.Service, runner *reconcile.Runner, resolver *reconcile.Resolver, now backstitch.Clock) *Service {
	return &Service{store: store, pledges: pledges, runner: runner, resolver: resolver, now: now}
}

// RefundPlan is a refund checked but not made: what the backer gets back and what is left after.
type RefundPlan struct {
	Pledge pledge.Pledge
	Amount money.Money
	Left   money.Money
	Reason string
}

// PlanRefund checks a refund of amount (nil: all that is left) with its reason as Refund would,
// without making it, so a page can show what it will do before the admin confirms.
func (s *Service) PlanRefund(ctx context.Context, pledgeID string, amount *money.Money, reason string) (RefundPlan, error) {
	reason, reasonErr := checkReason(reason)
	p, err := s.store.FindPledge(ctx, pledgeID)
	if err != nil {
		return RefundPlan{}, err
	}
	n, err := pledge.Refundable(p, amount)
	if err != nil {
		if reasonErr != nil {
			if e, ok := errors.AsType[*backstitch.Error](err); ok && len(e.Fields) > 0 {
				// Both problems at once, so the form marks both fields.
				e.Fields = append(e.Fields, reasonErr.Fields...)
			}
		}
		return RefundPlan{}, err
	}
	if reasonErr != nil {
		return RefundPlan{}, reasonErr
	}
	cur := p.Amount.Currency
	return RefundPlan{Pledge: p, Amount: money.Money{Amount: n, Currency: cur},
		Left: money.Money{Amount: p.Amount.Amount - p.AmountRefunded - n, Currency: cur}, Reason: reason}, nil
}

func checkReason(reason string) (string, *backstitch.Error) {
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n == 0 || n > MaxReason {
		return reason, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "reason", Code: "required", Message: "reason is required (at most 1,000 characters)"}}}
	}
	return reason, nil
}

// Refund refunds a pledge (amount nil: all that is left) through the pledge service and audits it.
func (s *Service) Refund(ctx context.Context, actorID, pledgeID string, amount *money.Money, reason string) (pledge.Pledge, error) {
	reason, reasonErr := checkReason(reason)
	if reasonErr != nil {
		return pledge.Pledge{}, reasonErr
	}
	before, err := s.store.FindPledge(ctx, pledgeID)
	if err != nil {
		return before, err
	}
	after, err := s.pledges.Refund(ctx, s.store, before.ID, amount, "admin:"+actorID)
	if err != nil {
		return after, err
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: actorID, Action: "pledge.refund", Target: before.ID, Reason: reason,
		Before: map[string]string{"status": string(before.Status), "amount_refunded": strconv.FormatInt(before.AmountRefunded, 10)},
		After:  map[string]string{"status": string(after.Status), "amount_refunded": strconv.FormatInt(after.AmountRefunded, 10)}})
	return after, nil
}

// StartRun queues a reconciliation run of a campaign or a period, audits it and wakes this
// instance's runner; the run is carried out in the background.
func (s *Service) StartRun(ctx context.Context, actorID string, scope reconcile.Scope) (reconcile.Run, error) {
	scope.CampaignID = strings.TrimSpace(scope.CampaignID)
	run, err := reconcile.NewRun(scope, actorID, s.now())
	if err != nil {
		return run, err
	}
	if id := run.Scope.CampaignID; id != "" {
		if _, err := s.store.FindCampaign(ctx, id); backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return run, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
				Fields: []backstitch.FieldError{{Field: "campaign_id", Code: "not_found", Message: "no campaign has this id"}}}
		} else if err != nil {
			return run, err
		}
	}
	if err := s.store.CreateRun(ctx, run); err != nil {
		return run, err
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: actorID, Action: "reconciliation.start", Target: run.ID,
		After: map[string]string{"campaign_id": run.Scope.CampaignID, "from": timeString(run.Scope.From), "to": timeString(run.Scope.To)}})
	s.runner.Kick()
	return run, nil
}

func timeString(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Resolve applies an admin's action to a finding of a run and audits it.
func (s *Service) Resolve(ctx context.Context, actorID, runID, findingID string, in reconcile.ResolveRequest) (reconcile.FindingRecord, error) {
	res, err := s.resolver.Resolve(ctx, runID, findingID, in, actorID)
	if err != nil {
		return reconcile.FindingRecord{}, err
	}
	f := res.Finding
	before := map[string]string{"status": string(reconcile.FindingOpen), "kind": string(f.Kind)}
	after := map[string]string{"status": string(f.Status), "action": f.Resolution.Action, "result": f.Resolution.Result}
	if res.PledgeBefore != "" {
		before["pledge_id"], before["pledge_status"] = f.PledgeID, res.PledgeBefore
		after["pledge_status"] = res.PledgeAfter
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: actorID, Action: "reconciliation.finding.resolve", Target: f.ID,
		Before: before, After: after, Reason: f.Resolution.Note})
	return f, nil
}

// audit appends an admin action to the audit log. The action itself is done by now; a lost
// audit line is logged loudly rather than failing the request.
func (s *Service) audit(ctx context.Context, e backstitch.AuditEntry) {
	e.At = s.now()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("action", e.Action).Str("target", e.Target).Msg("audit entry not written")
	}
}
