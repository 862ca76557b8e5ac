// Package metrics holds the service's Prometheus registry and the counters several adapters add
// to: HTTP requests (web), pledges and webhooks (web, from handlers' outcomes), charges and
// Stripe requests (stripepay). One registry per App, never the global one, so two instances in
// one test process keep separate counts.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one instance's registry and collectors. A nil *Metrics counts nothing, for parts
// built without one (tests of a single adapter, benchmarks).
type Metrics struct {
	registry *prometheus.Registry

	requests       *prometheus.HistogramVec
	pledges        *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
	charges        *prometheus.CounterVec
	stripeRequests *prometheus.CounterVec
	stripeErrors   *prometheus.CounterVec
}

// New registers every collector, the Go runtime's and the process's included.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "backstitch_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method, route template and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"method", "route", "status"}),
		pledges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backstitch_pledges_total",
			Help: "Pledge requests answered, by outcome: created, confirmed, cancelled, or rejected (any 4xx/5xx).",
		}, []string{"outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backstitch_webhooks_total",
			Help: "Stripe webhook deliveries received, by the status they were answered with.",
		}, []string{"status"}),
		charges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backstitch_charges_total",
			Help: "PaymentIntents created or confirmed at Stripe, by resulting status (succeeded, requires_action, declined, error, ...).",
		}, []string{"outcome"}),
		stripeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backstitch_stripe_requests_total",
			Help: "HTTP requests sent to Stripe (stripe-go's own retries included), by method and resource.",
		}, []string{"method", "resource"}),
		stripeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backstitch_stripe_errors_total",
			Help: "Stripe requests that failed, by method, resource and HTTP status (\"network\" when none came back).",
		}, []string{"method", "resource", "status"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.pledges, m.webhooks, m.charges, m.stripeRequests, m.stripeErrors,
	)
	return m
}

// Handler serves the exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry is for tests that gather directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveRequest records one answered request. Every label must be a string the caller owns:
// Prometheus keeps label values, and Fiber's strings point into buffers it reuses, which is how
// the old exposition came to show "GETC" and "POS" (see web.observe).
func (m *Metrics) ObserveRequest(method, route string, status int, seconds float64) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Observe(seconds)
}

// Pledge counts a pledge request's outcome.
func (m *Metrics) Pledge(outcome string) {
	if m != nil {
		m.pledges.WithLabelValues(outcome).Inc()
	}
}

// Webhook counts a webhook delivery answered with status.
func (m *Metrics) Webhook(status int) {
	if m != nil {
		m.webhooks.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

// Charge counts a PaymentIntent's outcome.
func (m *Metrics) Charge(outcome string) {
	if m != nil {
		m.charges.WithLabelValues(outcome).Inc()
	}
}

// StripeRequest counts a request to Stripe; status 0 means no answer came back. A status of 400
// or more, or none, is also counted as an error.
func (m *Metrics) StripeRequest(method, resource string, status int) {
	if m == nil {
		return
	}
	m.stripeRequests.WithLabelValues(method, resource).Inc()
	switch {
	case status == 0:
		m.stripeErrors.WithLabelValues(method, resource, "network").Inc()
	case status >= 400:
		m.stripeErrors.WithLabelValues(method, resource, strconv.Itoa(status)).Inc()
	}
}
