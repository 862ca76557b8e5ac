//go:build !production

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/testenv"
	"github.com/backstitch/backstitch/internal/testenv/logbuf"
	"github.com/backstitch/backstitch/internal/testsite"
)

func TestMain(m *testing.M) {
	// The settlement chaos test re-executes this binary as a settler that it kills.
	if os.Getenv(chaosChildEnv) != "" {
		os.Exit(chaosChildMain())
	}
	// So does the mail chaos test, as a sender.
	if os.Getenv(mailChaosChildEnv) != "" {
		os.Exit(mailChaosChildMain())
	}
	testenv.Main(m)
}

// service is a running Backstitch on a loopback port, with its own database and a movable clock.
type service struct {
	t     *testing.T
	base  string
	store *mongostore.Store
	app   *app.App
	clock *testenv.Clock
	logs  *logbuf.Buffer
	http  *http.Client
	// secrets are strings that must never show up in the logs (tokens, passwords, full emails).
	secretsMu sync.Mutex
	secrets   []string
}

// startService runs the app exactly as cmd/backstitch does, on 127.0.0.1:0.
func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	return startServiceOn(t, env, testenv.MustStore(t))
}

// startServiceOn is startService on a given store (one reached through a fault-injecting proxy, say).
func startServiceOn(t *testing.T, env map[string]string, store *mongostore.Store) *service {
	t.Helper()
	cfg := testsite.Config(t, env)
	s := &service{
		t:     t,
		store: store,
		clock: testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)),
		logs:  &logbuf.Buffer{},
		http:  &http.Client{Timeout: 30 * time.Second},
	}
	s.serve(cfg)
	return s
}

// secondInstance starts another instance of the service on the same store and clock, as a
// second replica behind a load balancer would run: rules that span instances are tested on both.
func (s *service) secondInstance(env map[string]string) *service {
	s.t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		s.t.Fatal(err)
	}
	other := &service{t: s.t, store: s.store, clock: s.clock, logs: s.logs, http: s.http}
	other.serve(cfg)
	return other
}

func (s *service) serve(cfg config.Config) {
	t := s.t
	log := zerolog.New(s.logs).With().Timestamp().Logger()
	// Registered first, so it runs last: the logs are checked once the service has stopped.
	t.Cleanup(s.checkLogs)
	s.app, s.base = testsite.Serve(t, cfg, log, app.Deps{Store: s.store, Now: s.clock.Now})
}

// checkLogs fails the test if any secret reached the logs.
func (s *service) checkLogs() {
	logs := s.logs.String()
	s.secretsMu.Lock()
	defer s.secretsMu.Unlock()
	for _, secret := range s.secrets {
		if strings.Contains(logs, secret) {
			s.t.Errorf("a secret appeared in the logs: %.12s…", secret)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line != "" && !strings.Contains(line, `"request_id"`) && strings.Contains(line, `"message":"request"`) {
			s.t.Errorf("request log line without request_id: %s", line)
		}
	}
}

func (s *service) secret(v string) {
	s.secretsMu.Lock()
	s.secrets = append(s.secrets, v)
	s.secretsMu.Unlock()
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// fieldCode returns the code of the field error for field, or "".
func (r response) fieldCode(t *testing.T, field string) string {
	t.Helper()
	errs, _ := r.JSON(t)["errors"].([]any)
	for _, e := range errs {
		if m := e.(map[string]any); m["field"] == field {
			return m["code"].(string)
		}
	}
	return ""
}

// call sends a request; body may be nil, a string (sent as is) or a value encoded as JSON.
func (s *service) call(method, path, token string, body any, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if res.StatusCode >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
		s.t.Errorf("%s %s → %d with Content-Type %q, want application/problem+json", method, path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	// 500 is always a bug; 502/503 are honest answers about Stripe or the store being down.
	if res.StatusCode == 500 {
		s.t.Errorf("%s %s → %d: %s", method, path, res.StatusCode, b)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must sends a request and fails the test unless the status is want.
func (s *service) must(want int, method, path, token string, body any, headers ...string) map[string]any {
	s.t.Helper()
	r := s.call(method, path, token, body, headers...)
	if r.Status != want {
		s.t.Fatalf("%s %s → %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(s.t)
}

var userSeq struct {
	sync.Mutex
	n int
}

// designer signs up a new designer and logs in, returning the session token and user id.
func (s *service) designer(name string) (token, id string) {
	s.t.Helper()
	userSeq.Lock()
	userSeq.n++
	email := strings.ToLower(name) + "." + time.Now().Format("150405.000000000") + "@atelier.example"
	userSeq.Unlock()
	pw := "linen and wool " + name
	u := s.must(201, "POST", "/api/v1/designers", "", map[string]string{"email": email, "password": pw, "name": name})
	s.secret(email)
	s.secret(pw)
	return s.login(email, pw), u["id"].(string)
}

func (s *service) login(email, pw string) string {
	s.t.Helper()
	tok := s.must(201, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": pw})["token"].(string)
	s.secret(tok)
	return tok
}

// admin creates an admin the way `backstitch admin create` does and logs in.
func (s *service) admin() string {
	s.t.Helper()
	email := "admin." + time.Now().Format("150405.000000000") + "@backstitch.example"
	pw := "review carefully, always"
	u, err := account.NewUser(account.SignupFields{Email: email, Password: pw, Name: "Admin"}, account.RoleAdmin, s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.store.CreateUser(context.Background(), u); err != nil {
		s.t.Fatal(err)
	}
	s.secret(email)
	s.secret(pw)
	return s.login(email, pw)
}

// campaignBody is a valid campaign ending 30 days after the service clock's now.
func (s *service) campaignBody(title string) map[string]any {
	return map[string]any{
		"title": title, "blurb": "Zero-waste coats cut from deadstock linen.", "story": "We cut every coat from fabric left over by mills.",
		"goal": map[string]any{"amount": 1_500_000, "currency": "CHF"}, "funding_model": "all_or_nothing",
		"deadline": s.clock.Now().Add(30 * 24 * time.Hour).Format(time.DateOnly), "timezone": "Europe/Zurich",
	}
}

// liveCampaign takes a campaign from creation to live and returns its id and slug.
func (s *service) liveCampaign(owner, admin, title string) (id, slug string) {
	s.t.Helper()
	c := s.must(201, "POST", "/api/v1/campaigns", owner, s.campaignBody(title))
	id = c["id"].(string)
	s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Linen coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": 50})
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", owner, nil)
	return id, c["slug"].(string)
}

// double is the offline Stripe double the service talks to.
func (s *service) double() *stripedouble.Double { return s.app.Double() }

// waitWebhooks waits until the double has delivered every event it has emitted so far.
func (s *service) waitWebhooks() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.double().WaitWebhooks(ctx); err != nil {
		s.t.Fatalf("webhooks not delivered: %v", err)
	}
}

// deliverHeld releases hold's events in the order Stripe made them and waits until the service
// has answered each: the late events of a step the test staged have then all arrived. raced
// names the types of the events the step was staged against: each must have been caught by the
// hold, or the hold proved nothing.
func (s *service) deliverHeld(hold *stripedouble.EventHold, raced ...string) {
	s.t.Helper()
	held := hold.Events()
	for _, typ := range raced {
		if !slices.ContainsFunc(held, func(e stripedouble.HeldEvent) bool { return e.Type == typ }) {
			s.t.Fatalf("no %s event was held: %+v", typ, held)
		}
	}
	hold.Release()
	s.waitWebhooks()
}

// transitionsTo counts the changes of p's history into status to.
func transitionsTo(p pledge.Pledge, to pledge.Status) int {
	n := 0
	for _, h := range p.History {
		if h.To == to {
			n++
		}
	}
	return n
}

// routes lists the app's routes as "METHOD /path".
func (s *service) routes() []string {
	return s.app.Routes()
}

// refusedTooLarge sends a body the service must refuse for its size and reports whether it was.
// The service answers 413 as soon as the declared length is over the limit and closes the
// connection without reading the rest, so a client still writing a large body may get the reset
// instead of the answer (the kernel drops an answer that arrives with the reset): either way
// the body was refused. Any other answer, or any other error, is not a refusal.
func (s *service) refusedTooLarge(method, path, token, contentType, body string) bool {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return true
		}
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		s.t.Errorf("%s %s with %d bytes → %d, want 413", method, path, len(body), res.StatusCode)
		return false
	}
	return true
}
