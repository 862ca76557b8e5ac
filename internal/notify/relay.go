package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// Envelope is one message handed to the mail server.
type Envelope struct {
	// MessageID is the outbox id: a copy sent again after a crash carries the same one.
	MessageID string
	To        string
	Subject   string
	Text      string
	HTML      string
	// Unsubscribe, when set, is announced as RFC 8058 one-click unsubscribe.
	Unsubscribe string
}

// Sender hands a message to a mail server. An error wrapping ErrPermanent means the server
// refused it for good (SMTP 5xx); any other error is worth retrying.
type Sender interface {
	Send(ctx context.Context, e Envelope) error
}

// ErrPermanent marks a refusal that retrying cannot change.
var ErrPermanent = errors.New("refused for good")

// Relay timing.
const (
	// ClaimTTL is how long a relay holds a message it is sending; a relay that dies holding it
	// is replaced after this.
	ClaimTTL = 2 * time.Minute
	// firstRetry doubles with each attempt up to maxRetryDelay; after maxAttempts the message
	// is given up on (about four days of trying).
	firstRetry    = time.Minute
	maxRetryDelay = 6 * time.Hour
	maxAttempts   = 20
)

// FaultPoint names a place in a relay's work where a test can stop it, as a crash would.
type FaultPoint string

// AfterSend is after the server accepted a message, before it is recorded as sent.
const AfterSend FaultPoint = "after_send"

// Relay sends due messages from the outbox.
type Relay struct {
	store  Store
	sender Sender
	render *Renderer
	now    backstitch.Clock
	fault  func(FaultPoint) error
}

// NewRelay builds a relay sending through sender.
func NewRelay(store Store, sender Sender, render *Renderer, now backstitch.Clock) *Relay {
	return &Relay{store: store, sender: sender, render: render, now: now}
}

// SetFaultHook arms a hook called at each fault point; an error it returns stops the relay there,
// as a crash would. Only tests arm it.
func (r *Relay) SetFaultHook(hook func(FaultPoint) error) { r.fault = hook }

// claimBatch is how many messages a relay claims at once.
const claimBatch = 50

// Tick sends every message due now, a claimed batch at a time, and answers how many were sent.
func (r *Relay) Tick(ctx context.Context) (int, error) {
	sent := 0
	for ctx.Err() == nil {
		claim := newClaim()
		now := r.now()
		batch, err := r.store.ClaimMessages(ctx, claim, now, now.Add(ClaimTTL), claimBatch)
		if err != nil {
			return sent, fmt.Errorf("claim messages: %w", err)
		}
		if len(batch) == 0 {
			return sent, nil
		}
		// Past half the lease, the rest goes back: another relay may claim it once the lease
		// ends, and must not find this one still sending it.
		handBack := now.Add(ClaimTTL / 2)
		for i, m := range batch {
			if ctx.Err() != nil || r.now().After(handBack) {
				rest := make([]string, 0, len(batch)-i)
				for _, m := range batch[i:] {
					rest = append(rest, m.ID)
				}
				if err := r.store.ReleaseMessages(context.WithoutCancel(ctx), rest, claim, r.now()); err != nil {
					return sent, err
				}
				break
			}
			ok, err := r.deliver(ctx, m, claim)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
	}
	return sent, ctx.Err()
}

// deliver sends one claimed message and records the outcome. An error stops the tick (the store
// failed, or a test's fault); a refused message is recorded and is not an error.
func (r *Relay) deliver(ctx context.Context, m Message, claim string) (bool, error) {
	log := zerolog.Ctx(ctx).With().Str("message_id", m.ID).Str("kind", string(m.Kind)).Str("to", account.MaskEmail(m.To)).Logger()
	out, err := r.render.Render(m)
	if err != nil {
		// A template that cannot render this message will not render it later either.
		log.Error().Err(err).Msg("message cannot be rendered")
		return false, r.store.FailMessage(ctx, m.ID, claim, "render: "+err.Error())
	}
	err = r.sender.Send(ctx, Envelope{MessageID: m.ID, To: m.To, Subject: out.Subject, Text: out.Text, HTML: out.HTML,
		Unsubscribe: m.Unsubscribe})
	switch {
	case err == nil:
		if r.fault != nil {
			if err := r.fault(AfterSend); err != nil {
				return false, err
			}
		}
		if err := r.store.MarkMessageSent(ctx, m.ID, r.now(), linkSecrets); err != nil {
			// Sent but not recorded: it goes out again after ClaimTTL, with the same Message-ID.
			return false, fmt.Errorf("record message %s as sent: %w", m.ID, err)
		}
		log.Info().Msg("message sent")
		return true, nil
	case errors.Is(err, ErrPermanent):
		log.Warn().Err(err).Msg("message refused for good")
		return false, r.store.FailMessage(ctx, m.ID, claim, err.Error())
	case m.Attempts >= maxAttempts:
		log.Error().Err(err).Int("attempts", m.Attempts).Msg("message given up after its last retry")
		return false, r.store.FailMessage(ctx, m.ID, claim, fmt.Sprintf("gave up after %d attempts: %v", m.Attempts, err))
	default:
		due := r.now().Add(retryDelay(m.Attempts))
		log.Warn().Err(err).Int("attempts", m.Attempts).Time("retry_at", due).Msg("message not sent; will retry")
		return false, r.store.RetryMessage(ctx, m.ID, claim, due, err.Error())
	}
}

// retryDelay is the wait after the attempts-th failed attempt.
func retryDelay(attempts int) time.Duration {
	d := firstRetry
	for i := 1; i < attempts && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

func newClaim() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	return hex.EncodeToString(b)
}
