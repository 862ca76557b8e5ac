package pledge

import (
	"context"

	"github.com/rs/zerolog"
)

// Notices hears of what a backer must be told about her pledge (the notify package writes it to
// the outbox). Both calls must be idempotent: a retried request or transition calls them again.
type Notices interface {
	// HoldConfirmation keeps the confirmation of a new pledge, with its manage link, until the
	// pledge is confirmed. It runs before the manage token is shown, so the token the backer
	// gets is always the one her message carries.
	HoldConfirmation(ctx context.Context, p Pledge, manageToken string) error
	// PledgeChanged hears of each stored state change of a pledge, after it is written.
	PledgeChanged(ctx context.Context, prev, next Pledge) error
}

// NotifyBackers sets who tells backers about their pledges; set before serving.
func (s *Service) NotifyBackers(n Notices) { s.notices = n }

func (s *Service) holdConfirmation(ctx context.Context, p Pledge, token string) error {
	if s.notices == nil {
		return nil
	}
	return s.notices.HoldConfirmation(ctx, p, token)
}

// tellBacker passes a stored change on. The change is done whatever happens here, so a failure
// is logged, not returned: the write it describes must not be reported as failed.
func (s *Service) tellBacker(ctx context.Context, prev, next Pledge) {
	if s.notices == nil {
		return
	}
	if err := s.notices.PledgeChanged(ctx, prev, next); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("pledge_id", next.ID).Msg("message about a pledge change not written to the outbox")
	}
}
