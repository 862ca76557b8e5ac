// Command pledges measures pledge creation against the store's raw rate, in one run on one
// machine, so the ratio means something even where absolute numbers are noisy.
//
//	go run ./bench/pledges [-n 2000] [-c 16]
//
// Raw store rate: one insert plus one conditional update ($inc guarded by a filter), the floor of
// what creating a pledge must write. Pledge rate: POST /api/v1/campaigns/{slug}/pledges over
// loopback HTTP against the full service (embedded store, offline Stripe double with stripe-mock
// validation), each pledge claiming a unit of a limited tier.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/bench/internal/pool"
	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/mongostore"
)

func main() {
	n := flag.Int("n", 2000, "operations per measurement")
	conc := flag.Int("c", 16, "concurrent clients")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.BoolVar(&countCommands, "commands", false, "count the store commands each pledge sends, by command and collection")
	flag.Parse()
	stopProfile := profile.Start(*cpuProfile)
	defer stopProfile()
	if err := run(os.Stdout, *n, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stopProfile()
		os.Exit(1)
	}
}

// countCommands is -commands; commands counts them during the pledge phase.
var (
	countCommands bool
	commands      profile.Commands
)

func run(out io.Writer, n, conc int) error {
	dir, err := os.MkdirTemp("", "backstitch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx := context.Background()

	rawCPU := profile.CPUTime()
	raw, err := rawRate(ctx, srv.URI(), n, conc)
	if err != nil {
		return err
	}
	rawCPU = profile.CPUTime() - rawCPU
	pledges, pledgeCPU, err := pledgeRate(ctx, srv, n, conc)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "store raw rate (1 insert + 1 conditional update): %8.0f /s\n", raw)
	fmt.Fprintf(out, "pledge creation over HTTP:                       %8.0f /s\n", pledges)
	fmt.Fprintf(out, "ratio: %.1f%% (n=%d, concurrency=%d); 0 oversold: the tier's %d units claimed by %d pledges\n", 100*pledges/raw, n, conc, n, n)
	// The process's CPU time (the service, its client and the double) per operation.
	fmt.Fprintf(out, "CPU per pledge %v, per raw operation %v\n",
		(pledgeCPU / time.Duration(n)).Round(time.Microsecond), (rawCPU / time.Duration(n)).Round(time.Microsecond))
	if countCommands {
		commands.Report(out, n)
	}
	return nil
}

func rawRate(ctx context.Context, uri string, n, conc int) (float64, error) {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetMaxPoolSize(1))
	if err != nil {
		return 0, err
	}
	defer client.Disconnect(ctx)
	db := client.Database("bench_raw")
	if _, err := db.Collection("units").InsertOne(ctx, bson.M{"_id": "tier", "remaining": int64(n)}); err != nil {
		return 0, err
	}
	return pool.Run(n, conc, func(i int) error {
		if _, err := db.Collection("rows").InsertOne(ctx, bson.M{"_id": fmt.Sprint("row_", i), "amount": int64(5000), "status": "pending"}); err != nil {
			return err
		}
		res, err := db.Collection("units").UpdateOne(ctx, bson.M{"_id": "tier", "remaining": bson.M{"$gt": 0}}, bson.M{"$inc": bson.M{"remaining": int64(-1)}})
		if err == nil && res.MatchedCount != 1 {
			err = fmt.Errorf("conditional update matched nothing")
		}
		return err
	})
}

// pledgeRate is the rate of pledges over HTTP, and the process's CPU time they took.
func pledgeRate(ctx context.Context, srv *embedded.Server, n, conc int) (float64, time.Duration, error) {
	env := map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "10000000", "BACKSTITCH_LOG_LEVEL": "error"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return 0, 0, err
	}
	// As the service opens the embedded store (internal/app/offline.go).
	opts := mongostore.Options{URI: srv.URI(), Database: "bench_service", SingleConnection: true, Locks: srv.Locks(), Scanner: srv, Writer: srv, ConstraintIndexesOnly: true}
	if countCommands {
		opts.Monitor, opts.Writer = commands.Monitor(), commands.Writer(opts.Writer)
	}
	store, err := mongostore.Open(ctx, opts)
	if err != nil {
		return 0, 0, err
	}
	if err := srv.IndexIDs(ctx, "bench_service"); err != nil {
		return 0, 0, err
	}
	defer store.Close(ctx)
	a, err := app.Open(ctx, cfg, zerolog.Nop(), app.Deps{Store: store})
	if err != nil {
		return 0, 0, err
	}
	defer a.Close(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = a.Serve(sctx, ln) }()
	api := "http://" + ln.Addr().String() + "/api/v1"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: time.Minute}

	slug, tier, err := liveCampaign(ctx, store, hc, api, n)
	if err != nil {
		return 0, 0, err
	}
	if countCommands {
		commands.Start()
	}
	cpu := profile.CPUTime()
	rate, err := pool.Run(n, conc, func(i int) error {
		body := fmt.Sprintf(`{"tier_id":%q,"amount":{"amount":9000,"currency":"CHF"},"backer":{"email":"b%d@example.com","name":"Backer %d"}}`, tier, i, i)
		status, b, err := call(hc, "POST", api+"/campaigns/"+slug+"/pledges", "", body, "Idempotency-Key", fmt.Sprint("bench-", i))
		if err == nil && status != 201 {
			err = fmt.Errorf("pledge %d: %d %s", i, status, b)
		}
		return err
	})
	cpu = profile.CPUTime() - cpu
	if err == nil {
		err = checkUnits(ctx, store, slug, tier, n)
	}
	return rate, cpu, err
}

// checkUnits fails the run unless the tier's units match the pledges stored: n pledges on a
// tier of n units leave it with n claimed, none remaining, and n pledges (0 oversold, none lost).
func checkUnits(ctx context.Context, store *mongostore.Store, slug, tierID string, n int) error {
	c, err := store.FindCampaignBySlug(ctx, slug)
	if err != nil {
		return err
	}
	t, err := store.FindTier(ctx, c.ID, tierID)
	if err != nil {
		return err
	}
	stored, err := store.CountPledges(ctx)
	if err != nil {
		return err
	}
	if t.Claimed != int64(n) || t.Remaining == nil || *t.Remaining != 0 || stored != int64(n) {
		return fmt.Errorf("units: %d claimed, %v remaining, %d pledges stored; want %d, 0, %d", t.Claimed, t.Remaining, stored, n, n)
	}
	return nil
}

// liveCampaign sets up a live campaign with one limited experience tier (nothing to ship).
func liveCampaign(ctx context.Context, store *mongostore.Store, hc *http.Client, api string, units int) (slug, tier string, err error) {
	admin, err := account.NewUser(account.SignupFields{Email: "admin@bench.example", Password: "benchmark admin", Name: "Admin"}, account.RoleAdmin, time.Now())
	if err != nil {
		return "", "", err
	}
	if err := store.CreateUser(ctx, admin); err != nil {
		return "", "", err
	}
	var m map[string]any
	do := func(method, path, token, body string, want int) error {
		status, b, err := call(hc, method, api+path, token, body)
		if err != nil {
			return err
		}
		if status != want {
			return fmt.Errorf("%s %s: %d %s", method, path, status, b)
		}
		m = map[string]any{}
		if len(b) > 0 {
			return json.Unmarshal(b, &m)
		}
		return nil
	}
	if err := do("POST", "/designers", "", `{"email":"d@bench.example","password":"benchmark designer","name":"D"}`, 201); err != nil {
		return "", "", err
	}
	if err := do("POST", "/sessions", "", `{"email":"d@bench.example","password":"benchmark designer"}`, 201); err != nil {
		return "", "", err
	}
	designer := m["token"].(string)
	if err := do("POST", "/sessions", "", `{"email":"admin@bench.example","password":"benchmark admin"}`, 201); err != nil {
		return "", "", err
	}
	adminTok := m["token"].(string)
	deadline := time.Now().Add(30 * 24 * time.Hour).Format(time.DateOnly)
	if err := do("POST", "/campaigns", designer, `{"title":"Bench coat","goal":{"amount":90000000,"currency":"CHF"},"deadline":"`+deadline+`","timezone":"Europe/Zurich"}`, 201); err != nil {
		return "", "", err
	}
	id, slug := m["id"].(string), m["slug"].(string)
	if err := do("POST", "/campaigns/"+id+"/tiers", designer, fmt.Sprintf(`{"title":"Workshop","kind":"experience","price":{"amount":9000,"currency":"CHF"},"limit":%d}`, units), 201); err != nil {
		return "", "", err
	}
	tier = m["id"].(string)
	for _, step := range []struct{ path, token string }{{"/campaigns/" + id + "/submit", designer}, {"/admin/campaigns/" + id + "/approve", adminTok}, {"/campaigns/" + id + "/launch", designer}} {
		if err := do("POST", step.path, step.token, "", 200); err != nil {
			return "", "", err
		}
	}
	return slug, tier, nil
}

func call(hc *http.Client, method, url, token, body string, headers ...string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}
