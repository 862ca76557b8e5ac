package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

const (
	maxIdempotencyKey     = 255
	localIdempotencyScope = "idempotency_scope"
	localRequestHash      = "idempotency_request_hash"
	// localCampaign is the campaign idempotencyTarget read to resolve a slug: the handler uses
	// it rather than reading it again.
	localCampaign = "idempotency_campaign"
)

// idempotent makes a create request safe to retry: with an Idempotency-Key header, the first
// response is stored and replayed byte for byte to every retry with the same key and body; the
// same key with another body is refused, and a retry while the first is still running gets 409.
func (s *Server) idempotent(c *fiber.Ctx) error {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return c.Next()
	}
	id, requestHash, err := s.idempotencyScope(c, key)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	now := s.now()
	lockedUntil := now.Add(s.cfg.RequestTimeout + 5*time.Second)
	existing, err := s.store.ReserveIdempotencyKey(ctx, backstitch.IdempotencyRecord{
		ID: id, RequestHash: requestHash, CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL), LockedUntil: lockedUntil,
	})
	if err != nil {
		return err
	}
	if existing != nil {
		switch {
		case existing.RequestHash != requestHash:
			return backstitch.Errorf(backstitch.CodeIdempotencyReused, "This Idempotency-Key was used for a different request. Use a new key for a new request.")
		case existing.Done:
			body, err := openBody(key, id, existing.Body)
			if err != nil {
				return err
			}
			c.Set("Idempotent-Replayed", "true")
			c.Set(fiber.HeaderContentType, existing.ContentType)
			return c.Status(existing.Status).Send(body)
		}
		won := false
		if existing.LockedUntil.Before(now) {
			if won, err = s.store.TakeOverIdempotencyKey(ctx, id, existing.LockedUntil, lockedUntil); err != nil {
				return err
			}
		}
		if !won {
			c.Set(fiber.HeaderRetryAfter, "1")
			return backstitch.Errorf(backstitch.CodeIdempotencyInFlight, "A request with this Idempotency-Key is still being processed. Retry shortly.")
		}
	}
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	// Record the outcome even if the request's own deadline has passed, or the key stays stuck.
	ctx = context.WithoutCancel(ctx)
	status := c.Response().StatusCode()
	// A server-side failure or a rate limit is not the answer to this request, only to this
	// moment: the key is released and the client's retry runs the request again, resuming
	// whatever it had started (ids derive from the key). Anything else is the answer for this key.
	if status >= http.StatusInternalServerError || status == http.StatusTooManyRequests {
		if err := s.store.ReleaseIdempotencyKey(ctx, id); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("release idempotency key")
		}
		return nil
	}
	sealed, err := sealBody(key, id, c.Response().Body())
	if err != nil {
		return err
	}
	return s.store.CompleteIdempotencyKey(ctx, id, status, string(c.Response().Header.ContentType()), sealed, now.Add(s.cfg.IdempotencyTTL))
}

// idempotentByResource is idempotent for a route whose created resource is the key's record: it
// writes no record, only scopes the key (the handler derives the resource's id from the scope,
// and keeps the request's body hash and its answer on it, sealed under the client's key). The
// resource's unique id makes two runs of one key create one; a retry, or the same key with
// another body, finds it by that id. One insert per request less than idempotent.
func (s *Server) idempotentByResource(c *fiber.Ctx) error {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return c.Next()
	}
	if _, _, err := s.idempotencyScope(c, key); err != nil {
		return err
	}
	return c.Next()
}

// idempotencyScope names an Idempotency-Key's request: id is the key's scope, the caller
// (session user, or anonymous) and what the request acts on (the route's template and the
// campaign it names, resolved to its id: another spelling of the same path, a slug for the id, is
// the same request, not a second one), and requestHash the body's. Both are left in the locals:
// handlers that create something derive its id from the scope, so a resumed request finds the
// work its crashed predecessor started instead of starting over.
func (s *Server) idempotencyScope(c *fiber.Ctx, key string) (id, requestHash string, err error) {
	if len(key) > maxIdempotencyKey {
		return "", "", backstitch.Errorf(backstitch.CodeValidation, "Idempotency-Key must be at most %d characters.", maxIdempotencyKey)
	}
	// Anonymous keys (backers pledging) are not tied to an address, which changes on phones:
	// a replay needs the key and the identical body, and keys are random.
	caller := "anonymous"
	if sess, ok := session(c); ok {
		caller = "user:" + sess.UserID
	}
	target, err := s.idempotencyTarget(c)
	if err != nil {
		return "", "", err
	}
	id = hashOf(caller, c.Method(), target, key)
	requestHash = hashOf(string(c.Body()))
	c.Locals(localIdempotencyScope, id)
	c.Locals(localRequestHash, requestHash)
	return id, requestHash, nil
}

// idempotencyTarget names what a request acts on, whatever its spelling: the route template with
// each parameter, a campaign's slug resolved to its id. A campaign that cannot be resolved keeps
// the parameter as sent; the handler answers for it (not found).
func (s *Server) idempotencyTarget(c *fiber.Ctx) (string, error) {
	route := c.Route()
	parts := []string{route.Path}
	for _, name := range route.Params {
		v := c.Params(name)
		if name == "id" && strings.HasPrefix(route.Path, "/api/v1/campaigns/") && !backstitch.IsID("cam", v) {
			// A pledge, the busiest route here, may use a copy (see pledge.CopyTTL); the scope
			// needs only the id, which a slug never changes.
			camp, err := s.pledges.CampaignCopy(c.UserContext(), v)
			switch {
			case err == nil:
				v = camp.ID
				c.Locals(localCampaign, &camp)
			case backstitch.ErrorCode(err) != backstitch.CodeNotFound:
				return "", err
			}
		}
		parts = append(parts, name+"="+v)
	}
	return strings.Join(parts, "\x00"), nil
}

// keySealer seals a secret kept with what a request created under the client's Idempotency-Key,
// as sealBody seals a stored response.
type keySealer struct{ clientKey, recordID string }

func (k keySealer) Seal(plain []byte) ([]byte, error) {
	return sealBody(k.clientKey, k.recordID, plain)
}

func (k keySealer) Open(sealed []byte) ([]byte, error) {
	return openBody(k.clientKey, k.recordID, sealed)
}

// sealBody encrypts a stored response under a key derived from the client's Idempotency-Key,
// which the server never stores (records are keyed by a hash of it). Responses can hold secrets
// shown once, such as a pledge's manage token: a database reader cannot replay them, while the
// client that holds the key gets the identical response back.
func sealBody(clientKey, recordID string, body []byte) ([]byte, error) {
	aead, err := bodyCipher(clientKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal idempotent response: %w", err)
	}
	return aead.Seal(nonce, nonce, body, []byte(recordID)), nil
}

func openBody(clientKey, recordID string, sealed []byte) ([]byte, error) {
	aead, err := bodyCipher(clientKey)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("open idempotent response: too short")
	}
	body, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(recordID))
	if err != nil {
		return nil, fmt.Errorf("open idempotent response: %w", err)
	}
	return body, nil
}

func bodyCipher(clientKey string) (cipher.AEAD, error) {
	k := sha256.Sum256([]byte("backstitch idempotent response\x00" + clientKey))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("idempotent response cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
