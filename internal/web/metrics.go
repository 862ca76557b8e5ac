package web

import (
	"crypto/subtle"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// observeMetrics records one answered request under its route template, and what it meant for
// pledges and webhooks. Labels are built only from constants and the route table: Fiber's
// c.Method() and c.Path() point into buffers it reuses for the next request, so keeping them as
// label values corrupted the old exposition ("GETC", "POS"), and raw paths would make a series per
// id anyway.
func (s *Server) observeMetrics(c *fiber.Ctx, status int, seconds float64) {
	method, route := s.metricLabels(c)
	s.metrics.ObserveRequest(method, route, status, seconds)
	if method != fiber.MethodPost {
		return
	}
	switch route {
	case "/webhooks/stripe":
		s.metrics.Webhook(status)
	case "/api/v1/campaigns/:id/pledges", "/api/v1/pledges/:id/confirm", "/api/v1/pledges/:id/cancel":
		switch {
		case status >= 400:
			s.metrics.Pledge("rejected")
		case c.GetRespHeader("Idempotent-Replayed") == "true":
			// A retry of a pledge already counted.
		case strings.HasSuffix(route, "/pledges"):
			s.metrics.Pledge("created")
		case strings.HasSuffix(route, "/confirm"):
			s.metrics.Pledge("confirmed")
		default:
			s.metrics.Pledge("cancelled")
		}
	}
}

// endpoint is a route that answers a request, as opposed to a middleware.
type endpoint struct{ method, path string }

// endpointsOf lists the app's endpoints. Fiber does not say whether the route a request ended
// in is an endpoint or a middleware (both carry the request's method), so metrics look it up here.
func endpointsOf(app *fiber.App) map[endpoint]bool {
	out := map[endpoint]bool{}
	for _, r := range app.GetRoutes(true) {
		out[endpoint{r.Method, r.Path}] = true
	}
	return out
}

// metricLabels names the request by its route template. A request that ended in a middleware
// never reached an endpoint: the catch-all 404 is "unmatched", a group's middleware (such as
// authentication failing before the endpoint runs) is its prefix with "/*". The method of an
// unmatched request is mapped to a constant, and any Fiber does not route to "OTHER".
func (s *Server) metricLabels(c *fiber.Ctx) (method, route string) {
	r := c.Route()
	// The catch-all that ends an unmatched request is mounted at "/", which is also the home
	// page's route: only the mark it leaves tells the two apart.
	if unmatched, _ := c.Locals(unmatchedKey).(bool); !unmatched && s.endpoints[endpoint{r.Method, r.Path}] {
		return r.Method, r.Path
	}
	method = "OTHER"
	if i := slices.Index(fiber.DefaultMethods, c.Method()); i >= 0 {
		method = fiber.DefaultMethods[i]
	}
	if r.Path == "/" || r.Path == "" {
		return method, "unmatched"
	}
	return method, strings.TrimSuffix(r.Path, "/") + "/*"
}

// serveMetrics answers /metrics on the public app: only with BACKSTITCH_METRICS_TOKEN as a bearer
// token, since request counts, routes and process details are not for everyone. With no token
// set nobody gets in here; BACKSTITCH_METRICS_ADDR serves them on a private address instead.
func (s *Server) serveMetrics() fiber.Handler {
	h := adaptor.HTTPHandler(s.metrics.Handler())
	return func(c *fiber.Ctx) error {
		token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if s.cfg.MetricsToken == "" || !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.MetricsToken)) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return backstitch.Errorf(backstitch.CodeUnauthenticated,
				"Metrics need the bearer token set in BACKSTITCH_METRICS_TOKEN (or are served on BACKSTITCH_METRICS_ADDR).")
		}
		return h(c)
	}
}
