// Package site runs the whole service for the load benchmarks: the embedded store, one or more
// instances of the app on loopback ports (offline Stripe double included), and a live campaign
// made the way a designer and an admin make one, over the API.
package site

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/mongostore"
)

// OpenStore opens the embedded store's database db as the service does, and creates the admin who approves campaigns
// (admin@bench.example, password "benchmark admin"). monitor, when not nil, sees every command
// (profile.Commands counts them).
func OpenStore(ctx context.Context, srv *embedded.Server, db string, monitor *event.CommandMonitor) (*mongostore.Store, error) {
	// As the service opens the embedded store (internal/app/offline.go): without the Scanner,
	// the sweeps, dunning and every compare-and-set would ask FerretDB the questions it answers
	// by reading the whole collection, which the service never does.
	store, err := mongostore.Open(ctx, mongostore.Options{URI: srv.URI(), Database: db, SingleConnection: true, Locks: srv.Locks(), Scanner: srv, Writer: srv,
		Monitor: monitor, ConstraintIndexesOnly: true})
	if err != nil {
		return nil, err
	}
	if err := srv.IndexIDs(ctx, db); err != nil {
		return nil, err
	}
	admin, err := account.NewUser(account.SignupFields{Email: "admin@bench.example", Password: "benchmark admin", Name: "Admin"}, account.RoleAdmin, time.Now())
	if err == nil {
		err = store.CreateUser(ctx, admin)
	}
	return store, err
}

// StartService runs an instance of the service on store with the default configuration plus
// env, and returns its loopback address and how to stop it.
func StartService(ctx context.Context, store *mongostore.Store, env map[string]string) (addr string, stop func(), err error) {
	all := map[string]string{"BACKSTITCH_LOG_LEVEL": "error"}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.Load(func(k string) string { return all[k] })
	if err != nil {
		return "", nil, err
	}
	a, err := app.Open(ctx, cfg, zerolog.Nop(), app.Deps{Store: store})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close(ctx)
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = a.Serve(sctx, ln); close(done) }()
	return ln.Addr().String(), func() {
		cancel()
		<-done
		a.Close(ctx)
	}, nil
}

var client = &fasthttp.Client{MaxConnsPerHost: 1024}

// Get fetches path anonymously, in English, returning the status, body and content type.
func Get(addr, path string) (int, []byte, string, error) {
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI("http://" + addr + path)
	if err := client.DoTimeout(req, res, 30*time.Second); err != nil {
		return 0, nil, "", err
	}
	return res.StatusCode(), bytes.Clone(res.Body()), string(res.Header.ContentType()), nil
}

// Call sends a request with a JSON body (when body is not empty); header holds extra header
// pairs.
func Call(method, addr, path, token, body string, header ...string) (int, []byte, error) {
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + addr + path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if err := client.DoTimeout(req, res, 30*time.Second); err != nil {
		return 0, nil, err
	}
	return res.StatusCode(), bytes.Clone(res.Body()), nil
}

// Campaign is a live campaign made by LiveCampaign: its ids, and its tiers in the order
// LiveCampaign lists them.
type Campaign struct {
	ID, Slug string
	// Coat is a physical tier limited to CoatLimit units; Workshop an experience of 12 places;
	// Note a digital tier without limit and without shipping.
	Coat, Workshop, Note string
}

// CoatLimit is the coat tier's number of units.
const CoatLimit = 50

// LiveCampaign launches an all-or-nothing campaign in CHF with three tiers, as a designer and an
// admin would, over the API of the instance at addr.
func LiveCampaign(addr string) (Campaign, error) {
	var m map[string]any
	do := func(method, path, token, body string, want int) error {
		status, b, err := Call(method, addr, "/api/v1"+path, token, body)
		if err != nil {
			return err
		}
		if status != want {
			return fmt.Errorf("%s %s: %d %s", method, path, status, b)
		}
		m = map[string]any{}
		return json.Unmarshal(b, &m)
	}
	fail := func(err error) (Campaign, error) { return Campaign{}, err }
	if err := do("POST", "/designers", "", `{"email":"d@bench.example","password":"benchmark designer","name":"D"}`, 201); err != nil {
		return fail(err)
	}
	if err := do("POST", "/sessions", "", `{"email":"d@bench.example","password":"benchmark designer"}`, 201); err != nil {
		return fail(err)
	}
	designer := m["token"].(string)
	if err := do("POST", "/sessions", "", `{"email":"admin@bench.example","password":"benchmark admin"}`, 201); err != nil {
		return fail(err)
	}
	admin := m["token"].(string)
	deadline := time.Now().Add(30 * 24 * time.Hour).Format(time.DateOnly)
	if err := do("POST", "/campaigns", designer, `{"title":"Zero-waste linen coat","blurb":"Cut from deadstock linen.","story":"We cut every coat from fabric left over by mills, and sew it in Zürich.","goal":{"amount":1500000,"currency":"CHF"},"deadline":"`+deadline+`","timezone":"Europe/Zurich"}`, 201); err != nil {
		return fail(err)
	}
	c := Campaign{ID: m["id"].(string), Slug: m["slug"].(string)}
	for _, tier := range []struct {
		body string
		id   *string
	}{
		{fmt.Sprintf(`{"title":"Linen coat","kind":"physical","price":{"amount":32000,"currency":"CHF"},"limit":%d,"estimated_delivery":"2027-03"}`, CoatLimit), &c.Coat},
		{`{"title":"Sewing workshop","kind":"experience","price":{"amount":9000,"currency":"CHF"},"limit":12}`, &c.Workshop},
		{`{"title":"Thank-you note","kind":"digital","price":{"amount":1000,"currency":"CHF"}}`, &c.Note},
	} {
		if err := do("POST", "/campaigns/"+c.ID+"/tiers", designer, tier.body, 201); err != nil {
			return fail(err)
		}
		*tier.id = m["id"].(string)
	}
	for _, step := range []struct{ path, token string }{{"/campaigns/" + c.ID + "/submit", designer}, {"/admin/campaigns/" + c.ID + "/approve", admin}, {"/campaigns/" + c.ID + "/launch", designer}} {
		if err := do("POST", step.path, step.token, "", 200); err != nil {
			return fail(err)
		}
	}
	return c, nil
}
