//go:build !production

package app_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

const metricsToken = "metrics-token-0123456789"

// scrape reads /metrics with the token and parses the exposition.
func (s *service) scrape(url string) map[string]*dto.MetricFamily {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		s.t.Fatalf("GET %s → %d: %s", url, res.StatusCode, b)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		s.t.Fatalf("exposition does not parse: %v", err)
	}
	return families
}

type series struct{ method, route, status string }

// requestCounts is the number of observations of the request histogram by its labels.
func requestCounts(families map[string]*dto.MetricFamily) map[series]uint64 {
	out := map[series]uint64{}
	f := families["backstitch_http_request_duration_seconds"]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var k series
		for _, l := range m.Label {
			switch l.GetName() {
			case "method":
				k.method = l.GetValue()
			case "route":
				k.route = l.GetValue()
			case "status":
				k.status = l.GetValue()
			}
		}
		out[k] += m.GetHistogram().GetSampleCount()
	}
	return out
}

func counter(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, m := range f.Metric {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == labels[i] && l.GetValue() == labels[i+1] }) {
				match = false
			}
		}
		if match {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// Fiber hands out strings that point into buffers it reuses: kept as label values they turned into
// "GETC" and "POS", and raw paths made a series per id. Requests of every length of method and
// path, sent at once, must land under exactly their route template with exact counts.
func TestMetricsCountEveryRequestUnderItsRouteTemplate(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_METRICS_TOKEN": metricsToken})
	c := s.pledgeSetup("flexible", 10)
	s.waitWebhooks()
	before := requestCounts(s.scrape(s.base + "/metrics"))

	type probe struct{ method, path, route string }
	probes := []probe{
		{"GET", "/healthz", "/healthz"},
		{"HEAD", "/healthz", "/healthz"},
		{"GET", "/api/v1/campaigns/no-such-campaign-%d", "/api/v1/campaigns/:id"},
		{"PATCH", "/api/v1/campaigns/cam_%d", "/api/v1/campaigns/:id"},
		{"POST", "/api/v1/campaigns/" + c.slug + "/pledges", "/api/v1/campaigns/:id/pledges"},
		{"DELETE", "/no/such/path/%d", "unmatched"},
		// The home page's route is "/", like the catch-all that ends unmatched requests.
		{"GET", "/no/such/page/%d", "unmatched"},
		{"GET", "/", "/"},
		{"OPTIONS", "/healthz", "unmatched"},
		{"GET", "/metrics", "/metrics"}, // no token: 401
		{"POST", "/api/v1/pledges/plg_%d/cancel", "/api/v1/pledges/:id/cancel"},
	}
	const perProbe = 24
	want := map[series]uint64{{"GET", "/metrics", "200"}: 1} // the scrape above
	var mu sync.Mutex
	pledgesRejected := 0
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections() // or shutdown waits for them
	for i := range perProbe {
		for _, p := range probes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := p.path
				if strings.Contains(path, "%d") {
					path = fmt.Sprintf(path, i)
				}
				var body io.Reader
				if p.method == "POST" || p.method == "PATCH" {
					body = strings.NewReader(`{"amount": "lots"}`)
				}
				req, _ := http.NewRequest(p.method, s.base+path, body)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprint("metrics-", i))
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				want[series{p.method, p.route, fmt.Sprint(res.StatusCode)}]++
				if strings.Contains(p.route, "pledges") && res.StatusCode >= 400 {
					pledgesRejected++
				}
			}()
		}
	}
	wg.Wait()

	after := s.scrape(s.base + "/metrics")
	got := requestCounts(after)
	for k, n := range got {
		if d := n - before[k]; d != want[k] {
			t.Errorf("series %+v grew by %d, want %d", k, d, want[k])
		}
	}
	for k, n := range want {
		if got[k]-before[k] != n {
			t.Errorf("series %+v: %d new observations, want %d", k, got[k]-before[k], n)
		}
	}
	// Nothing anywhere in the exposition is a raw path or a torn method.
	templates := []string{"unmatched"}
	for _, r := range s.routes() {
		templates = append(templates, r[strings.Index(r, " ")+1:])
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"}
	for k := range got {
		if !slices.Contains(templates, k.route) && !strings.HasSuffix(k.route, "/*") || !slices.Contains(methods, k.method) {
			t.Errorf("label set %+v is not a route template and method", k)
		}
	}
	if n := counter(after, "backstitch_pledges_total", "outcome", "rejected"); n != float64(pledgesRejected) || n == 0 {
		t.Errorf("backstitch_pledges_total{outcome=rejected} = %v, want %d", n, pledgesRejected)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_memstats_alloc_bytes"} {
		if after[name] == nil {
			t.Errorf("%s missing: the Go runtime and process collectors must be registered", name)
		}
	}
}

// Pledges, charges, webhooks and Stripe requests are counted where they happen; the double's own
// record of what it was sent is the independent count.
func TestMetricsCountPledgesChargesWebhooksAndStripeRequests(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_METRICS_TOKEN": metricsToken})
	c := s.pledgeSetup("flexible", 10)
	body := func(i int) map[string]any {
		return map[string]any{"tier_id": c.workshop, "amount": map[string]any{"amount": 12000, "currency": "CHF"},
			"backer": map[string]any{"email": "flex@example.com", "name": "Flex"}}
	}
	p := s.pledge(c.slug, body(0), "m-1").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.pledge(c.slug, body(0), "m-1") // a retry: the same pledge, not another
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}); r.Status != 402 {
		t.Fatalf("declined card: %d %s", r.Status, r.Body)
	}
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
		t.Fatalf("second card: %d %s", r.Status, r.Body)
	}
	s.waitWebhooks()
	m := s.scrape(s.base + "/metrics")

	sent, failed := 0, 0
	for _, r := range s.double().Requests() {
		sent++
		if r.Status >= 400 {
			failed++
		}
	}
	if got := counter(m, "backstitch_stripe_requests_total"); got != float64(sent) || sent == 0 {
		t.Errorf("backstitch_stripe_requests_total = %v, the double saw %d", got, sent)
	}
	if got := counter(m, "backstitch_stripe_errors_total"); got != float64(failed) || failed == 0 {
		t.Errorf("backstitch_stripe_errors_total = %v, the double answered %d errors", got, failed)
	}
	if got := counter(m, "backstitch_stripe_errors_total", "resource", "payment_intents", "status", "402"); got != 1 {
		t.Errorf("declines counted as Stripe errors on payment_intents: %v, want 1", got)
	}
	for outcome, want := range map[string]float64{"created": 1, "confirmed": 1, "rejected": 1} {
		if got := counter(m, "backstitch_pledges_total", "outcome", outcome); got != want {
			t.Errorf("backstitch_pledges_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	for outcome, want := range map[string]float64{"declined": 1, "succeeded": 1} {
		if got := counter(m, "backstitch_charges_total", "outcome", outcome); got != want {
			t.Errorf("backstitch_charges_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	delivered := requestCounts(m)[series{"POST", "/webhooks/stripe", "200"}]
	if got := counter(m, "backstitch_webhooks_total", "status", "200"); got != float64(delivered) || delivered == 0 {
		t.Errorf("backstitch_webhooks_total{status=200} = %v, %d deliveries answered", got, delivered)
	}
}

func TestMetricsNeedTheTokenOnThePublicApp(t *testing.T) {
	get := func(url, auth string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	open := startService(t, nil)
	for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
		if code := get(open.base+"/metrics", auth); code != http.StatusUnauthorized {
			t.Errorf("no token configured, %q: %d, want 401", auth, code)
		}
	}
	guarded := startService(t, map[string]string{"BACKSTITCH_METRICS_TOKEN": metricsToken})
	for _, auth := range []string{"", "Bearer metrics-token", "Basic " + metricsToken, "Bearer " + metricsToken + "x"} {
		if code := get(guarded.base+"/metrics", auth); code != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", auth, code)
		}
	}
	if code := get(guarded.base+"/metrics", "Bearer "+metricsToken); code != http.StatusOK {
		t.Errorf("with the token: %d", code)
	}
}

func TestMetricsOnTheirOwnAddressLeaveThePublicApp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startService(t, map[string]string{"BACKSTITCH_METRICS_ADDR": addr, "BACKSTITCH_METRICS_TOKEN": metricsToken})
	if r := s.call("GET", "/metrics", "", nil, "Authorization", "Bearer "+metricsToken); r.Status != http.StatusNotFound {
		t.Fatalf("/metrics on the public app with BACKSTITCH_METRICS_ADDR set: %d", r.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `backstitch_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`) {
				t.Fatalf("metrics address: %d\n%s", res.StatusCode, b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics address %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
