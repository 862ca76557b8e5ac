//go:build !production

package app

// The default build carries the embedded store (FerretDB) and the Stripe double (with
// stripe-mock's specification), so that `go run ./cmd/backstitch` starts with nothing installed and
// tests run on real parts. A production build (-tags production, offline_production.go) leaves
// both out; these are the only places that start them.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/stripepay"
)

// offlineParts are what runs in place of MongoDB and Stripe when their settings are empty.
type offlineParts struct {
	embedded *embedded.Server
	// The Stripe double and the loopback server it answers on.
	double       *stripedouble.Double
	doubleServer *http.Server
}

// checkBuild accepts every configuration: this build can stand in for MongoDB and Stripe.
func checkBuild(config.Config) error { return nil }

// startEmbeddedStore starts FerretDB in BACKSTITCH_DATA_DIR and points opts at it: one
// connection (FerretDB loses concurrent updates of a document with more), its per-document locks,
// its bulk reads from the SQLite files and its grouped writes of pledges to them, and only the
// indexes that enforce a rule (FerretDB serves no query from the others, and every write pays
// for them).
func (a *App) startEmbeddedStore(opts *mongostore.Options) error {
	srv, err := embedded.Start(a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.offline.embedded = srv
	opts.URI, opts.SingleConnection, opts.Locks, opts.Scanner, opts.Writer, opts.ConstraintIndexesOnly = srv.URI(), true, srv.Locks(), srv, srv, true
	return nil
}

// indexEmbeddedStore adds the _id index FerretDB's own does not provide (see embedded.IndexIDs).
func (a *App) indexEmbeddedStore(ctx context.Context) error {
	if a.offline.embedded == nil {
		return nil
	}
	return a.offline.embedded.IndexIDs(ctx, a.cfg.MongoDatabase)
}

func (a *App) closeEmbeddedStore() {
	if a.offline.embedded != nil {
		if err := a.offline.embedded.Close(); err != nil {
			a.log.Warn().Err(err).Msg("stop embedded store")
		}
	}
}

// openOfflinePayments starts the Stripe double on a loopback port and points the ordinary Stripe
// client at it.
func (a *App) openOfflinePayments() (*stripepay.Client, error) {
	if a.cfg.StripeWebhookSecret == "" {
		a.cfg.StripeWebhookSecret = "whsec_offline_" + backstitch.NewID("k")
	}
	// The double answers only this key, made anew at every start and known only to this process's
	// Stripe client (and tests, through StripeSecretKey): its loopback port is open to every local
	// user, who must not read backers' customers or make payments through it.
	a.stripeKey = "sk_test_" + rand.Text() // one underscore less and stripe-mock would refuse its shape
	d, err := stripedouble.New(stripedouble.Options{WebhookSecret: a.cfg.StripeWebhookSecret, Now: a.now, SecretKey: a.stripeKey})
	if err != nil {
		return nil, fmt.Errorf("offline payments: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("offline payments: %w", err)
	}
	a.offline.double = d
	a.stripeURL = "http://" + ln.Addr().String()
	a.offline.doubleServer = &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.offline.doubleServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("offline payments server stopped")
		}
	}()
	a.log.Info().Str("payments", "offline").
		Msg("payments: offline, simulated by the in-process Stripe double (stripe-mock validates every request); set STRIPE_SECRET_KEY to use Stripe")
	return stripepay.New(stripepay.Options{SecretKey: a.stripeKey, PublishableKey: "pk_test_offline",
		BackendURL: a.stripeURL, Timeout: a.cfg.StripeAPITimeout, WebhookSecret: a.cfg.StripeWebhookSecret, Metrics: a.metrics}), nil
}

// sendOfflineWebhooksTo makes the double deliver webhooks to this very listener, as Stripe would
// to the public URL.
func (a *App) sendOfflineWebhooksTo(addr net.Addr) {
	if a.offline.double != nil {
		a.offline.double.SetWebhook(webhookURL(addr), a.cfg.StripeWebhookSecret)
	}
}

func (a *App) closeDouble() {
	if a.offline.double != nil {
		a.offline.double.Close()
		_ = a.offline.doubleServer.Close()
	}
}

// Double is the offline Stripe double, or nil when the service talks to Stripe.
func (a *App) Double() *stripedouble.Double { return a.offline.double }
