// Package app wires Backstitch together: store, payments and web server, with start-up checks and
// graceful shutdown. cmd/backstitch runs it; end-to-end tests run the very same thing.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/web"
)

// App is a running Backstitch instance.
type App struct {
	cfg      config.Config
	log      zerolog.Logger
	now      backstitch.Clock
	store    *mongostore.Store
	ownStore bool
	embedded *embedded.Server
	web      *web.Server
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
	a := &App{cfg: cfg, log: log, now: deps.Now, store: deps.Store}
	if a.now == nil {
		a.now = func() time.Time { return time.Now().UTC() }
	}
	if a.store == nil {
		if err := a.openStore(ctx); err != nil {
			a.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	a.web = web.New(cfg, a.store, log, a.now)
	return a, nil
}

func (a *App) openStore(ctx context.Context) error {
	opts := mongostore.Options{URI: a.cfg.MongoURI, Database: a.cfg.MongoDatabase}
	if a.cfg.Embedded() {
		srv, err := embedded.Start(a.cfg.DataDir)
		if err != nil {
			return err
		}
		a.embedded = srv
		opts.URI, opts.SingleConnection = srv.URI(), true
		a.log.Info().Str("store", "embedded").Str("data_dir", a.cfg.DataDir).
			Msg("store: embedded FerretDB (SQLite files); set MONGODB_URI to use MongoDB")
	} else {
		a.log.Info().Str("store", "mongodb").Str("database", a.cfg.MongoDatabase).Msg("store: MongoDB")
	}
	store, err := mongostore.Open(ctx, opts)
	if err != nil {
		return err
	}
	a.store, a.ownStore = store, true
	return nil
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
	go a.sweep(sweepCtx, time.Minute)

	served := make(chan error, 1)
	go func() { served <- a.web.App().Listener(ln) }()
	a.log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.log.Info().Msg("shutting down: finishing in-flight requests")
	if err := a.web.App().ShutdownWithTimeout(a.cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return <-served
}

func (a *App) sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := a.store.PurgeExpired(ctx, a.now())
			if err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn().Err(err).Msg("purge expired records")
			} else if n > 0 {
				a.log.Debug().Int64("deleted", n).Msg("purged expired records")
			}
		}
	}
}

// Close releases the store (if this App opened it) and stops the embedded server.
func (a *App) Close(ctx context.Context) {
	if a.store != nil && a.ownStore {
		if err := a.store.Close(ctx); err != nil {
			a.log.Warn().Err(err).Msg("close store")
		}
	}
	if a.embedded != nil {
		if err := a.embedded.Close(); err != nil {
			a.log.Warn().Err(err).Msg("stop embedded store")
		}
	}
}
