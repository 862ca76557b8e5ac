package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/settlement"
)

// Settler settles one campaign under its lease: the scheduler's own path (settlement.Settler).
type Settler interface {
	Settle(ctx context.Context, campaignID string) error
}

// UseSettler gives the service the settler "settle now" runs and the platform fee its report is
// built with; set before serving.
func (s *Service) UseSettler(settler Settler, feeBPS int64) {
	s.settler, s.feeBPS = settler, feeBPS
}

// SettleNow runs or resumes a campaign's settlement at once, through the settler the scheduler
// ticks and under the same campaign lease, so a tick running at the same moment cannot charge a
// pledge twice: one of them works, the other answers conflict (ErrBusy wrapped) and changes
// nothing. What ran is audited; a campaign not due is not_due and nothing is audited.
func (s *Service) SettleNow(ctx context.Context, actorID, campaignID string) (settlement.Report, error) {
	before, err := s.store.FindCampaign(ctx, campaignID)
	if err != nil {
		return settlement.Report{}, err
	}
	stateBefore, err := settlement.CampaignState(ctx, s.store, before, s.now())
	if err != nil {
		return settlement.Report{}, err
	}
	if err := s.settler.Settle(ctx, before.ID); err != nil {
		if errors.Is(err, settlement.ErrBusy) {
			return settlement.Report{}, fmt.Errorf("%w (%w)", backstitch.Errorf(backstitch.CodeConflict,
				"Another instance is settling this campaign right now; look again in a moment."), err)
		}
		return settlement.Report{}, err
	}
	r, err := settlement.BuildReport(ctx, s.store, before.ID, s.feeBPS, s.now())
	if err != nil {
		return r, err
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: actorID, Action: "campaign.settle", Target: before.ID,
		Before: map[string]string{"status": string(before.Status), "settlement_state": string(stateBefore)},
		After:  map[string]string{"status": string(r.Status), "settlement_state": string(r.State)}})
	return r, nil
}
