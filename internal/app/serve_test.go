//go:build !production

package app_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/testenv"
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
