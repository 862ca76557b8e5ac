package pledge

import (
	"context"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Notices says what a backer must be told about her pledge and writes it to the outbox (the
// notify package). A change's messages are recorded on the pledge (Owed) in the same write as the
// change, then handed over with Deliver: a crash in between leaves them on the pledge for the
// sweeper, and Deliver is idempotent, so a retry or a second sweeper makes no second message.
type Notices interface {
	// News is what moving from prev to next owes the backer, each notice with an id derived
	// from the change (the pledge and the version it writes). It reads nothing: it runs before
	// the write that records it.
	News(prev, next Pledge) []backstitch.Notice
	// Deliver writes an owed notice of p to the outbox; a notice delivered already is a no-op.
	Deliver(ctx context.Context, p Pledge, n backstitch.Notice) error
}

// NotifyBackers sets who tells backers about their pledges; set before serving.
func (s *Service) NotifyBackers(n Notices) { s.notices = n }

// owe records on next what moving from prev owes the backer, after what prev still owed (a
// change whose writer died before delivering is carried on, never dropped). The seal of the
// manage token stays only while the pledge is pending or owes messages (its confirmation among
// them): a pledge that ends without being confirmed drops it here, in the write that ends it.
func (s *Service) owe(prev Pledge, next *Pledge) {
	next.Owed, next.OwedSince = prev.Owed, prev.OwedSince
	if s.notices != nil {
		if news := s.notices.News(prev, *next); len(news) > 0 {
			next.Owed = append(slices.Clone(prev.Owed), news...)
			if next.OwedSince == nil {
				now := s.now()
				next.OwedSince = &now
			}
		}
	}
	if next.Status != StatusPending && len(next.Owed) == 0 {
		next.ManageSeal = nil
	}
}

// deliverOwed hands p's owed notices to the outbox and clears them, with the seal of the manage
// token its confirmation needed, on the pledge stored and on p (so a caller's next change from p does not carry them on again). The change is stored
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
	p.Owed, p.OwedSince, p.ManageSeal = nil, nil, nil
}

// owedStale reports whether a pledge's owed notices have waited longer than their own
// transition can take: their writer died, and the sweeper delivers them.
func owedStale(p Pledge, now time.Time) bool {
	return len(p.Owed) > 0 && p.OwedSince != nil && !p.OwedSince.After(now.Add(-SettleWithin))
}
