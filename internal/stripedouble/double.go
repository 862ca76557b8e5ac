// Package stripedouble is a stateful, in-process stand-in for Stripe's test
// mode. Every request is first validated against Stripe's OpenAPI spec as
// stripe-mock would; valid requests then change the double's own state the
// way Stripe test mode would: statuses, test cards, idempotency keys, balance
// transactions, and signed webhooks. See docs/stripe-double.md.
package stripedouble

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-mock/param"
)

// APIVersion is the version stamped on every event; stripe-go v76's webhook
// package rejects events of any other version.
const APIVersion = "2023-10-16"

const (
	defaultDisputeFee = 1500
	maxBodyBytes      = 1 << 20
	idempotencyTTL    = 24 * time.Hour
)

// Options configures a Double. The zero value is usable.
type Options struct {
	// WebhookURL receives every event by POST; empty means events are only
	// recorded. SetWebhook changes it later.
	WebhookURL string
	// WebhookSecret signs deliveries (the endpoint's whsec_... secret).
	WebhookSecret string
	// WebhookRetry bounds redelivery after a non-2xx answer or a
	// connection error. Zero fields take the defaults of RetryPolicy.
	WebhookRetry RetryPolicy
	// WebhookClient sends deliveries; nil means a client with a 5 s timeout.
	WebhookClient *http.Client
	// Now stamps created, available_on and event times; nil means time.Now.
	// Webhook signatures always use the wall clock, because receivers check
	// their age against it.
	Now func() time.Time
	// Fee computes Stripe's processing fee for a successful charge in the
	// charge's currency; nil means StandardFee (2.9% + 30 minor units).
	Fee func(amount int64, currency string) int64
	// DisputeFee is withdrawn with every dispute; 0 means 1500 minor units.
	DisputeFee int64
	// Seed makes fault injection (random failures, webhook drops, ...)
	// repeatable.
	Seed uint64
	// SecretKey, when set, is the only API key the double answers: any
	// other (another sk_test_ key included) gets Stripe's 401. The service
	// generates one at start, so another local user who finds the double's
	// port can neither read its customers nor make payments. Empty means
	// any test-mode key, like stripe-mock. The browser pages (Connect
	// onboarding) need no key: their URLs carry an unguessable token.
	SecretKey string
}

// StandardFee is Stripe's standard card pricing: 2.9% (rounded half up)
// plus 30 minor units.
func StandardFee(amount int64, _ string) int64 {
	return PercentPlusFixed(290, 30)(amount, "")
}

// PercentPlusFixed returns a fee function of basisPoints/10000 of the amount
// (rounded half up) plus fixed minor units.
func PercentPlusFixed(basisPoints, fixed int64) func(int64, string) int64 {
	return func(amount int64, _ string) int64 {
		return (amount*basisPoints+5000)/10000 + fixed
	}
}

// Double is a Stripe test-mode stand-in. It is an http.Handler: serve it with
// httptest.NewServer or any listener and point stripe-go's backend URL at it.
type Double struct {
	validator  *validator
	now        func() time.Time
	fee        func(int64, string) int64
	disputeFee int64
	tag        string
	secretKey  string
	routes     []route
	hooks      *dispatcher

	mu       sync.Mutex
	seq      uint64
	objects  map[string]object
	order    map[string][]string // object kind → ids in creation order
	idem     map[string]*idemEntry
	idemAge  []string // scopes in storage order, for expiry
	requests []Request
	links    map[string]accountLink // onboarding token → link

	faultMu sync.Mutex
	faults  Faults
	rng     *mrand.Rand
}

// New builds a Double. The first call in a process parses stripe-mock's spec
// (about half a second); later calls reuse it.
func New(opts Options) (*Double, error) {
	v, err := sharedValidator()
	if err != nil {
		return nil, err
	}
	d := &Double{
		validator:  v,
		now:        opts.Now,
		fee:        opts.Fee,
		disputeFee: opts.DisputeFee,
		tag:        randomTag(),
		secretKey:  opts.SecretKey,
		objects:    map[string]object{},
		links:      map[string]accountLink{},
		order:      map[string][]string{},
		idem:       map[string]*idemEntry{},
		rng:        mrand.New(mrand.NewPCG(opts.Seed, 1)),
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.fee == nil {
		d.fee = StandardFee
	}
	if d.disputeFee == 0 {
		d.disputeFee = defaultDisputeFee
	}
	d.routes = d.routeTable()
	d.hooks = newDispatcher(opts, mrand.New(mrand.NewPCG(opts.Seed, 2)))
	return d, nil
}

// Close stops webhook delivery; queued deliveries are abandoned.
func (d *Double) Close() {
	d.hooks.close()
}

// randomTag keeps ids unique across Double instances, because the service
// stores Stripe ids (and event ids under a unique index) across restarts of
// its offline mode.
func randomTag() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(fmt.Sprintf("stripedouble: crypto/rand: %v", err))
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// newID must be called with d.mu held. A single counter across kinds makes
// ids sort in creation order, which list pagination relies on.
func (d *Double) newID(prefix string) string {
	d.seq++
	return fmt.Sprintf("%s_%s%012d", prefix, d.tag, d.seq)
}

func (d *Double) unix() int64 { return d.now().Unix() }

// put stores a new object; kind is its Stripe "object" name.
func (d *Double) put(kind string, o object) {
	d.objects[o.objectID()] = o
	d.order[kind] = append(d.order[kind], o.objectID())
}

func get[T object](d *Double, id string) (T, bool) {
	o, ok := d.objects[id].(T)
	return o, ok
}

// Request is one API call as the double saw it.
type Request struct {
	Method         string
	Path           string
	Status         int
	IdempotencyKey string
	// Replayed is set when the answer was a stored idempotent result.
	Replayed bool
	// Rejected is set when stripe-mock refused the request as invalid.
	Rejected bool
	// Fault is set when an injected fault shaped the answer.
	Fault bool
}

// Requests returns every API call received so far, oldest first.
func (d *Double) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Request(nil), d.requests...)
}

// RequestCount counts calls with this method and exact path, e.g.
// ("POST", "/v1/payment_intents") for PaymentIntent creations attempted.
func (d *Double) RequestCount(method, path string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// response is an answer, kept byte for byte for idempotent replay once
// finished.
type response struct {
	status int
	body   []byte
	// finish, when set, makes the body without the state lock, from what
	// the handler took under it (see list). Only GETs have one, and they
	// are never stored for replay.
	finish func() []byte
}

type idemEntry struct {
	fingerprint string
	at          time.Time
	resp        response
}

// call is one validated API request being applied to the state.
type call struct {
	method    string
	path      string
	args      []string
	params    params
	idemKey   string
	requestID string
	baseURL   string
}

// ServeHTTP answers one Stripe API call: stripe-mock's checks validate it,
// then the double applies it to its state.
func (d *Double) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, onboardingPath) {
		d.serveOnboarding(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, checkoutPath) {
		d.serveCheckout(w, r)
		return
	}
	if !d.authorized(r) {
		d.record(Request{Method: r.Method, Path: r.URL.Path, Status: http.StatusUnauthorized, Rejected: true})
		writeResponse(w, errorResponse(http.StatusUnauthorized, stripeError{
			Type:    "invalid_request_error",
			Message: "Invalid API Key provided: this double answers only the secret key it was started with.",
		}), "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeResponse(w, errorResponse(http.StatusBadRequest, stripeError{
			Type: "invalid_request_error", Message: "could not read request body"}), "")
		return
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key")}
	fault := d.drawFault(r.Method, r.URL.Path)
	if fault.latency > 0 {
		select {
		case <-time.After(fault.latency):
		case <-r.Context().Done():
			return
		}
	}

	if rej := d.validator.check(withBody(r, body)); rej != nil {
		rec.Status, rec.Rejected = rej.status, true
		d.record(rec)
		rej.write(w, r)
		return
	}
	p, err := param.ParseParams(withBody(r, body))
	if err != nil {
		// Unreachable in practice: validation just parsed the same bytes.
		writeResponse(w, errorResponse(http.StatusBadRequest, stripeError{
			Type: "invalid_request_error", Message: fmt.Sprintf("Couldn't parse query/body: %v", err)}), "")
		return
	}

	c := &call{
		method:  r.Method,
		path:    r.URL.Path,
		params:  params(p),
		idemKey: rec.IdempotencyKey,
		baseURL: baseURL(r),
	}
	if r.Method != http.MethodPost {
		c.idemKey = ""
	}
	resp, replayed := d.apply(c, r.Header.Get("Authorization"), fault, &rec)
	rec.Status, rec.Replayed = resp.status, replayed
	d.record(rec)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeResponse(w, resp, c.requestID)
}

// authorized checks the secret key as Stripe takes it: a bearer token, or
// the user name of basic auth (curl -u sk_test_...:). The comparison takes
// the same time whatever the key, so it cannot be guessed byte by byte.
func (d *Double) authorized(r *http.Request) bool {
	if d.secretKey == "" {
		return true
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		key, _, ok = r.BasicAuth()
	}
	return ok && subtle.ConstantTimeCompare([]byte(key), []byte(d.secretKey)) == 1
}

func withBody(r *http.Request, body []byte) *http.Request {
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	return c
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (d *Double) record(r Request) {
	d.mu.Lock()
	d.requests = append(d.requests, r)
	d.mu.Unlock()
}

func writeResponse(w http.ResponseWriter, resp response, requestID string) {
	w.Header().Set("Content-Type", "application/json")
	if requestID != "" {
		w.Header().Set("Request-Id", requestID)
	}
	if resp.status == http.StatusTooManyRequests {
		// Tells stripe-go not to retry on its own, as Stripe does for
		// rate_limit: backing off is the caller's job.
		w.Header().Set("Stripe-Should-Retry", "false")
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// apply runs a validated call against the state, and then finishes its
// answer outside the state lock.
func (d *Double) apply(c *call, auth string, fault drawnFault, rec *Request) (response, bool) {
	resp, replayed := d.applyLocked(c, auth, fault, rec)
	if resp.finish != nil {
		resp.body, resp.finish = resp.finish(), nil
	}
	return resp, replayed
}

// applyLocked runs a validated call under the state lock, which also makes
// check-and-store of idempotency keys atomic: a concurrent request with the
// same key waits and then gets the replay.
func (d *Double) applyLocked(c *call, auth string, fault drawnFault, rec *Request) (response, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c.requestID = d.newID("req")

	var scope, fingerprint string
	if c.idemKey != "" {
		scope = auth + "\x00" + c.idemKey
		fp, _ := json.Marshal(c.params) // map keys marshal sorted: canonical
		fingerprint = c.method + " " + c.path + " " + string(fp)
		if e, ok := d.idem[scope]; ok && d.now().Sub(e.at) < idempotencyTTL {
			if e.fingerprint != fingerprint {
				return errorResponse(http.StatusBadRequest, stripeError{
					Type: "idempotency_error",
					Message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters "+
						"they were first used with. Try using a key other than '%s' if you meant to execute a "+
						"different request.", c.idemKey),
				}), false
			}
			if fault.status != 0 {
				// Matching requests are answered with the fault, replays included: a Stripe
				// that is down does not answer from its idempotency store either.
				rec.Fault = true
				return fault.response(), false
			}
			return e.resp, true
		}
	}

	rejected := fault.status == http.StatusTooManyRequests || fault.mode == FaultRejected || c.method != http.MethodPost
	if fault.status != 0 && rejected {
		rec.Fault = true
		return fault.response(), false
	}
	resp := d.dispatch(c)
	client := resp
	if fault.status != 0 {
		rec.Fault = true
		client = fault.response()
		if fault.mode == FaultStoredError {
			resp = client
		}
	}
	if scope != "" && storable(resp.status) {
		d.idem[scope] = &idemEntry{fingerprint: fingerprint, at: d.now(), resp: resp}
		d.idemAge = append(d.idemAge, scope)
		d.expireIdempotencyKeys()
	}
	return client, false
}

// expireIdempotencyKeys forgets keys older than Stripe's 24 hours; stripe-go
// sends a fresh key with every POST, so the map would otherwise only grow.
func (d *Double) expireIdempotencyKeys() {
	now := d.now()
	for len(d.idemAge) > 0 {
		e, ok := d.idem[d.idemAge[0]]
		if ok && now.Sub(e.at) < idempotencyTTL {
			return
		}
		if ok {
			delete(d.idem, d.idemAge[0])
		}
		d.idemAge = d.idemAge[1:]
	}
}

// storable follows Stripe: a result is saved once the endpoint started
// executing (successes, card errors, server errors), but not when the
// request failed validation or was rate limited.
func storable(status int) bool {
	return status < 400 || status == http.StatusPaymentRequired || status >= 500
}

func (d *Double) dispatch(c *call) response {
	for _, rt := range d.routes {
		if args, ok := rt.match(c.method, c.path); ok {
			c.args = args
			return rt.handle(c)
		}
	}
	return errorResponse(http.StatusNotFound, stripeError{
		Type: "invalid_request_error",
		Message: fmt.Sprintf("Unrecognized request URL (%s: %s). stripedouble does not implement this endpoint; "+
			"see docs/stripe-double.md.", c.method, c.path),
	})
}

type route struct {
	method string
	segs   []string // "*" matches one id segment
	handle func(*call) response
}

func (rt route) match(method, path string) ([]string, bool) {
	if method != rt.method {
		return nil, false
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var args []string
	for i, s := range rt.segs {
		switch {
		case s == "*":
			args = append(args, segs[i])
		case s != segs[i]:
			return nil, false
		}
	}
	return args, true
}

func on(method, pattern string, h func(*call) response) route {
	return route{method: method, segs: strings.Split(strings.Trim(pattern, "/"), "/"), handle: h}
}

func (d *Double) routeTable() []route {
	return []route{
		on("POST", "/v1/customers", d.createCustomer),
		on("GET", "/v1/customers", d.listCustomers),
		on("GET", "/v1/customers/*", d.retrieve("customer")),
		on("POST", "/v1/customers/*", d.updateCustomer),

		on("POST", "/v1/payment_methods", d.createPaymentMethod),
		on("GET", "/v1/payment_methods", d.listPaymentMethods),
		on("GET", "/v1/payment_methods/*", d.retrievePaymentMethod),
		on("POST", "/v1/payment_methods/*/attach", d.attachPaymentMethod),
		on("POST", "/v1/payment_methods/*/detach", d.detachPaymentMethod),

		on("POST", "/v1/setup_intents", d.createSetupIntent),
		on("GET", "/v1/setup_intents", d.listSetupIntents),
		on("GET", "/v1/setup_intents/*", d.retrieve("setup_intent")),
		on("POST", "/v1/setup_intents/*/confirm", d.confirmSetupIntent),
		on("POST", "/v1/setup_intents/*/cancel", d.cancelSetupIntent),

		on("POST", "/v1/payment_intents", d.createPaymentIntent),
		on("GET", "/v1/payment_intents", d.listPaymentIntents),
		on("GET", "/v1/payment_intents/*", d.retrieve("payment_intent")),
		on("POST", "/v1/payment_intents/*", d.updatePaymentIntent),
		on("POST", "/v1/payment_intents/*/confirm", d.confirmPaymentIntent),
		on("POST", "/v1/payment_intents/*/cancel", d.cancelPaymentIntent),

		on("GET", "/v1/charges", d.listCharges),
		on("GET", "/v1/charges/*", d.retrieve("charge")),
		on("GET", "/v1/balance_transactions", d.listBalanceTransactions),
		on("GET", "/v1/balance_transactions/*", d.retrieve("balance_transaction")),

		on("POST", "/v1/refunds", d.createRefund),
		on("GET", "/v1/refunds", d.listRefunds),
		on("GET", "/v1/refunds/*", d.retrieve("refund")),
		on("GET", "/v1/disputes", d.listDisputes),
		on("GET", "/v1/disputes/*", d.retrieve("dispute")),

		on("POST", "/v1/transfers", d.createTransfer),
		on("GET", "/v1/transfers", d.listTransfers),
		on("GET", "/v1/transfers/*", d.retrieve("transfer")),
		on("POST", "/v1/transfers/*/reversals", d.createReversal),
		on("GET", "/v1/transfers/*/reversals", d.listReversals),
		on("GET", "/v1/transfers/*/reversals/*", d.retrieveReversal),

		on("POST", "/v1/accounts", d.createAccount),
		on("GET", "/v1/accounts/*", d.retrieve("account")),
		on("POST", "/v1/account_links", d.createAccountLink),

		on("POST", "/v1/checkout/sessions", d.createCheckoutSession),
		on("GET", "/v1/checkout/sessions", d.listCheckoutSessions),
		on("GET", "/v1/checkout/sessions/*", d.retrieve("checkout.session")),
		on("POST", "/v1/checkout/sessions/*/expire", d.expireCheckoutSession),

		on("GET", "/v1/events", d.listEvents),
		on("GET", "/v1/events/*", d.retrieve("event")),
	}
}
