//go:build !production

package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The fuzz test drives every operation of the OpenAPI document the service serves with requests
// generated from the document itself: bodies from the schemas (valid-ish and hostile), hostile
// path and query parameters, and headers from none to real designer and admin tokens. Every
// answer must be one the document describes for that operation, with a problem code it lists
// for that status; no answer may be a 5xx (nothing here makes Stripe or the store go away).
//
//	BACKSTITCH_FUZZ_SEED=n      reproduces a run (the seed is printed; the default is fixed)
//	BACKSTITCH_FUZZ_REQUESTS=n  how many requests (default 4000)
//	BACKSTITCH_FUZZ_BUDGET=d    stop sending after this long (default 40s)
func TestFuzzEveryOperation(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzing the API takes about half a minute")
	}
	seed := envInt(t, "BACKSTITCH_FUZZ_SEED", 20261102)
	total := int(envInt(t, "BACKSTITCH_FUZZ_REQUESTS", 4000))
	budget := 40 * time.Second
	if v := os.Getenv("BACKSTITCH_FUZZ_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("BACKSTITCH_FUZZ_BUDGET: %v", err)
		}
		budget = d
	}
	t.Logf("BACKSTITCH_FUZZ_SEED=%d BACKSTITCH_FUZZ_REQUESTS=%d reproduces this run", seed, total)

	const publicURL = "https://fuzz.backstitch.example/crowd"
	s := startService(t, map[string]string{
		"BACKSTITCH_PUBLIC_URL": publicURL,
		// Small enough that oversized bodies are cheap to send.
		"BACKSTITCH_BODY_LIMIT": "16384",
		// Pledges get past the address limit to the code behind it (429 is still reached by logins).
		"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000000",
	})
	doc := fetchDocument(t, s, publicURL)
	fx := newFixtures(s)

	rng := rand.New(rand.NewPCG(uint64(seed), 0x6261636b))
	g := &generator{rng: rng, doc: doc, fx: fx}
	reqs := make([]fuzzRequest, 0, total)
	for i := range total {
		op := doc.ops[i%len(doc.ops)]
		reqs = append(reqs, g.request(op))
	}

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var (
		mu       sync.Mutex
		sent     = map[string]int{}
		statuses = map[string]map[int]int{}
		failures = map[string]string{}
		next     int
	)
	stop := time.Now().Add(budget)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(reqs) || time.Now().After(stop) {
					return
				}
				r := reqs[i]
				status, problem, body, err := send(client, s.base, r)
				mu.Lock()
				sent[r.op.key()]++
				if statuses[r.op.key()] == nil {
					statuses[r.op.key()] = map[int]int{}
				}
				statuses[r.op.key()][status]++
				if verdict := r.op.judge(status, problem, err); verdict != "" {
					sig := r.op.key() + " → " + verdict
					if _, seen := failures[sig]; !seen {
						failures[sig] = fmt.Sprintf("request #%d: %.300s %.300s\n  headers %.300v\n  body %.300q\n  answer %d %.400s",
							i, r.method, r.path, r.header, r.body, status, body)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var report strings.Builder
	n := 0
	for _, op := range doc.ops {
		n += sent[op.key()]
		codes := slices.Sorted(maps.Keys(statuses[op.key()]))
		parts := make([]string, 0, len(codes))
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", c, statuses[op.key()][c]))
		}
		fmt.Fprintf(&report, "  %-70s %4d  %s\n", op.key(), sent[op.key()], strings.Join(parts, " "))
	}
	t.Logf("%d requests over %d operations:\n%s", n, len(doc.ops), report.String())
	if n < min(total, 500) {
		t.Errorf("only %d requests were sent within %s", n, budget)
	}
	for _, sig := range slices.Sorted(maps.Keys(failures)) {
		t.Errorf("%s\n  %s", sig, failures[sig])
	}
}

func envInt(t *testing.T, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// operation is one path and method of the document, with what it takes and what it may answer.
type operation struct {
	method, path string
	params       []map[string]any
	body         map[string]any // the request body's schema, nil when it takes none
	// answers maps each documented status to the problem codes it lists (nil for a non-problem answer).
	answers map[int][]string
}

func (o operation) key() string { return strings.ToUpper(o.method) + " " + o.path }

// judge says what is wrong with an answer, or "" when the document describes it.
func (o operation) judge(status int, problem *problemBody, err error) string {
	switch {
	case err != nil:
		return "transport error " + err.Error()
	case status >= 500 && status != http.StatusServiceUnavailable || status == http.StatusServiceUnavailable && o.path != "/readyz":
		return fmt.Sprintf("%d (a server error)", status)
	}
	codes, ok := o.answers[status]
	if !ok {
		return fmt.Sprintf("%d, which the document does not list", status)
	}
	if status < 400 || codes == nil {
		return ""
	}
	if problem == nil {
		return fmt.Sprintf("%d without a problem document", status)
	}
	if !slices.Contains(codes, problem.Code) {
		return fmt.Sprintf("%d %s, a code the document does not list for it (%v)", status, problem.Code, codes)
	}
	return ""
}

type document struct {
	root map[string]any
	ops  []operation
}

// fetchDocument reads the document the service serves and checks that its server is the
// service's public URL.
func fetchDocument(t *testing.T, s *service, publicURL string) document {
	t.Helper()
	res, err := http.Get(s.base + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("openapi.yaml: %d %v", res.StatusCode, err)
	}
	var root map[string]any
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("served openapi.yaml: %v", err)
	}
	d := document{root: root}
	if servers, _ := root["servers"].([]any); len(servers) != 1 || dig(servers[0], "url") != publicURL {
		t.Fatalf("servers %v, want the service's BACKSTITCH_PUBLIC_URL %s", root["servers"], publicURL)
	}
	paths := dig(root, "paths").(map[string]any)
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item := paths[path].(map[string]any)
		var shared []any
		if p, ok := item["parameters"].([]any); ok {
			shared = p
		}
		for _, method := range slices.Sorted(maps.Keys(item)) {
			if method == "parameters" {
				continue
			}
			raw := item[method].(map[string]any)
			op := operation{method: strings.ToUpper(method), path: path, answers: map[int][]string{}}
			own, _ := raw["parameters"].([]any)
			for _, p := range append(slices.Clone(shared), own...) {
				op.params = append(op.params, d.resolve(p).(map[string]any))
			}
			if schema := dig(d.resolve(raw["requestBody"]), "content", "application/json", "schema"); schema != nil {
				op.body = d.resolve(schema).(map[string]any)
			}
			for status, r := range raw["responses"].(map[string]any) {
				code, err := strconv.Atoi(status)
				if err != nil {
					t.Fatalf("%s %s: response %q", method, path, status)
				}
				op.answers[code] = nil
				if schema := dig(d.resolve(r), "content", "application/problem+json", "schema"); schema != nil {
					op.answers[code] = []string{}
					for _, c := range dig(schema, "properties", "code", "enum").([]any) {
						op.answers[code] = append(op.answers[code], c.(string))
					}
				}
			}
			d.ops = append(d.ops, op)
		}
	}
	if len(d.ops) < 30 {
		t.Fatalf("only %d operations in the document", len(d.ops))
	}
	return d
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// resolve follows a local $ref (siblings of the $ref are dropped: none matter for generation).
func (d document) resolve(v any) any {
	for range 10 {
		ref, ok := dig(v, "$ref").(string)
		if !ok {
			return v
		}
		v = d.root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			v = dig(v, part)
		}
	}
	return v
}

// fixtures are real things for requests to name, so authenticated paths reach their handlers.
type fixtures struct {
	owner, other, admin, loggedOut string
	campaigns                      []string // live all-or-nothing (id and slug), live flexible, draft
	// doomed are live campaigns for the cancel operation, which would otherwise end the others
	// early in the run and leave nothing live to pledge to.
	doomed  []string
	tiers   []string
	pledges map[string]string // id → manage token
	runs    []string
}

func newFixtures(s *service) *fixtures {
	s.t.Helper()
	fx := &fixtures{pledges: map[string]string{}}
	var ownerID string
	fx.owner, ownerID = s.designer("Owner")
	_ = ownerID
	fx.other, _ = s.designer("Other")
	fx.loggedOut, _ = s.designer("Leaver")
	fx.admin = s.admin()
	for _, model := range []string{"all_or_nothing", "flexible"} {
		body := s.campaignBody("Fuzz " + model)
		body["funding_model"] = model
		c := s.must(201, "POST", "/api/v1/campaigns", fx.owner, body)
		id := c["id"].(string)
		tier := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", fx.owner, map[string]any{
			"title": "Coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 20})
		s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", fx.owner, nil)
		s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", fx.admin, nil)
		s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", fx.owner, nil)
		fx.campaigns = append(fx.campaigns, id, c["slug"].(string))
		fx.tiers = append(fx.tiers, tier["id"].(string))
		for i := range 2 {
			p := s.must(201, "POST", "/api/v1/campaigns/"+id+"/pledges", "", map[string]any{
				"amount": map[string]any{"amount": 5000, "currency": "CHF"}, "backer": map[string]any{"email": "fuzz@example.com", "name": "Fuzz"}},
				"Idempotency-Key", fmt.Sprintf("fixture-%s-%d", model, i))
			pid, token := p["id"].(string), p["manage_token"].(string)
			s.secret(token)
			fx.pledges[pid] = token
			if i == 0 {
				s.must(200, "POST", "/api/v1/pledges/"+pid+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", token)
			}
		}
		run := s.must(201, "POST", "/api/v1/admin/reconciliations", fx.admin, map[string]any{"campaign_id": id})
		fx.runs = append(fx.runs, run["id"].(string))
	}
	for i := range 3 {
		c := s.must(201, "POST", "/api/v1/campaigns", fx.owner, s.campaignBody(fmt.Sprintf("Fuzz doomed %d", i)))
		id := c["id"].(string)
		s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", fx.owner, map[string]any{
			"title": "Scarf", "kind": "digital", "price": map[string]any{"amount": 1000, "currency": "CHF"}})
		s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", fx.owner, nil)
		s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", fx.admin, nil)
		s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", fx.owner, nil)
		fx.doomed = append(fx.doomed, id)
	}
	draft := s.must(201, "POST", "/api/v1/campaigns", fx.owner, s.campaignBody("Fuzz draft"))
	fx.campaigns = append(fx.campaigns, draft["id"].(string))
	s.secret("fuzz@example.com")
	return fx
}

type fuzzRequest struct {
	op     operation
	method string
	path   string
	header http.Header
	body   []byte
}

type problemBody struct {
	Code string `json:"code"`
}

func send(client *http.Client, base string, r fuzzRequest) (int, *problemBody, []byte, error) {
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, base+r.path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.header
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, nil, err
	}
	var p *problemBody
	if res.Header.Get("Content-Type") == "application/problem+json" {
		p = &problemBody{}
		if json.Unmarshal(body, p) != nil {
			p = nil
		}
	}
	return res.StatusCode, p, body, nil
}

type generator struct {
	rng *rand.Rand
	doc document
	fx  *fixtures
	// clean requests are what a well-behaved client sends (real ids, real tokens, bodies that
	// follow the schema), so that the code behind validation is reached and its answers checked.
	clean bool
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// hostile is chance(p), except in a clean request.
func (g *generator) hostile(p float64) bool { return !g.clean && g.chance(p) }

func pick[T any](g *generator, xs ...T) T { return xs[g.rng.IntN(len(xs))] }

// hostileTexts go wherever a string goes: path segments, query values, JSON strings.
var hostileTexts = []string{
	"", " ", "null", "0", "-1", "1e309", "NaN", "true", "[]", "{}", "../../etc/passwd", "..", ".",
	"' OR '1'='1", `{"$gt": ""}`, "$where", "cam_", "cam_0000000000000000", "pl_0000000000000000", "rec_x", "fnd_x",
	"Ünïcödé 日本語 🧵", "\u200b\u200b\u200b", "\u202egnp.exe", "e\u0301\u0301\u0301", "a\nb", "a\r\nSet-Cookie: x=1", "\x00", "\t",
	"<script>alert(1)</script>", "{{.}}", "%s%n", "\\", "/", "?", "#", "%", "🧵" + strings.Repeat("é", 300),
}

func (g *generator) text(maxLen int) string {
	switch g.rng.IntN(6) {
	case 0:
		return strings.Repeat(pick(g, "x", "é", "🧵", " "), max(maxLen, 100)+1+g.rng.IntN(50))
	case 1, 2:
		return pick(g, hostileTexts...)
	default:
		return pick(g, "Linen coat", "Ana Muster", "Zero-waste coats cut from deadstock linen.", "Seefeldstrasse 1", "8008", "CH")
	}
}

func (g *generator) request(op operation) fuzzRequest {
	r := fuzzRequest{op: op, method: op.method, header: http.Header{}}
	g.clean = g.chance(0.4)
	path := op.path
	var pledgeID string
	for _, p := range op.params {
		if p["in"] != "path" {
			continue
		}
		name := p["name"].(string)
		v, raw := g.pathValue(op, name)
		if name == "id" && strings.Contains(op.path, "/pledges/") {
			pledgeID = v
		}
		if !raw {
			v = url.PathEscape(v)
		}
		path = strings.Replace(path, "{"+name+"}", v, 1)
	}
	q := url.Values{}
	for _, p := range op.params {
		name, _ := p["name"].(string)
		switch p["in"] {
		case "query":
			if g.chance(0.5) {
				q.Add(name, g.queryValue(dig(p, "schema")))
			}
		case "header":
			switch name {
			case "X-Manage-Token":
				switch n := g.rng.IntN(5); {
				case n <= 2 || g.clean:
					if tok, ok := g.fx.pledges[pledgeID]; ok {
						r.header.Set(name, tok)
					} else {
						r.header.Set(name, pick(g, slices.Collect(maps.Values(g.fx.pledges))...))
					}
				case n == 3:
					r.header.Set(name, g.headerText())
				}
			case "Idempotency-Key":
				g.idempotencyKey(r.header, p["required"] == true)
			case "Stripe-Signature":
				if g.chance(0.8) {
					r.header.Set(name, pick(g, "t=1,v1=00", "t="+strconv.FormatInt(time.Now().Unix(), 10)+",v1=deadbeef", "garbage", "t=,v1=", "t=99999999999999999999,v1=x"))
				}
			}
		}
	}
	if g.hostile(0.05) {
		q.Add(pick(g, "unknown", "q", "$where", "status[$ne]"), g.text(10))
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	r.path = path
	g.authorize(op, r.header)
	g.bodyFor(op, &r)
	if g.hostile(0.03) {
		// More than the server reads for a request line and headers (4 KiB): 431.
		r.header.Set("X-Fuzz-Padding", strings.Repeat("p", 5000))
	}
	return r
}

// pathValue picks a real id most of the time, else something hostile; raw values go into the
// path as they are (percent-escapes the router decodes).
func (g *generator) pathValue(op operation, name string) (string, bool) {
	if g.hostile(0.3) {
		if g.chance(0.3) {
			return pick(g, "a%2Fsubmit", "%2e%2e", "%00", "%ff%fe", "x%2F..%2F..%2Fhealthz", "%252F"), true
		}
		// An empty segment addresses another route (…/tiers/ is the tier list, which has no
		// PATCH: 405), not this operation.
		if v := g.text(20); v != "" {
			return v, false
		}
		return " ", false
	}
	switch {
	case name == "tier_id":
		return pick(g, g.fx.tiers...), false
	case name == "finding_id":
		return "fnd_" + strconv.Itoa(g.rng.IntN(1000)), false
	case strings.Contains(op.path, "/reconciliations/"):
		return pick(g, g.fx.runs...), false
	case strings.HasSuffix(op.path, "/{id}/cancel") && strings.Contains(op.path, "/campaigns/"):
		return pick(g, g.fx.doomed...), false
	case strings.Contains(op.path, "/pledges/{id}"):
		return pick(g, slices.Sorted(maps.Keys(g.fx.pledges))...), false
	default:
		return pick(g, g.fx.campaigns...), false
	}
}

func (g *generator) queryValue(schema any) string {
	if enum, ok := dig(schema, "enum").([]any); ok && (g.clean || g.chance(0.6)) {
		return fmt.Sprint(pick(g, enum...))
	}
	if dig(schema, "type") == "integer" && (g.clean || g.chance(0.6)) {
		if g.clean {
			return pick(g, "1", "2", "50", "200")
		}
		return pick(g, "1", "2", "50", "200", "201", "0", "-1", "99999999999999999999", "1.5", "0x10", " 3")
	}
	if g.clean {
		return pick(g, "x", "Linen coat", "reconciliation.start")
	}
	return g.text(40)
}

func (g *generator) headerText() string {
	// The HTTP client refuses control characters in header values; everything else goes.
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, pick(g, g.text(300), "tok_"+strconv.Itoa(g.rng.IntN(1e6))))
}

func (g *generator) idempotencyKey(h http.Header, required bool) {
	switch g.rng.IntN(8) {
	case 0:
		if !required || g.chance(0.3) {
			return
		}
		fallthrough
	case 1, 2, 3, 4:
		h.Set("Idempotency-Key", fmt.Sprintf("fuzz-%d", g.rng.Int64()))
	case 5:
		h.Set("Idempotency-Key", "fuzz-reused") // the same key for many bodies: replays and 422s
	case 6:
		h.Set("Idempotency-Key", strings.Repeat("k", 256+g.rng.IntN(300)))
	default:
		h.Set("Idempotency-Key", g.headerText())
	}
}

func (g *generator) authorize(op operation, h http.Header) {
	secured := dig(g.doc.root, "paths", op.path, strings.ToLower(op.method), "security") != nil
	realToken := secured && (g.clean || g.chance(0.7))
	if !secured && (g.clean || g.chance(0.6)) {
		return // public operations are mostly called without a token
	}
	if realToken {
		tok := pick(g, g.fx.owner, g.fx.owner, g.fx.other, g.fx.admin, g.fx.admin)
		if op.key() == "DELETE /api/v1/sessions/current" {
			tok = g.fx.loggedOut // logging the fixtures' users out would end the run's reach
		}
		h.Set("Authorization", "Bearer "+tok)
		return
	}
	switch g.rng.IntN(8) {
	case 0, 1, 2:
	case 3:
		h.Set("Authorization", "Bearer "+g.headerText())
	case 4:
		h.Set("Authorization", pick(g, "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "bearer "+g.fx.admin, "Token x", "Bearer  "+g.fx.owner))
	case 5:
		h.Set("Authorization", "Bearer "+g.fx.admin+"x")
	default:
		h.Set("Authorization", "Bearer "+strings.Repeat("A", 1000+g.rng.IntN(2000)))
	}
}

// bodyFor sets the body and its Content-Type: generated from the schema most of the time,
// otherwise raw text that is not the object asked for; operations that take no body
// mostly get none.
func (g *generator) bodyFor(op operation, r *fuzzRequest) {
	if op.body == nil && (g.clean || g.chance(0.8)) {
		return
	}
	var body []byte
	switch n := g.rng.IntN(20); {
	case g.clean:
		b, err := json.Marshal(g.value(op.body, "", 0))
		if err != nil {
			panic(err)
		}
		body = b
	case n == 0:
		body = bytes.Repeat([]byte(`{"a":"`+strings.Repeat("x", 1000)+`"},`), 20) // beyond the 16 KiB limit: 413
	case n <= 3:
		body = []byte(pick(g, "", " ", "null", "[]", "{", `"text"`, "{} {}", `{"a":1}x`, "\xff\xfe{}", "123",
			strings.Repeat("[", 5000), `{"amount":{"amount":1e400,"currency":"CHF"}}`, `{"title":"\ud800"}`, "{\"title\":\"a\"}\x00"))
	default:
		var schema map[string]any
		if op.body != nil {
			schema = op.body
		} else {
			schema = map[string]any{"type": "object", "properties": map[string]any{"reason": map[string]any{"type": "string"}}}
		}
		v := g.value(schema, "", 0)
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		body = b
	}
	r.body = body
	if g.clean {
		r.header.Set("Content-Type", "application/json")
		return
	}
	switch g.rng.IntN(12) {
	case 0:
		r.header.Set("Content-Type", pick(g, "text/plain", "application/x-www-form-urlencoded", "garbage/;;", "application/xml", "multipart/form-data; boundary=x"))
	case 1:
		r.header.Set("Content-Type", pick(g, "application/json; charset=utf-8", "application/merge-patch+json", "APPLICATION/JSON"))
	case 2:
	default:
		r.header.Set("Content-Type", "application/json")
	}
}

// value generates a JSON value for schema: mostly what it asks for, sometimes not.
func (g *generator) value(schema map[string]any, name string, depth int) any {
	schema, _ = g.doc.resolve(schema).(map[string]any)
	if schema == nil || depth > 6 {
		return nil
	}
	if g.hostile(0.06) {
		return pick[any](g, nil, 42, -1, "text", true, []any{1, "a"}, map[string]any{"x": 1}, 1.5)
	}
	if all, ok := schema["allOf"].([]any); ok {
		merged := maps.Clone(schema)
		for _, part := range all {
			if m, ok := g.doc.resolve(part).(map[string]any); ok {
				for k, v := range m {
					if _, has := merged[k]; !has {
						merged[k] = v
					}
				}
			}
		}
		delete(merged, "allOf")
		schema = merged
	}
	if enum, ok := schema["enum"].([]any); ok && (g.clean || g.chance(0.85)) {
		return pick(g, enum...)
	}
	if ex, ok := schema["examples"].([]any); ok && g.chance(0.5) {
		return pick(g, ex...)
	}
	typ := schema["type"]
	if list, ok := typ.([]any); ok {
		typ = pick(g, list...)
	}
	if typ == nil && schema["properties"] != nil {
		typ = "object"
	}
	switch typ {
	case "object":
		return g.object(schema, depth)
	case "integer":
		if name == "amount" && (g.clean || g.chance(0.6)) {
			return pick(g, 5000, 32000, 32001, 100, 1)
		}
		if g.clean {
			return pick(g, 1, 2, 10, 50)
		}
		return pick[any](g, 1, 2, 0, -1, 50, 1<<31, int64(1)<<53, int64(9223372036854775807), 1e30, 2.5)
	case "boolean":
		return g.chance(0.5)
	case "null":
		return nil
	case "array":
		return []any{}
	}
	switch {
	case name == "tier_id" && (g.clean || g.chance(0.5)):
		return pick(g, g.fx.tiers...)
	case name == "campaign_id" && (g.clean || g.chance(0.5)):
		return pick(g, g.fx.campaigns...)
	case name == "currency" && g.clean:
		return "CHF"
	case name == "currency":
		return pick(g, "CHF", "CHF", "EUR", "chf", "XXX", "")
	case name == "email" && (g.clean || g.chance(0.6)):
		return fmt.Sprintf("fuzz%d@example.com", g.rng.IntN(1e6))
	case name == "password" && (g.clean || g.chance(0.6)):
		return "linen and wool " + strconv.Itoa(g.rng.IntN(100))
	case schema["format"] == "date-time" || name == "deadline":
		return pick(g, "2026-12-01", "2026-11-20T18:00:00Z", "2026-11-02T09:00:00.5Z", "2025-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "yesterday", "2026-02-30")
	case name == "timezone":
		return pick(g, "Europe/Zurich", "UTC", "posixrules", "Mars/Olympus", "")
	case name == "estimated_delivery":
		return pick(g, "2027-03", "2027-13", "03-2027")
	case name == "payment_method":
		return pick(g, "pm_card_visa", "pm_card_chargeDeclined", "pm_card_authenticationRequired", "pm_nope", "", "card_x")
	}
	if g.clean {
		return pick(g, "Linen coat", "Ana Muster", "Zürich", "8008", "CH", "Seefeldstrasse 1", "Zero-waste coats.")
	}
	maxLen, _ := schema["maxLength"].(int)
	return g.text(maxLen)
}

func (g *generator) object(schema map[string]any, depth int) any {
	props, _ := schema["properties"].(map[string]any)
	required := map[string]bool{}
	if req, ok := schema["required"].([]any); ok {
		for _, r := range req {
			required[r.(string)] = true
		}
	}
	if one, ok := schema["oneOf"].([]any); ok {
		if m, ok := pick(g, one...).(map[string]any); ok {
			req, _ := dig(m, "required").([]any)
			for _, r := range req {
				required[r.(string)] = true
			}
		}
	}
	out := map[string]any{}
	names := slices.Collect(maps.Keys(props))
	sort.Strings(names)
	for _, name := range names {
		if (required[name] && (g.clean || g.chance(0.95))) || g.chance(0.5) {
			sub, _ := props[name].(map[string]any)
			out[name] = g.value(sub, name, depth+1)
		}
	}
	if g.hostile(0.05) {
		out[pick(g, "status", "designer_id", "amount_refunded", "zz_extra", "__proto__", "$set")] = pick[any](g, "collected", 1, map[string]any{"$gt": ""})
	}
	return out
}
