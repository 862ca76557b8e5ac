// Package testsite starts the whole service for a test, as the tests of internal/app, the pages
// and the console all do: the configuration tests use, and the service opened on a store and a
// movable clock, served on a loopback port until the test ends. (It cannot live in testenv,
// which the service's own packages use in their tests.)
package testsite

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
)

// Config is the configuration a test runs with: env over the defaults every test shares. The
// background scheduler and sweeper run on real time; tests drive them by hand on the movable
// clock, so they are pushed out of the way unless a test asks for them. So is the pledge limit's
// flush, whose store commands would otherwise mix with those a test counts (shutdown still
// flushes).
func Config(tb testing.TB, env map[string]string) config.Config {
	tb.Helper()
	defaults := map[string]string{"BACKSTITCH_SETTLE_INTERVAL": "24h", "BACKSTITCH_SWEEP_INTERVAL": "24h",
		"BACKSTITCH_PLEDGE_LIMIT_FLUSH": "24h"}
	cfg, err := config.Load(func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return defaults[k]
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Serve opens the service with cfg, log and deps and serves it on a loopback port; when the test
// ends it stops serving (an error from Serve fails the test) and closes the service. It answers
// the service and its base URL. Cleanups a caller registers after Serve run before it stops.
func Serve(tb testing.TB, cfg config.Config, log zerolog.Logger, deps app.Deps) (*app.App, string) {
	tb.Helper()
	a, base, stop := Start(tb, cfg, log, deps)
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return a, base
}

// Start is Serve for a test that stops the service itself and looks at how it stopped: stop
// ends serving and answers Serve's error (every call the same), and the service is closed when
// the test ends.
func Start(tb testing.TB, cfg config.Config, log zerolog.Logger, deps app.Deps) (a *app.App, base string, stop func() error) {
	tb.Helper()
	a, err := app.Open(context.Background(), cfg, log, deps)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close(context.Background())
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	stop = sync.OnceValue(func() error { cancel(); return <-done })
	tb.Cleanup(func() {
		_ = stop()
		a.Close(context.Background())
	})
	return a, "http://" + ln.Addr().String(), stop
}
