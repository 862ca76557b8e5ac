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
	// localAnswerKept is set by a handler whose created resource keeps its own answer (see
	// idempotentKept): no response is stored for the key.
	localAnswerKept = "idempotency_answer_kept"
)

// idempotent makes a create request safe to retry (see runIdempotent).
func (s *Server) idempotent(c *fiber.Ctx) error { return s.runIdempotent(c, nil) }

// idempotentKept is idempotent for a route whose created resource keeps its own answer, which
// replay writes: a retry of a request that created it gets it from the resource (found by the
// request's scope and body) rather than from a stored response, so the request writes one
// document less, and a retry whose first run was applied but could not answer (its reply lost,
// its key released) still gets that answer.
func (s *Server) idempotentKept(replay func(c *fiber.Ctx) (bool, error)) fiber.Handler {
	return func(c *fiber.Ctx) error { return s.runIdempotent(c, replay) }
}

// runIdempotent makes a create request safe to retry: with an Idempotency-Key header, the first
// response is stored and replayed byte for byte to every retry with the same key and body (or,
// with replay, answered by what the request created); the same key with another body is refused,
// and a retry while the first is still running gets 409.
// Keys are scoped to the caller (session user, or anonymous) and to what the request acts on: the
// route's template and the campaign it names, resolved to its id. Another spelling of the same
// path (a slug for the id) is the same request, not a second one.
func (s *Server) runIdempotent(c *fiber.Ctx, replay func(c *fiber.Ctx) (bool, error)) error {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return c.Next()
	}
	if len(key) > maxIdempotencyKey {
		return backstitch.Errorf(backstitch.CodeValidation, "Idempotency-Key must be at most %d characters.", maxIdempotencyKey)
	}
	// Anonymous keys (backers pledging) are not tied to an address, which changes on phones:
	// a replay needs the key and the identical body, and keys are random.
	caller := "anonymous"
	if sess, ok := session(c); ok {
		caller = "user:" + sess.UserID
	}
	ctx := c.UserContext()
	target, err := s.idempotencyTarget(c)
	if err != nil {
		return err
	}
	id := hashOf(caller, c.Method(), target, key)
	requestHash := hashOf(string(c.Body()))
	now := s.now()
	lockedUntil := now.Add(s.cfg.RequestTimeout + 5*time.Second)
	existing, err := s.store.ReserveIdempotencyKey(ctx, backstitch.IdempotencyRecord{
		ID: id, RequestHash: requestHash, CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL), LockedUntil: lockedUntil,
	})
	if err != nil {
		return err
	}
	// Handlers that create something derive its id from this scope, so a resumed request finds
	// the work its crashed predecessor started instead of starting over.
	c.Locals(localIdempotencyScope, id)
	c.Locals(localRequestHash, requestHash)
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
		if replay != nil {
			// No stored response: the request's first run may have created what keeps it.
			if replayed, err := replay(c); err != nil || replayed {
				if replayed {
					c.Set("Idempotent-Replayed", "true")
				}
				return err
			}
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
	if kept, _ := c.Locals(localAnswerKept).(bool); kept {
		return nil
	}
	sealed, err := sealBody(key, id, c.Response().Body())
	if err != nil {
		return err
	}
	return s.store.CompleteIdempotencyKey(ctx, id, status, string(c.Response().Header.ContentType()), sealed, now.Add(s.cfg.IdempotencyTTL))
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
			camp, err := s.store.FindCampaignBySlug(c.UserContext(), v)
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
