// Command settle measures settling a funded all-or-nothing campaign against the offline Stripe
// double, next to the double's own rate for bare PaymentIntents and the store's raw
// conditional-update rate at the same concurrency, in one run on one machine.
//
//	go run ./bench/settle [-n 2000] [-c 8]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/bench/internal/pool"
	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/stripepay"
)

func main() {
	n := flag.Int("n", 2000, "pledges to settle")
	conc := flag.Int("c", 8, "concurrent charges (the settler's BACKSTITCH_SETTLE_CONCURRENCY)")
	rate := flag.Int("rate", 0, "also settle with Stripe writes paced at this many per second, and report the use of that limit")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.BoolVar(&countCommands, "commands", false, "count the store commands each charge sends, by command and collection")
	flag.Parse()
	stopProfile := profile.Start(*cpuProfile)
	defer stopProfile()
	if err := run(os.Stdout, *n, *conc); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stopProfile()
		os.Exit(1)
	}
	if *rate == 0 {
		return
	}
	if err := runPaced(os.Stdout, *n, *conc, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stopProfile()
		os.Exit(1)
	}
}

// countCommands is -commands; commands counts them while the unpaced run settles.
var (
	countCommands bool
	commands      profile.Commands
)

func newDouble(writesPerSecond int) (*stripedouble.Double, *httptest.Server, *client.API, *stripepay.Client, error) {
	d, err := stripedouble.New(stripedouble.Options{Seed: 1})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	srv := httptest.NewServer(d)
	sc := client.New("sk_test_bench", stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(srv.URL),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}))
	pay := stripepay.New(stripepay.Options{SecretKey: "sk_test_bench", BackendURL: srv.URL, Timeout: time.Minute, WritesPerSecond: writesPerSecond})
	return d, srv, sc, pay, nil
}

func run(out io.Writer, n, conc int) error {
	ctx := context.Background()

	// The double's own rate: n bare PaymentIntents (create + confirm a test card) at concurrency c.
	d1, srv1, _, pay1, err := newDouble(0)
	if err != nil {
		return err
	}
	bare, err := pool.Run(n, conc, func(i int) error {
		in, err := pay1.CreatePaymentIntent(ctx, pledge.PaymentRequest{Amount: money.Money{Amount: 5000, Currency: "CHF"},
			PaymentMethodID: "pm_card_visa", Confirm: true, IdempotencyKey: fmt.Sprint("bare/", i)})
		if err == nil && in.Status != pledge.IntentSucceeded {
			err = fmt.Errorf("bare payment intent %d: %s", i, in.Status)
		}
		return err
	})
	srv1.Close()
	d1.Close()
	if err != nil {
		return err
	}

	// Settling n saved-card pledges through the real settler on the embedded store.
	dir, err := os.MkdirTemp("", "backstitch-bench-settle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	es, err := embedded.Start(dir)
	if err != nil {
		return err
	}
	defer es.Close()
	rawCPU := profile.CPUTime()
	raw, err := rawConditionalRate(ctx, es.URI(), n, conc)
	if err != nil {
		return err
	}
	rawCPU = profile.CPUTime() - rawCPU
	opts := mongostore.Options{URI: es.URI(), Database: "bench", SingleConnection: true, Locks: es.Locks(), Scanner: es, Writer: es, ConstraintIndexesOnly: true}
	if countCommands {
		opts.Monitor, opts.Writer = commands.Monitor(), commands.Writer(opts.Writer)
	}
	store, err := mongostore.Open(ctx, opts)
	if err != nil {
		return err
	}
	if err := es.IndexIDs(ctx, "bench"); err != nil {
		return err
	}
	d2, srv2, sc, pay2, err := newDouble(0)
	if err != nil {
		return err
	}
	defer srv2.Close()
	defer d2.Close()
	seedStart := time.Now()
	camp, err := seed(ctx, store, sc, n, conc)
	if err != nil {
		return err
	}
	seeded := time.Since(seedStart)
	now := func() time.Time { return time.Now().UTC() }
	svc := pledge.NewService(store, pay2, now, 30*time.Minute, pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour})
	settler := settlement.New(store, svc, now, settlement.Options{Owner: "bench", Concurrency: conc})
	if countCommands {
		commands.Start()
	}
	stripeBefore := len(d2.Requests())
	start, settleCPU := time.Now(), profile.CPUTime()
	if err := settler.Settle(zerolog.New(os.Stderr).Level(zerolog.WarnLevel).WithContext(ctx), camp.ID); err != nil {
		return err
	}
	settle, settleCPU := time.Since(start), profile.CPUTime()-settleCPU
	got, err := store.FindCampaign(ctx, camp.ID)
	if err != nil {
		return err
	}
	if got.Settlement == nil || got.Settlement.ChargedAt == nil {
		return fmt.Errorf("settlement did not finish")
	}
	if pis := len(d2.PaymentIntents()); pis != n {
		return fmt.Errorf("%d payment intents for %d pledges", pis, n)
	}
	bareTime := time.Duration(float64(n) / bare * float64(time.Second))
	fmt.Fprintf(out, "seeding %d saved-card pledges: %v\n", n, seeded.Round(time.Millisecond))
	fmt.Fprintf(out, "double, %d bare payment intents at concurrency %d: %v (%.0f /s)\n", n, conc, bareTime.Round(time.Millisecond), bare)
	fmt.Fprintf(out, "settling %d pledges at concurrency %d:            %v (%.0f /s)\n", n, conc, settle.Round(time.Millisecond), float64(n)/settle.Seconds())
	fmt.Fprintf(out, "ratio settle/bare: %.2fx (for reference: the double alone, in-process on the same cores)\n", settle.Seconds()/bareTime.Seconds())
	fmt.Fprintf(out, "store raw conditional-update rate:              %.0f /s\n", raw)
	fmt.Fprintf(out, "ratio settle/raw: %.1f%% (target >= 33%%)\n", 100*float64(n)/settle.Seconds()/raw)
	// The process's CPU time (the double's included) per pledge settled and per raw update.
	fmt.Fprintf(out, "CPU per pledge settled %v, per raw conditional update %v\n",
		(settleCPU / time.Duration(n)).Round(time.Microsecond), (rawCPU / time.Duration(n)).Round(time.Microsecond))
	// Each is validated against Stripe's specification and applied by the double, on the same cores.
	fmt.Fprintf(out, "Stripe requests per charge: %.2f\n", float64(len(d2.Requests())-stripeBefore)/float64(n))
	if countCommands {
		commands.Report(out, n)
	}
	return nil
}

// rawConditionalRate is the store's rate for bare conditional updates at concurrency c through
// one connection, as the service opens the embedded store: n updates of one document, each
// applied only while a condition on the document holds (bench/pledges measures its conditional
// update the same way).
func rawConditionalRate(ctx context.Context, uri string, n, conc int) (float64, error) {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetMaxPoolSize(1))
	if err != nil {
		return 0, err
	}
	defer client.Disconnect(ctx)
	units := client.Database("bench_raw").Collection("units")
	if _, err := units.InsertOne(ctx, bson.M{"_id": "tier", "remaining": int64(n)}); err != nil {
		return 0, err
	}
	return pool.Run(n, conc, func(int) error {
		res, err := units.UpdateOne(ctx, bson.M{"_id": "tier", "remaining": bson.M{"$gt": 0}}, bson.M{"$inc": bson.M{"remaining": int64(-1)}})
		if err == nil && res.MatchedCount != 1 {
			err = fmt.Errorf("conditional update matched nothing")
		}
		return err
	})
}

// seed stores a live campaign past its deadline with n active pledges whose cards are saved at
// the double, as pledging leaves them.
func seed(ctx context.Context, store *mongostore.Store, sc *client.API, n, conc int) (campaign.Campaign, error) {
	now := time.Now().UTC()
	title, deadline, tz := "Bench settle", now.Add(48*time.Hour).Format(time.RFC3339), "Europe/Zurich"
	goal := money.Money{Amount: 100000, Currency: "CHF"}
	camp, err := campaign.New(campaign.Fields{Title: &title, Goal: &goal, Deadline: &deadline, Timezone: &tz}, "usr_designer",
		now, campaign.Rules{MinDuration: time.Hour, MaxDuration: 1000 * time.Hour})
	if err != nil {
		return camp, err
	}
	launched := now.Add(-30 * 24 * time.Hour)
	camp.Status, camp.LaunchedAt, camp.Deadline = campaign.StatusLive, &launched, now.Add(-time.Minute)
	if camp, err = store.CreateCampaign(ctx, camp); err != nil {
		return camp, err
	}
	_, err = pool.Run(n, conc, func(i int) error {
		cus, err := sc.Customers.New(&stripe.CustomerParams{Email: stripe.String(fmt.Sprintf("b%d@example.com", i))})
		if err != nil {
			return err
		}
		si, err := sc.SetupIntents.New(&stripe.SetupIntentParams{Customer: stripe.String(cus.ID), Usage: stripe.String("off_session"),
			PaymentMethodTypes: stripe.StringSlice([]string{"card"}), Confirm: stripe.Bool(true), PaymentMethod: stripe.String("pm_card_visa")})
		if err != nil {
			return err
		}
		return store.CreatePledge(ctx, pledge.Pledge{ID: fmt.Sprintf("plg_bench%06d", i), CampaignID: camp.ID, FundingModel: campaign.AllOrNothing,
			Amount: money.Money{Amount: 5000, Currency: "CHF"}, Status: pledge.StatusActive, CustomerID: cus.ID, SetupIntentID: si.ID,
			PaymentMethodID: si.PaymentMethod.ID, CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}})
	})
	return camp, err
}

// runPaced settles with Stripe writes paced at rate per second and reports how much of that limit
// the settler used (each pledge's charge is one write).
func runPaced(out io.Writer, n, conc, rate int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backstitch-bench-paced-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	es, err := embedded.Start(dir)
	if err != nil {
		return err
	}
	defer es.Close()
	store, err := mongostore.Open(ctx, mongostore.Options{URI: es.URI(), Database: "bench", SingleConnection: true, Locks: es.Locks(), Scanner: es, Writer: es, ConstraintIndexesOnly: true})
	if err != nil {
		return err
	}
	if err := es.IndexIDs(ctx, "bench"); err != nil {
		return err
	}
	d, srv, sc, pay, err := newDouble(rate)
	if err != nil {
		return err
	}
	defer srv.Close()
	defer d.Close()
	camp, err := seed(ctx, store, sc, n, conc)
	if err != nil {
		return err
	}
	now := func() time.Time { return time.Now().UTC() }
	svc := pledge.NewService(store, pay, now, 30*time.Minute, pledge.Dunning{Retries: []time.Duration{24 * time.Hour}, Window: 168 * time.Hour})
	settler := settlement.New(store, svc, now, settlement.Options{Owner: "bench-paced", Concurrency: conc})
	start := time.Now()
	if err := settler.Settle(zerolog.New(os.Stderr).Level(zerolog.WarnLevel).WithContext(ctx), camp.ID); err != nil {
		return err
	}
	took := time.Since(start)
	writes := d.RequestCount("POST", "/v1/payment_intents")
	used := float64(writes) / took.Seconds()
	fmt.Fprintf(out, "paced at %d writes/s: %d charges in %v = %.1f writes/s, %.0f%% of the limit (target >= 90%%)\n",
		rate, writes, took.Round(time.Millisecond), used, 100*used/float64(rate))
	return nil
}
