// Package web is the HTTP face of Backstitch: one Fiber app serving the JSON API under /api/v1,
// health and metrics endpoints, with the backers' HTML pages (internal/pages) mounted on it. It
// maps domain errors to RFC 9457 problem details in one place.
package web

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/console"
	"github.com/backstitch/backstitch/internal/metrics"
	"github.com/backstitch/backstitch/internal/pages"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/pubcache"
	"github.com/backstitch/backstitch/internal/ratelimit"
	"github.com/backstitch/backstitch/internal/update"
	"github.com/backstitch/backstitch/internal/visits"
)

// Store is what the web layer needs from persistence.
type Store interface {
	Ping(ctx context.Context) error

	FindUserByID(ctx context.Context, id string) (account.User, error)
	AppendAudit(ctx context.Context, e backstitch.AuditEntry) error
	ServerSecret(ctx context.Context, name string) ([]byte, error)

	ReserveIdempotencyKey(ctx context.Context, rec backstitch.IdempotencyRecord) (*backstitch.IdempotencyRecord, error)
	CompleteIdempotencyKey(ctx context.Context, id string, status int, contentType string, body []byte, expiresAt time.Time) error
	ReleaseIdempotencyKey(ctx context.Context, id string) error
	TakeOverIdempotencyKey(ctx context.Context, id string, sawLockedUntil, lockedUntil time.Time) (bool, error)

	// FindCampaign serves admin routes only; everything a designer does to a campaign goes
	// through the campaign service, which checks who asks.
	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)
	// FindCampaignBySlug resolves a slug for idempotency scopes only (see idempotencyTarget).
	FindCampaignBySlug(ctx context.Context, slug string) (campaign.Campaign, error)

	StripeEventSeen(ctx context.Context, id string) (bool, error)
	RecordStripeEvent(ctx context.Context, e backstitch.StripeEvent) error
	FindPledge(ctx context.Context, id string) (pledge.Pledge, error)
	FindCampaignPledges(ctx context.Context, campaignID string, fn func(pledge.Pledge) error) error
	FindTier(ctx context.Context, campaignID, tierID string) (campaign.Tier, error)
	FindTiers(ctx context.Context, campaignID string) ([]campaign.Tier, error)
	pledge.RefundStore
	SetStripeAccount(ctx context.Context, userID, accountID string) (account.User, error)
	RecordPayouts(ctx context.Context, accountID string, p account.Payouts) error
	visits.ReportStore
}

// Payments is what the web layer asks of the payment provider directly.
type Payments interface {
	PublishableKey() string
	CreateExpressAccount(ctx context.Context, email, userID, key string) (string, error)
	CreateAccountLink(ctx context.Context, accountID, refreshURL, returnURL string) (string, error)
	ConnectedAccount(ctx context.Context, accountID string) (account.Payouts, error)
	// ParseWebhook verifies a Stripe webhook on its raw body and maps it to the domain.
	ParseWebhook(payload []byte, signature string) (pledge.Event, error)
}

// Server holds the handlers' dependencies.
type Server struct {
	app *fiber.App
	// silent are the connections that have not sent a byte yet (see conns.go).
	silent    silentConns
	store     Store
	pledges   *pledge.Service
	payments  Payments
	log       zerolog.Logger
	cfg       config.Config
	now       backstitch.Clock
	campaigns *campaign.Service
	accounts  *account.Service
	metrics   *metrics.Metrics
	// endpoints are the routes that answer requests, for metrics' route labels.
	endpoints map[endpoint]bool
	recon     Reconciliation
	// cursorKey signs list cursors (see cursor.go).
	cursorKey cursorKey
	// pages are the backers' HTML pages, on the same app; console the designers'.
	pages   *pages.Pages
	console *console.Console
	// public holds rendered public responses (see public.go); cacheControl is their header.
	public *pubcache.Cache
	// pledgeLimit counts pledges per address off the request path (see internal/ratelimit).
	pledgeLimit  ratelimit.Pledges
	cacheControl string
	// updates posts and lists designers' updates (UseUpdates).
	updates *update.Service
}

//go:embed openapi.yaml
var openAPI []byte

// openAPIServer is the document's one server line as written; the served document names the
// running service's BACKSTITCH_PUBLIC_URL there instead, so clients generated from it call
// this deployment.
const openAPIServer = "\n  - url: http://localhost:8080\n"

// openAPIFor is the document as served by a service reachable at publicURL.
func openAPIFor(publicURL string) []byte {
	quoted, _ := json.Marshal(publicURL) // a JSON string is a YAML double-quoted scalar
	return bytes.Replace(openAPI, []byte(openAPIServer), []byte("\n  - url: "+string(quoted)+"\n"), 1)
}

// New builds the Fiber app with every route.
func New(cfg config.Config, store Store, accounts *account.Service, campaigns *campaign.Service, pledges *pledge.Service, payments Payments, recon Reconciliation, pg *pages.Pages, designers *console.Console, public *pubcache.Cache, log zerolog.Logger, now backstitch.Clock, m *metrics.Metrics, pledgeLimit ratelimit.Pledges) *Server {
	s := &Server{
		pages:        pg,
		console:      designers,
		recon:        recon,
		store:        store,
		pledges:      pledges,
		payments:     payments,
		log:          log,
		cfg:          cfg,
		now:          now,
		campaigns:    campaigns,
		accounts:     accounts,
		metrics:      m,
		public:       public,
		pledgeLimit:  pledgeLimit,
		cacheControl: publicCacheControl(cfg.PublicCacheTTL),
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "backstitch",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.RequestTimeout,
		WriteTimeout:          cfg.RequestTimeout,
		IdleTimeout:           2 * time.Minute,
		ProxyHeader:           cfg.ProxyHeader,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// One resource, one spelling: /API/V1/... is not /api/v1/... (it would otherwise be a
		// second path to the same handler, and to anything keyed by the path).
		CaseSensitive: true,
		// Slugs keep the letters of non-Latin titles, which clients send percent-encoded:
		// routes and parameters see the decoded text the slug was stored as. (Idempotency keys
		// are scoped by route template and resolved campaign, not by the raw path.)
		UnescapePath: true,
		// Only the console's image forms take a form upload, parsed on demand behind the CSRF
		// check. Left on, fasthttp parses any multipart/form-data body (buffering it in memory
		// and temporary files) before routing, and a malformed one was refused with a bare 400
		// on every route, JSON routes' 415 included.
		DisablePreParseMultipartForm: true,
	})
	s.app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		zerolog.Ctx(c.UserContext()).Error().Interface("panic", e).Msg("panic in handler")
	}}))
	s.app.Use(requestid.New(requestid.Config{ContextKey: "request_id"}))
	s.app.Use(s.observe)
	s.app.Use(refuseEncodedSlash)
	s.allowUploads()
	s.routes()
	s.endpoints = endpointsOf(s.app)
	return s
}

// refuseEncodedSlash answers 404 for a path with an encoded slash (%2F): with UnescapePath it
// would become a separator, so /campaigns/a%2Fsubmit would reach another route than its
// spelling says. No id or slug contains a slash.
func refuseEncodedSlash(c *fiber.Ctx) error {
	if p := c.Request().URI().PathOriginal(); bytes.Contains(p, []byte("%2f")) || bytes.Contains(p, []byte("%2F")) {
		return backstitch.Errorf(backstitch.CodeNotFound, "Not found.")
	}
	return c.Next()
}

// Routes lists every route as "METHOD /path/:param", HEAD twins left out.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.app.GetRoutes(true) {
		if r.Method != fiber.MethodHead {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// App returns the Fiber app, to listen on or to test.
func (s *Server) App() *fiber.App { return s.app }

// routes registers every route. Each chain starts with query(...), the query parameters the
// route reads (see query.go); group middleware (authentication, the admin check) runs before it.
func (s *Server) routes() {
	s.app.Get("/healthz", query(), func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get("/readyz", query(), s.ready)
	if s.cfg.MetricsAddr == "" {
		s.app.Get("/metrics", query(), s.serveMetrics())
	}

	api := s.app.Group("/api/v1", s.authenticate)
	doc := openAPIFor(s.cfg.PublicURL)
	api.Get("/openapi.yaml", query(), func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		return c.Send(doc)
	})

	api.Post("/designers", query(), s.idempotent, s.signupDesigner)
	api.Get("/me", query(), s.requireUser, s.me)
	api.Put("/me/profile", query(), s.requireUser, s.putProfile)
	api.Get("/designers/me/campaigns", query("limit", "cursor"), s.requireRole(account.RoleDesigner), s.myCampaigns)
	api.Post("/designers/me/payouts/onboarding", query(), s.requireRole(account.RoleDesigner), s.payoutOnboarding)
	api.Post("/sessions", query(), s.login)
	api.Delete("/sessions/current", query(), s.requireUser, s.logout)

	api.Get("/campaigns", query("status", "limit", "cursor"), s.listCampaigns)
	api.Post("/campaigns", query(), s.requireRole(account.RoleDesigner), s.idempotent, s.createCampaign)
	api.Get("/campaigns/:id", query(), s.showCampaign)
	api.Patch("/campaigns/:id", query(), s.requireUser, s.editCampaign)
	api.Post("/campaigns/:id/tiers", query(), s.requireUser, s.idempotent, s.createTier)
	api.Post("/campaigns/:id/updates", query(), s.requireUser, s.idempotent, s.postUpdate)
	api.Get("/campaigns/:id/updates", query(), s.listUpdates)
	api.Patch("/campaigns/:id/tiers/:tier_id", query(), s.requireUser, s.editTier)
	api.Delete("/campaigns/:id/tiers/:tier_id", query(), s.requireUser, s.deleteTier)
	api.Put("/campaigns/:id/cover", query(), s.requireUser, s.putCover)
	api.Delete("/campaigns/:id/cover", query(), s.requireUser, s.deleteCover)
	api.Put("/campaigns/:id/tiers/:tier_id/image", query(), s.requireUser, s.putTierImage)
	api.Delete("/campaigns/:id/tiers/:tier_id/image", query(), s.requireUser, s.deleteTierImage)
	api.Post("/campaigns/:id/tiers/:tier_id/sessions", query(), s.requireUser, s.idempotent, s.createSession)
	api.Patch("/campaigns/:id/tiers/:tier_id/sessions/:session_id", query(), s.requireUser, s.editSession)
	api.Delete("/campaigns/:id/tiers/:tier_id/sessions/:session_id", query(), s.requireUser, s.cancelSession)
	api.Post("/campaigns/:id/submit", query(), s.requireUser, s.transition((*campaign.Service).Submit))
	api.Post("/campaigns/:id/launch", query(), s.requireUser, s.transition((*campaign.Service).Launch))
	api.Post("/campaigns/:id/cancel", query(), s.requireUser, s.transition((*campaign.Service).Cancel))

	api.Post("/campaigns/:id/pledges", query(), s.idempotentByResource, s.createPledge)
	api.Get("/pledges/:id", query(), s.showPledge)
	api.Patch("/pledges/:id", query(), s.changePledge)
	api.Post("/pledges/:id/confirm", query(), s.confirmPledge)
	api.Post("/pledges/:id/cancel", query(), s.cancelPledge)
	api.Post("/pledges/:id/payment-method", query(), s.fixPayment)
	api.Get("/pledges/:id/session.ics", query(), s.sessionCalendar)
	api.Get("/pledges/:id/export", query(), s.exportPledge)
	api.Post("/pledges/:id/erase", query(), s.erasePledge)
	api.Get("/pledges/:id/survey", query(), s.showSurvey)
	api.Post("/pledges/:id/survey", query(), s.answerSurvey)
	api.Get("/campaigns/:id/survey", query(), s.requireUser, s.surveyReport)
	api.Get("/campaigns/:id/settlement", query(), s.requireUser, s.showSettlement)
	api.Get("/campaigns/:id/sources", query(), s.requireUser, s.showSources)
	api.Get("/campaigns/:id/pledges", query("limit", "cursor"), s.requireUser, s.listBackers)
	api.Patch("/campaigns/:id/pledges/:pledge_id/fulfilment", query(), s.requireUser, s.setFulfilment)
	api.Post("/campaigns/:id/fulfilment.csv", query("dry_run"), s.requireUser, s.importShipments)
	api.Get("/campaigns/:id/exports/backers.csv", query(), s.requireUser, s.exportBackers)
	api.Get("/campaigns/:id/pledges.csv", query(), s.requireUser, s.exportBackers)
	api.Get("/campaigns/:id/exports/packing.csv", query(), s.requireUser, s.exportPacking)
	api.Get("/campaigns/:id/tiers/:tier_id/sessions/:session_id/attendance.csv", query(), s.requireUser, s.exportAttendance)

	s.pages.Mount(s.app)
	s.console.Mount(s.app)
	s.app.Get("/designer/campaigns/:id/backers.csv", query(), s.consoleDesigner, s.exportBackers)
	s.app.Get("/designer/campaigns/:id/packing.csv", query(), s.consoleDesigner, s.exportPacking)
	s.app.Get("/designer/campaigns/:id/tiers/:tier_id/sessions/:session_id/attendance.csv", query(), s.consoleDesigner, s.exportAttendance)
	s.app.Get("/images/:id/:file", query(), s.serveImage)

	s.app.Post("/webhooks/stripe", query(), s.stripeWebhook)
	s.app.Get("/payouts/done", query(), s.payoutDone)
	s.app.Get("/payouts/refresh", query("account", "expires", "sig"), s.payoutRefresh)

	admin := api.Group("/admin", s.requireRole(account.RoleAdmin))
	admin.Get("/campaigns", query("status", "limit", "cursor"), s.adminListCampaigns)
	admin.Post("/campaigns/:id/approve", query(), s.transition((*campaign.Service).Approve))
	admin.Post("/campaigns/:id/reject", query(), s.transition((*campaign.Service).Reject))
	admin.Get("/pledges/:id", query(), s.adminShowPledge)
	admin.Post("/campaigns/:id/settle", query(), s.adminSettle)
	admin.Post("/pledges/:id/refunds", query(), s.idempotent, s.adminRefund)
	admin.Get("/reconciliations", query("status", "campaign_id", "limit", "cursor"), s.listReconciliations)
	admin.Post("/reconciliations", query(), s.idempotent, s.startReconciliation)
	admin.Get("/reconciliations/:id", query("format", "status", "kind", "limit", "cursor"), s.showReconciliation)
	admin.Post("/reconciliations/:id/findings/:finding_id/resolve", query(), s.resolveFinding)
	admin.Get("/audit-log", query("action", "target", "actor", "limit", "cursor"), s.auditLog)
	admin.Get("/users", query(), s.listAdmins)
	admin.Post("/users/invitations", query(), s.idempotent, s.inviteAdmin)
	admin.Post("/users/:id/disable", query(), s.disableAdmin)

	// No route matched. Letting the stack end makes Fiber answer 404, or 405 with an Allow header
	// listing the methods the path does have (it checks the other methods' routes, which it only
	// does when no route of the request's method matched).
	s.app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		if fe, ok := errors.AsType[*fiber.Error](err); ok {
			switch fe.Code {
			case http.StatusNotFound:
				c.Locals(unmatchedKey, true)
				if wantsPage(c) {
					return s.pages.NotFound(c)
				}
				return backstitch.Errorf(backstitch.CodeNotFound, "No route for %s %s.", c.Method(), c.Path())
			case http.StatusMethodNotAllowed:
				c.Locals(unmatchedKey, true)
				return backstitch.Errorf(backstitch.CodeMethodNotAllowed, "%s %s is not supported; see the Allow header.", c.Method(), c.Path())
			}
		}
		return err
	})
}

// unmatchedKey marks a request no route answered, for its metrics label.
const unmatchedKey = "unmatched"

// wantsPage reports whether a request no route answers came from a browser navigating outside the
// API: it gets the 404 page rather than a problem document.
func wantsPage(c *fiber.Ctx) bool {
	return (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) &&
		!strings.HasPrefix(c.Path(), "/api/") && strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

func (s *Server) ready(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		zerolog.Ctx(c.UserContext()).Warn().Err(err).Msg("store not reachable")
		return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "store": "unreachable"})
	}
	return c.JSON(fiber.Map{"status": "ready", "store": "ok"})
}

// observe gives each request a logger carrying its id, a deadline, and a log line and metrics
// when it ends. Query strings are not logged: they may carry tokens.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	id, _ := c.Locals("request_id").(string)
	ctx := newRequestContext(c.UserContext(), s.cfg.RequestTimeout, id, &s.log)
	defer ctx.end()
	c.SetUserContext(ctx)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(c.Path(), "/api/") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	err := c.Next()
	if err != nil {
		// Handle here rather than after the stack returns, so the status is known for the log line.
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	elapsed := time.Since(start)
	s.observeMetrics(c, status, elapsed.Seconds())
	ev := s.log.Info()
	if status >= 500 {
		ev = s.log.Error()
	}
	if !ev.Enabled() {
		// Below the log level: the fields would be formatted for nothing (the address alone is
		// an allocation on every request).
		return nil
	}
	ev.Str("request_id", id).Str("method", c.Method()).Str("route", route).Str("path", c.Path()).Int("status", status).
		Float64("duration_ms", ms(elapsed)).Str("ip", c.IP()).Msg("request")
	return nil
}

var statusOf = map[backstitch.Code]int{
	backstitch.CodeValidation:              http.StatusUnprocessableEntity,
	backstitch.CodeNotFound:                http.StatusNotFound,
	backstitch.CodeUnauthenticated:         http.StatusUnauthorized,
	backstitch.CodeForbidden:               http.StatusForbidden,
	backstitch.CodeConflict:                http.StatusConflict,
	backstitch.CodeInvalidState:            http.StatusConflict,
	backstitch.CodeCampaignLocked:          http.StatusConflict,
	backstitch.CodeTierHasBackers:          http.StatusConflict,
	backstitch.CodeSoldOut:                 http.StatusConflict,
	backstitch.CodeCampaignNotLive:         http.StatusConflict,
	backstitch.CodeCurrencyMismatch:        http.StatusUnprocessableEntity,
	backstitch.CodeAmountBelowTierPrice:    http.StatusUnprocessableEntity,
	backstitch.CodeShippingAddressRequired: http.StatusUnprocessableEntity,
	backstitch.CodePaymentFailed:           http.StatusPaymentRequired,
	backstitch.CodePaymentProvider:         http.StatusBadGateway,
	backstitch.CodeProviderRejected:        http.StatusUnprocessableEntity,
	backstitch.CodeProviderObjectMissing:   http.StatusConflict,
	backstitch.CodeRefundExceedsRemaining:  http.StatusUnprocessableEntity,
	backstitch.CodeNotDue:                  http.StatusConflict,
	backstitch.CodeIdempotencyKeyRequired:  http.StatusBadRequest,
	backstitch.CodeInvalidSignature:        http.StatusBadRequest,
	backstitch.CodeUnsupportedAPIVersion:   http.StatusBadRequest,
	backstitch.CodeMalformedEvent:          http.StatusBadRequest,
	backstitch.CodeEmailTaken:              http.StatusConflict,
	backstitch.CodeLastAdmin:               http.StatusConflict,
	backstitch.CodeRateLimited:             http.StatusTooManyRequests,
	backstitch.CodeIdempotencyReused:       http.StatusUnprocessableEntity,
	backstitch.CodeIdempotencyInFlight:     http.StatusConflict,
	backstitch.CodeBodyTooLarge:            http.StatusRequestEntityTooLarge,
	backstitch.CodeHeadersTooLarge:         http.StatusRequestHeaderFieldsTooLarge,
	backstitch.CodeMalformed:               http.StatusBadRequest,
	backstitch.CodeUnsupportedMedia:        http.StatusUnsupportedMediaType,
	backstitch.CodeMethodNotAllowed:        http.StatusMethodNotAllowed,
	backstitch.CodeUnavailable:             http.StatusServiceUnavailable,
	backstitch.CodeInternal:                http.StatusInternalServerError,
}

// problem is an RFC 9457 problem details document.
type problem struct {
	Type      string                  `json:"type"`
	Title     string                  `json:"title"`
	Status    int                     `json:"status"`
	Detail    string                  `json:"detail"`
	Code      backstitch.Code         `json:"code"`
	Instance  string                  `json:"instance"`
	RequestID string                  `json:"request_id,omitempty"`
	Errors    []backstitch.FieldError `json:"errors"`
	// ProviderCode is Stripe's error code when Stripe refused the request.
	ProviderCode string `json:"provider_code,omitempty"`
}

// handleError is the only place errors become HTTP responses. Internal errors are logged once,
// here, and the client sees a generic message and the request id to quote.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	e, ok := errors.AsType[*backstitch.Error](err)
	status := 0
	if fe, isFiber := errors.AsType[*fiber.Error](err); !ok && isFiber {
		e, ok, status = fromFiber(fe), true, fe.Code
	}
	if !ok {
		log := zerolog.Ctx(c.UserContext())
		if errors.Is(err, context.DeadlineExceeded) {
			log.Error().Err(err).Msg("request timed out")
			e = backstitch.Errorf(backstitch.CodeUnavailable, "The request took too long. Please try again.")
			e.RetryAfter = timedOutRetryAfter
		} else {
			log.Error().Err(err).Msg("internal error")
			e = backstitch.Errorf(backstitch.CodeInternal, "Something went wrong on our side. Please try again; if it persists, quote the request id.")
		}
	}
	if ok && e.Code == backstitch.CodeUnavailable {
		// The store or a dependency was unreachable: the client is told to come back, operators
		// see why.
		zerolog.Ctx(c.UserContext()).Warn().Err(err).Msg("unavailable")
	}
	if known, ok := statusOf[e.Code]; ok || status == 0 {
		status = known
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	id, _ := c.Locals("request_id").(string)
	fields := e.Fields
	if fields == nil {
		fields = []backstitch.FieldError{}
	}
	c.Status(status)
	if e.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(e.RetryAfter.Round(time.Second).Seconds())))
	}
	if s.console != nil && console.Owns(c.Path()) {
		// The consoles are pages for people: their errors are pages too, whichever layer
		// refused the request.
		return s.console.ErrorPage(c, status)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	body, merr := jsonMarshal(problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: e.Message,
		Code: e.Code, Instance: c.Path(), RequestID: id, Errors: fields, ProviderCode: e.ProviderCode,
	})
	if merr != nil {
		return merr
	}
	return c.Send(body)
}

// timedOutRetryAfter is what a client is told to wait after its request ran out of time: like
// every 503, it says when to come back (the store's own outages say the same, 2 s). A request
// waiting on a store that stopped answering runs out of time before the store's error arrives.
const timedOutRetryAfter = 2 * time.Second

func fromFiber(fe *fiber.Error) *backstitch.Error {
	switch fe.Code {
	case http.StatusNotFound:
		return backstitch.Errorf(backstitch.CodeNotFound, "Not found.")
	case http.StatusRequestEntityTooLarge:
		return backstitch.Errorf(backstitch.CodeBodyTooLarge, "The request body is too large.")
	case http.StatusRequestHeaderFieldsTooLarge:
		return backstitch.Errorf(backstitch.CodeHeadersTooLarge, "The request line and headers are too large.")
	case http.StatusBadRequest:
		return backstitch.Errorf(backstitch.CodeMalformed, "The request is malformed.")
	case http.StatusRequestTimeout:
		e := backstitch.Errorf(backstitch.CodeUnavailable, "The request took too long.")
		e.RetryAfter = timedOutRetryAfter
		return e
	}
	return &backstitch.Error{Code: backstitch.Code(strings.ReplaceAll(strings.ToLower(http.StatusText(fe.Code)), " ", "_")), Message: fe.Message}
}

// ms is a duration in milliseconds for a log field named *_ms: the unit is in the name, so
// nobody reading a log line has to know zerolog's global duration unit.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
