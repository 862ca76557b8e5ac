package pledge

import (
	"context"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// Notices says what a backer must be told about her pledge and writes it to the outbox (the
// notify package). A change's messages are recorded on the pledge (Owed) in the same write as the
// change, then handed over with Deliver: a crash in between leaves them on the pledge for the
// sweeper, and Deliver is idempotent, so a retry or a second sweeper makes no second message.
type Notices interface {
	// HoldConfirmation keeps the confirmation of a new pledge, with its manage link, until the
	// pledge is confirmed. It runs before the manage token is shown, so the token the backer
	// gets is always the one her message carries. camp and tier are the pledge's campaign and
	// tier when the caller has just read them (nil: the message reads them itself). A
	// confirmation of this pledge already there is left as it is (false).
	HoldConfirmation(ctx context.Context, p Pledge, manageToken string, camp *campaign.Campaign, tier *campaign.Tier) (bool, error)
	// RenewConfirmation puts a new manage link in a held confirmation.
	RenewConfirmation(ctx context.Context, p Pledge, manageToken string, camp *campaign.Campaign, tier *campaign.Tier) error
	// News is what moving from prev to next owes the backer, each notice with an id derived
	// from the change (the pledge and the version it writes). It reads nothing: it runs before
	// the write that records it.
	News(prev, next Pledge) []backstitch.Notice
	// Deliver writes an owed notice of p to the outbox; a notice delivered already is a no-op.
	Deliver(ctx context.Context, p Pledge, n backstitch.Notice) error
}

// NotifyBackers sets who tells backers about their pledges; set before serving.
func (s *Service) NotifyBackers(n Notices) { s.notices = n }

func (s *Service) holdConfirmation(ctx context.Context, p Pledge, token string, camp *campaign.Campaign, tier *campaign.Tier) error {
	if s.notices == nil {
		return nil
	}
	held, err := s.notices.HoldConfirmation(ctx, p, token, camp, tier)
	if err != nil || held {
		return err
	}
	// A confirmation of this pledge id is there already: the same request ran before, or runs
	// now. If its pledge was inserted (since this request looked it up), it answered, and its
	// confirmation keeps the link the backer was given. If not, that request died before the
	// insert and never showed its token, or is still running (then the run whose insert loses
	// puts the winner's link back, see Create): the confirmation takes this one's.
	if _, err := s.store.FindPledge(ctx, p.ID); err == nil {
		return errAnswered
	} else if backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		return err
	}
	return s.notices.RenewConfirmation(ctx, p, token, camp, tier)
}

// renewConfirmation puts p's manage link (token) back in its held confirmation.
func (s *Service) renewConfirmation(ctx context.Context, p Pledge, token string, camp *campaign.Campaign, tier *campaign.Tier) error {
	if s.notices == nil {
		return nil
	}
	return s.notices.RenewConfirmation(ctx, p, token, camp, tier)
}

// owe records on next what moving from prev owes the backer, after what prev still owed (a
// change whose writer died before delivering is carried on, never dropped).
func (s *Service) owe(prev Pledge, next *Pledge) {
	next.Owed, next.OwedSince = prev.Owed, prev.OwedSince
	if s.notices == nil {
		return
	}
	news := s.notices.News(prev, *next)
	if len(news) == 0 {
		return
	}
	next.Owed = append(slices.Clone(prev.Owed), news...)
	if next.OwedSince == nil {
		now := s.now()
		next.OwedSince = &now
	}
}

// deliverOwed hands p's owed notices to the outbox and clears them, on the pledge stored and on
// p (so a caller's next change from p does not carry them on again). The change is stored
// whatever happens here, so a failure is logged, not returned: the notices stay on the pledge
// and the sweeper delivers them.
func (s *Service) deliverOwed(ctx context.Context, p *Pledge) {
	if s.notices == nil || len(p.Owed) == 0 {
		return
	}
	for _, n := range p.Owed {
		if err := s.notices.Deliver(ctx, *p, n); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("pledge_id", p.ID).Str("notice", n.ID).Msg("message owed for a pledge change not written to the outbox; the sweeper retries")
			return
		}
	}
	if err := s.store.ClearOwed(ctx, p.ID, p.Version); err != nil {
		// Delivered but still recorded: delivering again is a no-op.
		zerolog.Ctx(ctx).Warn().Err(err).Str("pledge_id", p.ID).Msg("clear delivered notices")
		return
	}
	p.Owed, p.OwedSince = nil, nil
}

// owedStale reports whether a pledge's owed notices have waited longer than their own
// transition can take: their writer died, and the sweeper delivers them.
func owedStale(p Pledge, now time.Time) bool {
	return len(p.Owed) > 0 && p.OwedSince != nil && !p.OwedSince.After(now.Add(-SettleWithin))
}
