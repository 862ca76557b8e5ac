package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// A form whose effect must happen once however often it is sent (a refund, an update every
// backer is mailed) carries a key of its own, made when the form is shown. The effect runs only
// after the key is reserved in the idempotency collection the API's Idempotency-Key uses; a
// failed effect gives the key back, so the same form may be sent again once what stopped it is
// fixed.

// newFormKey is a fresh key for one form: 128 random bits, 32 hex characters.
func newFormKey() (string, error) {
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return hex.EncodeToString(key), nil
}

// validFormKey says whether key is one newFormKey could have made.
func validFormKey(key string) bool {
	if len(key) != 32 {
		return false
	}
	_, err := hex.DecodeString(key)
	return err == nil
}

// onceOutcome is what once did with a form.
type onceOutcome int

const (
	// ranNow: the effect ran, now, and succeeded.
	ranNow onceOutcome = iota
	// ranBefore: the same form (same key, same values) was carried out already.
	ranBefore
	// inFlightOrDifferent: the key is being carried out right now, or was used with other values.
	inFlightOrDifferent
)

// once runs effect at most once for the form identified by id (a hash of who, what and the form's
// key) with values hashed into requestHash, remembering it for ttl. An effect that fails releases
// the key and returns its error.
func (k *Console) once(ctx context.Context, id, requestHash string, ttl time.Duration, effect func() error) (onceOutcome, error) {
	store := k.admins.Store
	now := k.now()
	existing, err := store.ReserveIdempotencyKey(ctx, backstitch.IdempotencyRecord{ID: id, RequestHash: requestHash,
		CreatedAt: now, ExpiresAt: now.Add(ttl), LockedUntil: now.Add(ttl)})
	if err != nil {
		return 0, err
	}
	if existing != nil {
		if existing.Done && existing.RequestHash == requestHash {
			return ranBefore, nil
		}
		return inFlightOrDifferent, nil
	}
	if err := effect(); err != nil {
		if rerr := store.ReleaseIdempotencyKey(ctx, id); rerr != nil {
			return 0, errors.Join(err, rerr)
		}
		return 0, err
	}
	return ranNow, store.CompleteIdempotencyKey(ctx, id, http.StatusSeeOther, "", nil, now.Add(ttl))
}
