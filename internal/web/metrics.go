package web

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// metrics counts requests per route and status in the Prometheus text format. It is process-local
// by nature: each instance is scraped on its own.
type metrics struct {
	mu      sync.Mutex
	started time.Time
	count   map[metricKey]int64
	seconds map[metricKey]float64
}

type metricKey struct {
	method, route string
	status        int
}

func newMetrics() *metrics {
	return &metrics{started: time.Now(), count: map[metricKey]int64{}, seconds: map[metricKey]float64{}}
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	k := metricKey{method, route, status}
	m.mu.Lock()
	m.count[k]++
	m.seconds[k] += d.Seconds()
	m.mu.Unlock()
}

func (s *Server) serveMetrics(c *fiber.Ctx) error {
	m := s.metrics
	m.mu.Lock()
	keys := make([]metricKey, 0, len(m.count))
	for k := range m.count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.method != b.method {
			return a.method < b.method
		}
		return a.status < b.status
	})
	var b strings.Builder
	b.WriteString("# HELP backstitch_http_requests_total HTTP requests by route and status.\n# TYPE backstitch_http_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "backstitch_http_requests_total{method=%q,route=%q,status=\"%d\"} %d\n", k.method, k.route, k.status, m.count[k])
	}
	b.WriteString("# HELP backstitch_http_request_duration_seconds_sum Time spent serving requests.\n# TYPE backstitch_http_request_duration_seconds_sum counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "backstitch_http_request_duration_seconds_sum{method=%q,route=%q,status=\"%d\"} %g\n", k.method, k.route, k.status, m.seconds[k])
	}
	fmt.Fprintf(&b, "# HELP backstitch_uptime_seconds Seconds since the process started.\n# TYPE backstitch_uptime_seconds gauge\nbackstitch_uptime_seconds %g\n", time.Since(m.started).Seconds())
	m.mu.Unlock()
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4")
	return c.SendString(b.String())
}
