package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// A request that ran out of time (a store that stopped answering, a wait on another request's
// read of it) is a 503 that says when to come back, as every 503 does: clients and the pages
// retry on Retry-After.
func TestATimedOutRequestIsA503WithRetryAfter(t *testing.T) {
	s := &Server{}
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	app.Get("/deadline", func(*fiber.Ctx) error { return fmt.Errorf("read campaign: %w", context.DeadlineExceeded) })
	app.Get("/408", func(*fiber.Ctx) error { return fiber.ErrRequestTimeout })
	for _, path := range []string{"/deadline", "/408"} {
		res, err := app.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 503 || res.Header.Get("Retry-After") != "2" {
			t.Errorf("%s: %d, Retry-After %q; want 503 with Retry-After 2", path, res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
}
