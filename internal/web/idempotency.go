package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

const maxIdempotencyKey = 255

// idempotent makes a create request safe to retry: with an Idempotency-Key header, the first
// response is stored and replayed byte for byte to every retry with the same key and body; the same
// key with another body is refused, and a retry while the first is still running gets 409.
// Keys are scoped to the caller (session user, or address when anonymous) and the route.
func (s *Server) idempotent(c *fiber.Ctx) error {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return c.Next()
	}
	if len(key) > maxIdempotencyKey {
		return backstitch.Errorf(backstitch.CodeValidation, "Idempotency-Key must be at most %d characters.", maxIdempotencyKey)
	}
	caller := "addr:" + c.IP()
	if sess, ok := session(c); ok {
		caller = "user:" + sess.UserID
	}
	id := hashOf(caller, c.Method(), c.Path(), key)
	now := s.now()
	ctx := c.UserContext()
	existing, err := s.store.ReserveIdempotencyKey(ctx, backstitch.IdempotencyRecord{
		ID: id, RequestHash: hashOf(string(c.Body())), CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL),
	})
	if err != nil {
		return err
	}
	if existing != nil {
		switch {
		case existing.RequestHash != hashOf(string(c.Body())):
			return backstitch.Errorf(backstitch.CodeIdempotencyReused, "This Idempotency-Key was used for a different request. Use a new key for a new request.")
		case !existing.Done:
			c.Set(fiber.HeaderRetryAfter, "1")
			return backstitch.Errorf(backstitch.CodeIdempotencyInFlight, "A request with this Idempotency-Key is still being processed. Retry shortly.")
		}
		c.Set("Idempotent-Replayed", "true")
		c.Set(fiber.HeaderContentType, existing.ContentType)
		return c.Status(existing.Status).Send(existing.Body)
	}
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	// Record the outcome even if the request's own deadline has passed, or the key stays stuck.
	ctx = context.WithoutCancel(ctx)
	status := c.Response().StatusCode()
	// A server-side failure changed nothing (every write is one atomic step), so the key is released
	// and the client's retry runs the request again; anything else is the answer for this key.
	if status >= http.StatusInternalServerError {
		if err := s.store.ReleaseIdempotencyKey(ctx, id); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("release idempotency key")
		}
		return nil
	}
	body := append([]byte(nil), c.Response().Body()...)
	return s.store.CompleteIdempotencyKey(ctx, id, status, string(c.Response().Header.ContentType()), body)
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
