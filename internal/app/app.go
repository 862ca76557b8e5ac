// Package app wires Backstitch together: store, payments and web server, with start-up checks and
// graceful shutdown. cmd/backstitch runs it; end-to-end tests run the very same thing.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/admin"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/console"
	"github.com/backstitch/backstitch/internal/csrf"
	"github.com/backstitch/backstitch/internal/metrics"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/pages"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/ratelimit"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/settlement"
	"github.com/backstitch/backstitch/internal/stripepay"
	"github.com/backstitch/backstitch/internal/update"
	"github.com/backstitch/backstitch/internal/visits"
	"github.com/backstitch/backstitch/internal/web"
)

// App is a running Backstitch instance.
type App struct {
	cfg      config.Config
	log      zerolog.Logger
	now      backstitch.Clock
	store    *mongostore.Store
	ownStore bool
	web      *web.Server
	pledges  *pledge.Service
	// campaigns is kept for the sweeper, which delivers messages its steps left owed.
	campaigns *campaign.Service
	settler   *settlement.Settler
	runner    *reconcile.Runner
	// relay sends the outbox; nil without BACKSTITCH_SMTP_URL (messages wait in the outbox).
	relay *notify.Relay
	// updates writes designers' updates to the outbox, one message per backer.
	updates *notify.Updates
	// schedule writes the messages time makes due: digests, reminders, cancelled dates.
	schedule *notify.Schedule
	// offline holds the embedded store and the Stripe double when they run; only the default
	// build has them (offline.go), the production build none (offline_production.go).
	offline offlineParts
	// Offline mode: where the double answers, and the key it answers.
	stripeURL string
	stripeKey string
	// metrics is this instance's registry; with BACKSTITCH_METRICS_ADDR it is served on its own
	// listener, away from the public app.
	metrics *metrics.Metrics
	// visits counts campaign page visits per source in memory until a flush (see visits).
	visits *visits.Counter
	// pledgeLimit counts pledges per address in memory until a flush (see ratelimit).
	pledgeLimit *ratelimit.Limiter
}

// Deps lets tests supply parts that are otherwise made from the configuration.
type Deps struct {
	// Store, when set, is used instead of opening one from the configuration; the caller closes it.
	Store *mongostore.Store
	Now   backstitch.Clock
}

// Open starts everything but the listener: the embedded store when no MONGODB_URI is set, the
// connection and indexes, and the HTTP handlers.
func Open(ctx context.Context, cfg config.Config, log zerolog.Logger, deps Deps) (*App, error) {
	if err := CheckBuild(cfg); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, now: deps.Now, store: deps.Store, metrics: metrics.New()}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	if a.store == nil {
		if err := a.openStore(ctx); err != nil {
			a.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	gateway, err := a.openPayments()
	if err != nil {
		a.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	a.pledges = pledge.NewService(a.store, gateway, a.now, a.cfg.PledgeHold, pledge.Dunning{Retries: a.cfg.DunningRetries, Window: a.cfg.DunningWindow})
	a.pledges.SignFixLinks(a.store.ServerSecret)
	a.pledges.SealManageTokens(a.store.ServerSecret)
	host, _ := os.Hostname()
	a.settler = settlement.New(a.store, a.pledges, a.now, settlement.Options{
		Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), backstitch.NewID("settler")), Concurrency: a.cfg.SettleConcurrency,
		LeaseTTL: a.cfg.SettleLeaseTTL, PlatformFeeBPS: int64(a.cfg.PlatformFeeBPS),
		CancelFeesBorneBy: a.cfg.CancelFeesBorneBy})
	a.runner = reconcile.NewRunner(a.store, gateway, a.now, reconcile.RunnerOptions{
		Owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), backstitch.NewID("reconciler")), LeaseTTL: a.cfg.SettleLeaseTTL,
		StuckAfter: a.cfg.ReconcileStuckAfter, PlatformFeeBPS: int64(a.cfg.PlatformFeeBPS)})
	admins := admin.New(a.store, a.pledges, a.runner, reconcile.NewResolver(a.store, gateway, a.pledges, a.settler, a.now), a.now)
	admins.UseSettler(a.settler, int64(a.cfg.PlatformFeeBPS))
	campaigns := campaign.NewService(a.store, a.now, campaign.Rules{MinDuration: a.cfg.MinCampaignDuration, MaxDuration: a.cfg.MaxCampaignDuration})
	a.campaigns = campaigns
	accounts := account.NewService(a.store, a.now, account.Policy{SessionTTL: a.cfg.SessionTTL,
		LoginPerAddress: a.cfg.LoginPerAddress, LoginPerAccount: a.cfg.LoginPerAccount, LoginWindow: a.cfg.LoginWindow})
	secure := strings.HasPrefix(a.cfg.PublicURL, "https://")
	checkoutOrigin := "https://checkout.stripe.com"
	if a.stripeURL != "" {
		checkoutOrigin = a.stripeURL // the Stripe double serves Checkout offline
	}
	public := web.NewPublicCache(a.cfg.PublicCacheTTL, a.now)
	a.visits = visits.NewCounter(a.store, a.now)
	a.pledgeLimit = ratelimit.New(a.store, a.now)
	pledgeLimit := ratelimit.Pledges{Limiter: a.pledgeLimit, Allowed: a.cfg.PledgePerAddress, Window: a.cfg.PledgeWindow}
	guard := csrf.New(a.store.ServerSecret, secure)
	outbox := notify.NewOutbox(a.store, a.cfg.PublicURL, a.now)
	outbox.TellDunningWindow(a.cfg.DunningWindow)
	a.updates = notify.NewUpdates(a.store, a.store.ServerSecret, a.cfg.PublicURL, a.now)
	a.schedule = notify.NewSchedule(a.store, a.store.ServerSecret, a.cfg.PublicURL, a.now)
	updates := update.NewService(a.store, campaigns, a.now)
	pg, err := pages.New(campaigns, accounts, a.pledges, a.now, secure, guard, checkoutOrigin,
		pages.Public{Cache: public, TTL: a.cfg.PublicCacheTTL, URL: a.cfg.PublicURL, Visits: a.visits, PledgeLimit: pledgeLimit,
			Mail: pages.Mail{Recover: a.store, Outbox: outbox, Subscriptions: a.updates, Updates: updates, Digests: a.schedule}})
	if err != nil {
		a.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	users := admin.NewUsers(a.store, outbox, a.now, func(token string) string {
		return a.cfg.PublicURL + "/admin/join?" + url.Values{"token": {token}}.Encode()
	})
	recon := web.Reconciliation{Store: a.store, Admin: admins, Users: users}
	designers, err := console.New(campaigns, accounts, a.now, a.cfg.PublicURL, guard, console.Admin{Service: admins, Users: users, Store: a.store})
	if err != nil {
		a.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	designers.UseReports(a.store)
	designers.UseFulfilment(a.pledges)
	designers.UseUpdates(updates)
	designers.UseSettlement(a.store, int64(a.cfg.PlatformFeeBPS), a.cfg.DunningWindow)
	designers.LinkStripeDashboard(a.cfg.StripeMode())
	a.web = web.New(a.cfg, a.store, accounts, campaigns, a.pledges, gateway, recon, pg, designers, public, log, a.now, a.metrics, pledgeLimit)
	a.web.UseUpdates(updates)
	designers.UsePayouts(a.web)
	if err := a.openMail(outbox, campaigns, designers, guard, secure); err != nil {
		a.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	// Every write that changes a public view drops the web layer's cached copies at once; a
	// write of a campaign or its tiers (a status, a price) also drops the pledge service's
	// copies. The pledge service's own writes move only counters, which its copies ignore.
	campaigns.NotifyChanges(changeNotifiers{a.web, a.pledges})
	a.pledges.NotifyChanges(a.web)
	a.settler.NotifyChanges(changeNotifiers{a.web, a.pledges})
	updates.NotifyChanges(a.web)
	accounts.NotifyChanges(a.web)
	return a, nil
}

// CheckBuild refuses a configuration this build cannot run: the production build has no embedded
// store and no offline Stripe, so it needs MONGODB_URI, STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.
// The server calls it before it takes BACKSTITCH_ADDR, so a misconfigured instance never holds the
// port (nor passes a load balancer's TCP check) on its way to failing.
func CheckBuild(cfg config.Config) error { return checkBuild(cfg) }

// openPayments connects to Stripe, or in offline mode starts the Stripe double on a loopback
// port and points the ordinary Stripe client at it: the service runs the same code either way.
func (a *App) openPayments() (*stripepay.Client, error) {
	if !a.cfg.Offline() {
		mode := "test"
		if a.cfg.StripeLive() {
			mode = "live"
		}
		a.log.Info().Str("payments", "stripe").Str("stripe_mode", mode).Msg("payments: Stripe (" + mode + " mode)")
		return stripepay.New(stripepay.Options{SecretKey: a.cfg.StripeSecretKey, PublishableKey: a.cfg.StripePublishableKey,
			BackendURL: a.cfg.StripeAPIURL, Timeout: a.cfg.StripeAPITimeout, WritesPerSecond: a.cfg.StripeWriteRate,
			WebhookSecret: a.cfg.StripeWebhookSecret, Metrics: a.metrics}), nil
	}
	return a.openOfflinePayments()
}

// WebhookSecret is the secret Stripe webhooks are verified with (generated in offline mode).
func (a *App) WebhookSecret() string { return a.cfg.StripeWebhookSecret }

// StripeURL is where the Stripe client sends requests in offline mode (the double), so tests can
// act as a browser running Stripe.js against it.
func (a *App) StripeURL() string { return a.stripeURL }

// StripeSecretKey is the key the double answers in offline mode (generated at start), so tests
// can call it as the service does.
func (a *App) StripeSecretKey() string { return a.stripeKey }

// Pledges gives tests and commands the pledge service the server uses.
func (a *App) Pledges() *pledge.Service { return a.pledges }

func (a *App) openStore(ctx context.Context) error {
	opts := mongostore.Options{URI: a.cfg.MongoURI, Database: a.cfg.MongoDatabase, MaxPoolSize: a.cfg.MongoMaxPool}
	if a.cfg.Embedded() {
		if err := a.startEmbeddedStore(&opts); err != nil {
			return err
		}
		a.log.Info().Str("store", "embedded").Str("data_dir", a.cfg.DataDir).
			Msg("store: embedded FerretDB (SQLite files); set MONGODB_URI to use MongoDB")
	} else {
		a.log.Info().Str("store", "mongodb").Str("database", a.cfg.MongoDatabase).Msg("store: MongoDB")
	}
	store, err := mongostore.Open(ctx, opts)
	if err != nil {
		if a.cfg.Embedded() {
			return fmt.Errorf("embedded store in BACKSTITCH_DATA_DIR %q: %w", a.cfg.DataDir, err)
		}
		return fmt.Errorf("MongoDB at MONGODB_URI %s: %w", a.cfg.Redacted()["mongodb_uri"], err)
	}
	a.store, a.ownStore = store, true
	expiry := "sweeper (no TTL indexes on this server)"
	if store.ServerExpires() {
		expiry = "TTL indexes"
	}
	a.log.Info().Str("expiry", expiry).Msg("expired sessions, idempotency records and rate-limit windows are deleted by " + expiry)
	return a.indexEmbeddedStore(ctx)
}

// Routes lists every route the server answers, as "METHOD /path/:param", for tests that must
// cover the whole API (authorisation matrix, OpenAPI document).
func (a *App) Routes() []string { return a.web.Routes() }

// Store gives the command line (admin create) the same store the server uses.
func (a *App) Store() *mongostore.Store { return a.store }

// Serve answers HTTP on ln until ctx is cancelled, then lets in-flight requests finish within the
// shutdown timeout. It also sweeps expired sessions, rate-limit windows and idempotency keys.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go every(sweepCtx, a.cfg.SweepInterval, a.sweep)
	go every(sweepCtx, a.cfg.SettleInterval, a.settle)
	go a.reconcile(sweepCtx, a.cfg.SettleInterval)
	go every(sweepCtx, visitsFlushEvery, a.flushVisits)
	go every(sweepCtx, a.cfg.PledgeLimitFlush, a.flushPledgeLimit)
	// Updates' messages are written whether or not there is a mail server (the dev mailbox
	// shows them).
	go every(sweepCtx, a.cfg.MailInterval, a.fanOutUpdates)
	// Scheduled messages read every live campaign: at most once a minute, as often as mail goes.
	go every(sweepCtx, max(a.cfg.MailInterval, time.Minute), a.tickSchedule)
	if a.relay != nil {
		go every(sweepCtx, a.cfg.MailInterval, a.sendMail)
	}

	a.sendOfflineWebhooksTo(ln.Addr())
	if a.cfg.MetricsAddr != "" {
		stop, err := a.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}
	served := make(chan error, 1)
	go func() { served <- a.web.Serve(ln) }()
	a.log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.log.Info().Msg("shutting down: finishing in-flight requests")
	// A request still running when the timeout ends is abandoned, but what the others counted
	// is still flushed below: only the requests past the timeout lose their counts.
	var stopErr error
	if err := a.web.Shutdown(a.cfg.ShutdownTimeout); err != nil {
		stopErr = fmt.Errorf("shutdown: %w", err)
	}
	// After the last request: every visit counted reaches the store.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.visits.Flush(flushCtx); err != nil {
		a.log.Error().Err(err).Msg("flush visit counts at shutdown")
	}
	// Other instances go on counting this one's pledges until their windows end.
	if err := a.pledgeLimit.Flush(flushCtx); err != nil {
		a.log.Error().Err(err).Msg("flush pledge limit at shutdown")
	}
	// A shutdown that came before the server goroutine began serving ln finds no listener to
	// close, and that goroutine would then accept forever: closing ln ourselves ends it either
	// way (when the shutdown closed it already, the error says nothing new).
	_ = ln.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return errors.Join(stopErr, fmt.Errorf("http server: %w", err))
	}
	return stopErr
}

// visitsFlushEvery is how often counted visits are added to the store: often enough that the
// designer's figures are current, rarely enough that visits cost next to no writes.
const visitsFlushEvery = 10 * time.Second

// flushVisits adds counted visits to the store; Serve flushes once more at shutdown.
func (a *App) flushVisits(ctx context.Context) {
	if err := a.visits.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn().Err(err).Msg("flush visit counts")
	}
}

// flushPledgeLimit adds the pledges counted against the per-address limit to the store and reads
// back the totals of those windows, other instances' pledges included; Serve flushes once more at
// shutdown.
func (a *App) flushPledgeLimit(ctx context.Context) {
	if err := a.pledgeLimit.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn().Err(err).Msg("flush pledge limit")
	}
}

// PledgeLimit gives tests the per-address pledge limiter.
func (a *App) PledgeLimit() *ratelimit.Limiter { return a.pledgeLimit }

// every runs job each interval until ctx ends: the loop every background job of an instance
// shares. (Reconciliation has its own, since a queued run also wakes it.)
func every(ctx context.Context, interval time.Duration, job func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			job(ctx)
		}
	}
}

// Visits gives tests the counter of page visits.
func (a *App) Visits() *visits.Counter { return a.visits }

// sweep deletes expired records (where no TTL index does) and sweeps pledges.
func (a *App) sweep(ctx context.Context) {
	n, err := a.store.PurgeExpired(ctx, a.now())
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn().Err(err).Msg("purge expired records")
	} else if n > 0 {
		a.log.Debug().Int64("deleted", n).Msg("purged expired records")
	}
	a.SweepPledges(ctx)
	a.SweepCampaigns(ctx)
}

// SweepCampaigns delivers the messages of campaign steps whose writer died before handing them to
// the outbox (the sweeper's tick, also called by tests).
func (a *App) SweepCampaigns(ctx context.Context) {
	if _, err := a.campaigns.DeliverOwed(a.log.WithContext(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn().Err(err).Msg("deliver messages owed by campaign steps")
	}
}

// SweepPledges runs one sweep of pledges (the sweeper's tick, also called by tests): holds that
// ran out end, and counters left behind by a crashed transition are healed.
func (a *App) SweepPledges(ctx context.Context) {
	swept, err := a.pledges.Sweep(a.log.WithContext(ctx))
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn().Err(err).Msg("sweep pledges")
	}
	if swept.Expired > 0 {
		a.log.Info().Int("expired", swept.Expired).Msg("expired pledge holds")
	}
	for _, d := range swept.Healed {
		a.log.Warn().Str("campaign_id", d.CampaignID).Bool("drifted", d.Any()).Str("drift", d.String()).Msg("healed counters after an interrupted pledge change")
	}
}

// settle is the settlement scheduler's tick: campaigns past their deadline are settled (one
// instance per campaign, by lease) and the dunning schedule runs.
func (a *App) settle(ctx context.Context) {
	if err := a.settler.Tick(a.log.WithContext(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error().Err(err).Msg("settlement tick")
	}
}

// reconcile carries out queued reconciliation runs: at once when this instance queued one, and
// every tick for runs queued elsewhere or left unfinished by an instance that died.
func (a *App) reconcile(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.runner.Kicked():
		}
		if err := a.runner.Tick(a.log.WithContext(ctx)); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error().Err(err).Msg("reconciliation tick")
		}
	}
}

// openMail writes messages to the outbox as pledges and campaigns change, and sends them when
// there is a mail server; in development without one, admins read them at /dev/mailbox.
func (a *App) openMail(outbox *notify.Outbox, campaigns *campaign.Service, designers *console.Console, guard *csrf.Guard, secure bool) error {
	outbox.LinkFixes(a.pledges.FixLinkToken)
	outbox.LinkManage(a.pledges.ConfirmationToken)
	a.pledges.NotifyBackers(outbox)
	campaigns.NotifyDesigners(outbox)
	designers.MailResets(outbox)
	a.settler.NotifyPeople(outbox)
	render, err := notify.NewRenderer()
	if err != nil {
		return err
	}
	if !a.cfg.Mailing() {
		if a.cfg.Env == "development" {
			a.web.MountDevMailbox(a.store, render, guard, secure)
			a.log.Info().Str("mailbox", a.cfg.PublicURL+"/dev/mailbox").Msg("mail: no BACKSTITCH_SMTP_URL; messages stay in the outbox, admins read them at /dev/mailbox")
		}
		return nil
	}
	host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a.cfg.PublicURL, "https://"), "http://"), ":")
	sender, err := notify.NewSMTP(notify.SMTPOptions{Host: a.cfg.SMTP.Host, Port: a.cfg.SMTP.Port, TLS: a.cfg.SMTP.TLS,
		Username: a.cfg.SMTP.Username, Password: a.cfg.SMTP.Password, From: a.cfg.MailFrom, Domain: host, Timeout: a.cfg.SMTPTimeout})
	if err != nil {
		return fmt.Errorf("BACKSTITCH_SMTP_URL: %w", err)
	}
	a.relay = notify.NewRelay(a.store, sender, render, a.now)
	a.log.Info().Str("smtp", a.cfg.Redacted()["smtp"]).Msg("mail: sending through SMTP")
	return nil
}

// sendMail is the relay's tick: each instance sends what is due, one claim per message.
func (a *App) sendMail(ctx context.Context) {
	if _, err := a.relay.Tick(a.log.WithContext(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error().Err(err).Msg("mail relay tick")
	}
}

// fanOutUpdates writes the messages of posted updates to the outbox: each instance tries, one
// holds each update at a time.
func (a *App) fanOutUpdates(ctx context.Context) {
	if _, err := a.updates.Tick(a.log.WithContext(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error().Err(err).Msg("updates fan-out tick")
	}
}

// tickSchedule writes the scheduled messages due now: each instance tries, and their ids make
// one of each.
func (a *App) tickSchedule(ctx context.Context) {
	if err := a.schedule.Tick(a.log.WithContext(ctx)); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error().Err(err).Msg("scheduled messages tick")
	}
}

// Schedule gives tests the scheduled messages.
func (a *App) Schedule() *notify.Schedule { return a.schedule }

// Updates gives tests the fan-out of updates.
func (a *App) Updates() *notify.Updates { return a.updates }

// Relay gives tests the mail relay (nil without BACKSTITCH_SMTP_URL).
func (a *App) Relay() *notify.Relay { return a.relay }

// Reconciler gives tests and commands the runner of reconciliation runs.
func (a *App) Reconciler() *reconcile.Runner { return a.runner }

// Settler gives tests and commands the settler the scheduler uses.
func (a *App) Settler() *settlement.Settler { return a.settler }

func webhookURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/webhooks/stripe"
}

// serveMetrics serves /metrics on BACKSTITCH_METRICS_ADDR alone (the public app then has none),
// for a scraper on a private network or port. Only the server opens it: admin commands run beside
// a live service and must not compete for the address.
func (a *App) serveMetrics() (stop func(), err error) {
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on BACKSTITCH_METRICS_ADDR %q: %w", a.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("metrics server stopped")
		}
	}()
	a.log.Info().Str("addr", ln.Addr().String()).Msg("metrics listening")
	return func() { _ = srv.Close() }, nil
}

// Close releases the store (if this App opened it), the offline Stripe double and the embedded server.
func (a *App) Close(ctx context.Context) {
	a.closeDouble()
	if a.store != nil && a.ownStore {
		if err := a.store.Close(ctx); err != nil {
			a.log.Warn().Err(err).Msg("close store")
		}
	}
	a.closeEmbeddedStore()
}

// Campaigns gives tests the campaign service (its fault hook).
func (a *App) Campaigns() *campaign.Service { return a.campaigns }

// changeNotifiers tells each of its notifiers of a campaign's change.
type changeNotifiers []campaign.ChangeNotifier

func (ns changeNotifiers) CampaignChanged(campaignID string) {
	for _, n := range ns {
		n.CampaignChanged(campaignID)
	}
}
