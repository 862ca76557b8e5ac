//go:build !production

package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/testenv"
	"github.com/backstitch/backstitch/internal/testsite"
)

// A service told to stop before its HTTP server has even begun accepting (a test that ends at
// once, a signal right after start) still stops: the shutdown may find no listener to close, so
// Serve closes its own. It once accepted forever, hanging the suite for 13 minutes.
func TestServeStopsEvenWhenToldToAtOnce(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	store := testenv.MustStore(t)
	for range 5 {
		a, err := app.Open(context.Background(), cfg, zerolog.Nop(), app.Deps{Store: store})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx, ln) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Serve did not return after its context was cancelled")
		}
		a.Close(context.Background())
	}
}

// A client may open a connection and send nothing on it: a browser's preconnect, or Go's
// transport, which keeps a connection it dialled for a request another connection then served.
// That connection holds no request, so it must neither keep a stopping instance from stopping
// (it once held the shutdown for the whole read timeout, past the shutdown timeout, and the
// instance stopped without flushing what it had counted) nor be answered: when its read timeout
// ended, it was sent a 503 "The request took too long", which a client sending its first request
// at that moment took for the answer to it.
func TestConnectionsThatSentNothingAreClosedUnanswered(t *testing.T) {
	store := testenv.MustStore(t)
	// silent serves an instance with env and dials it a connection that sends nothing, once the
	// instance has accepted it (it accepts in order, and answered a request dialled after it).
	silent := func(t *testing.T, env map[string]string) (stop func() error, conn net.Conn) {
		_, base, stop := testsite.Start(t, testsite.Config(t, env), zerolog.Nop(), app.Deps{Store: store})
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		r, err := client.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return stop, conn
	}
	// unanswered reads what the service sends on conn before it closes it: it must send nothing.
	unanswered := func(t *testing.T, conn net.Conn, within time.Duration) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(within))
		got, err := io.ReadAll(conn)
		if len(got) > 0 || err != nil {
			t.Fatalf("a connection that sent nothing got %q (%v), want it closed unanswered", got, err)
		}
	}

	t.Run("at shutdown", func(t *testing.T) {
		stop, conn := silent(t, map[string]string{"BACKSTITCH_SHUTDOWN_TIMEOUT": "4s", "BACKSTITCH_REQUEST_TIMEOUT": "30s"})
		if err := stop(); err != nil {
			t.Fatalf("serve: %v", err)
		}
		unanswered(t, conn, time.Second)
	})
	t.Run("at its read timeout", func(t *testing.T) {
		_, conn := silent(t, map[string]string{"BACKSTITCH_REQUEST_TIMEOUT": "1s"})
		unanswered(t, conn, 10*time.Second)
	})
}

// A request still running when the shutdown timeout ends fails the shutdown, but not what the
// instance counted: its visits still reach the store. (Serve once returned at the timeout,
// dropping every count not yet flushed.)
func TestShutdownPastItsTimeoutStillFlushes(t *testing.T) {
	a := startService(t, nil)
	c := a.pledgeSetup("flexible", 10)
	_, base, stop := testsite.Start(t, testsite.Config(t, map[string]string{"BACKSTITCH_SHUTDOWN_TIMEOUT": "1s", "BACKSTITCH_REQUEST_TIMEOUT": "30s"}),
		zerolog.Nop(), app.Deps{Store: a.store, Now: a.clock.Now})
	b := &service{t: t, base: base, http: &http.Client{}, clock: a.clock, store: a.store}
	for range 3 {
		b.page("/campaigns/" + c.slug)
	}
	b.http.CloseIdleConnections()
	// A request whose headers never end: in flight until the read timeout, past the shutdown's.
	slow, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	b.page("/campaigns/" + c.slug) // served after slow was accepted: it is in flight
	b.http.CloseIdleConnections()
	if err := stop(); err == nil || !strings.Contains(err.Error(), "shutdown") {
		t.Fatalf("serve: %v, want the shutdown's timeout", err)
	}
	counts, err := a.store.FindVisits(context.Background(), c.id)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range counts {
		total += n.Visits
	}
	if total != 4 {
		t.Errorf("stored %d visits, want the 4 counted before the shutdown timed out", total)
	}
}
