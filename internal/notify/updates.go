package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/update"
)

// A designer's update goes to every backer of her campaign whose pledge is active or collected,
// once per address: each message's id is the update's id and a key of the address, so the fan-out
// may write a batch again (after a crash, or by a second instance) and the outbox keeps one. The
// fan-out is claimed by one instance at a time and resumes after the last batch it recorded.
//
// Each message carries a one-click unsubscribe link (RFC 8058) for the updates of that campaign.
// It stops that campaign's updates only: messages about the backer's money (confirmation,
// charge, failure, refund) have no such link and are always sent.

// UpdateStore is what sending updates needs.
type UpdateStore interface {
	Store
	ClaimUpdateFanOut(ctx context.Context, claim string, now, until time.Time) (update.Update, error)
	// AdvanceUpdateFanOut records progress if claim still holds the update (a conflict if not).
	AdvanceUpdateFanOut(ctx context.Context, id, claim string, f update.FanOut) error
	FindPledgesByStatus(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error)
	Unsubscribe(ctx context.Context, campaignID, emailKey string, now time.Time) error
	Unsubscribed(ctx context.Context, campaignID string) (map[string]bool, error)
}

// Fan-out timing and size.
const (
	// FanOutTTL is how long an instance holds an update it is writing messages for; each batch
	// extends it, and an instance that dies is replaced once it runs out.
	FanOutTTL = 2 * time.Minute
	// FanOutBatch is how many pledges one batch reads and writes messages for (one insert).
	FanOutBatch = 200
)

// BatchWritten is after a batch's messages are written, before the fan-out records it.
const BatchWritten FaultPoint = "batch_written"

// recipients are the pledges whose backers hear a campaign's updates.
var recipients = []pledge.Status{pledge.StatusActive, pledge.StatusCollected}

// Updates writes updates' messages to the outbox and answers unsubscriptions.
type Updates struct {
	store     UpdateStore
	key       func(ctx context.Context, name string) ([]byte, error)
	publicURL string
	now       backstitch.Clock
	batch     int
	fault     func(FaultPoint) error
}

// NewUpdates builds the fan-out; key gives the server secret that signs unsubscribe links (the
// store's shared secrets, so any instance accepts another's links).
func NewUpdates(store UpdateStore, key func(ctx context.Context, name string) ([]byte, error), publicURL string, now backstitch.Clock) *Updates {
	return &Updates{store: store, key: key, publicURL: publicURL, now: now, batch: FanOutBatch}
}

// SetFaultHook arms a hook called at each fault point; an error it returns stops the fan-out
// there, as a crash would. Only tests arm it.
func (u *Updates) SetFaultHook(hook func(FaultPoint) error) { u.fault = hook }

// Tick writes the messages of every update waiting for them and answers how many it wrote.
func (u *Updates) Tick(ctx context.Context) (int64, error) {
	var written int64
	for ctx.Err() == nil {
		claim := newClaim()
		now := u.now()
		up, err := u.store.ClaimUpdateFanOut(ctx, claim, now, now.Add(FanOutTTL))
		if backstitch.ErrorCode(err) == backstitch.CodeNotFound {
			return written, nil
		}
		if err != nil {
			return written, err
		}
		n, err := u.fanOut(ctx, up, claim)
		written += n
		if backstitch.ErrorCode(err) == backstitch.CodeConflict {
			continue // another instance holds it now and finishes it
		}
		if err != nil {
			return written, err
		}
	}
	return written, ctx.Err()
}

// fanOut writes an update's messages batch by batch, from where the last holder left off.
func (u *Updates) fanOut(ctx context.Context, up update.Update, claim string) (int64, error) {
	log := zerolog.Ctx(ctx).With().Str("update_id", up.ID).Str("campaign_id", up.CampaignID).Logger()
	camp, err := u.store.FindCampaign(ctx, up.CampaignID)
	if err != nil {
		return 0, fmt.Errorf("campaign of update %s: %w", up.ID, err)
	}
	// Read once per claim: an address that leaves while the batches run may still get this one.
	left, err := u.store.Unsubscribed(ctx, camp.ID)
	if err != nil {
		return 0, err
	}
	key, err := u.key(ctx, unsubscribeSecret)
	if err != nil {
		return 0, fmt.Errorf("unsubscribe key: %w", err)
	}
	state := up.FanOut
	var written int64
	for {
		ps, err := u.store.FindPledgesByStatus(ctx, camp.ID, recipients, state.Cursor, u.batch)
		if err != nil {
			return written, err
		}
		now := u.now()
		var batch []Message
		for _, p := range ps {
			// Backers who pledged after the update was posted did not back what it talks about
			// yet; they read it on the campaign page.
			if p.CreatedAt.After(up.CreatedAt) {
				continue
			}
			ek := emailKey(p.Backer.Email)
			if left[ek] {
				continue
			}
			unsub := u.link("/unsubscribe", url.Values{"token": {signUnsubscribe(key, camp.ID, ek)}})
			batch = append(batch, Message{ID: "msg_" + up.ID + "." + ek, Kind: UpdatePosted, To: p.Backer.Email,
				Lang: langOf(p.Locale), Status: StatusQueued, DueAt: now, CreatedAt: now, Unsubscribe: unsub,
				Data: map[string]string{"name": p.Backer.Name, "campaign": camp.Title, "title": up.Title, "body": up.Body,
					"campaign_url": u.link("/campaigns/"+url.PathEscape(camp.Slug), nil), "unsubscribe_url": unsub}})
		}
		if err := u.store.EnqueueMessages(ctx, batch); err != nil {
			return written, err
		}
		if u.fault != nil {
			if err := u.fault(BatchWritten); err != nil {
				return written, err
			}
		}
		written += int64(len(batch))
		state.Written += int64(len(batch))
		if len(ps) > 0 {
			state.Cursor = ps[len(ps)-1].ID
		}
		state.Done = len(ps) < u.batch
		state.ClaimUntil = u.now().Add(FanOutTTL)
		if err := u.store.AdvanceUpdateFanOut(ctx, up.ID, claim, state); err != nil {
			return written, err
		}
		if state.Done {
			log.Info().Int64("messages", state.Written).Msg("update's messages written to the outbox")
			return written, nil
		}
	}
}

func (u *Updates) link(path string, q url.Values) string {
	if len(q) > 0 {
		return u.publicURL + path + "?" + q.Encode()
	}
	return u.publicURL + path
}

// unsubscribeSecret names the server secret unsubscribe links are signed with.
const unsubscribeSecret = "unsubscribe"

// emailKey stands for an address in message ids and unsubscribe links: the same for every
// spelling the store keeps (addresses are stored normalised), and not the address itself, so
// neither shows it.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte("backer\x00" + strings.ToLower(email)))
	return hex.EncodeToString(sum[:16])
}

// signUnsubscribe is the token of an unsubscribe link: campaign, address key, and a MAC of both.
// It needs no state to issue, and only the service can make one.
func signUnsubscribe(key []byte, campaignID, ek string) string {
	return campaignID + "." + ek + "." + unsubscribeMAC(key, campaignID, ek)
}

func unsubscribeMAC(key []byte, campaignID, ek string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("unsubscribe\x00" + campaignID + "\x00" + ek))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckUnsubscribe answers the campaign an unsubscribe token is for; a token the service did not
// sign is not_found.
func (u *Updates) CheckUnsubscribe(ctx context.Context, token string) (campaignID string, err error) {
	campaignID, _, err = u.verify(ctx, token)
	return campaignID, err
}

// Unsubscribe stops the updates of the token's campaign to the token's address, and answers the
// campaign.
func (u *Updates) Unsubscribe(ctx context.Context, token string) (string, error) {
	campaignID, ek, err := u.verify(ctx, token)
	if err != nil {
		return "", err
	}
	if err := u.store.Unsubscribe(ctx, campaignID, ek, u.now()); err != nil {
		return "", err
	}
	zerolog.Ctx(ctx).Info().Str("campaign_id", campaignID).Msg("a backer unsubscribed from a campaign's updates")
	return campaignID, nil
}

func (u *Updates) verify(ctx context.Context, token string) (campaignID, ek string, err error) {
	invalid := backstitch.Errorf(backstitch.CodeNotFound, "This unsubscribe link is not valid.")
	parts := strings.Split(token, ".")
	if len(token) > 256 || len(parts) != 3 || !backstitch.IsID("cam", parts[0]) {
		return "", "", invalid
	}
	key, err := u.key(ctx, unsubscribeSecret)
	if err != nil {
		return "", "", fmt.Errorf("unsubscribe key: %w", err)
	}
	if !hmac.Equal([]byte(parts[2]), []byte(unsubscribeMAC(key, parts[0], parts[1]))) {
		return "", "", invalid
	}
	return parts[0], parts[1], nil
}
