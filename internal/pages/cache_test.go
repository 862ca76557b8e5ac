package pages_test

import (
	"context"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/testenv"
)

// A warm page costs no store read: the home page, a campaign page (in both languages) and an
// unknown slug, asked for again and again, send no command to the store.
func TestWarmPagesReadNothingFromTheStore(t *testing.T) {
	opts := testenv.StoreOptions(t)
	var reads atomic.Int64
	checked := opts.Monitor
	opts.Monitor = &event.CommandMonitor{Started: func(ctx context.Context, e *event.CommandStartedEvent) {
		switch e.CommandName {
		case "find", "aggregate", "count", "distinct":
			reads.Add(1)
		}
		checked.Started(ctx, e)
	}}
	s := startSiteOn(t, testenv.MustStoreAt(t, opts))
	d := s.demo()
	paths := []string{"/", "/campaigns/" + d.Geneva.Slug, "/campaigns/" + d.Kyoto.Slug, "/campaigns/no-such-campaign"}
	for _, p := range paths {
		for _, lang := range []string{"en", "fr"} {
			s.get(p, lang)
		}
	}
	before := reads.Load()
	for range 20 {
		for _, p := range paths {
			for _, lang := range []string{"en", "fr"} {
				if pg := s.get(p, lang); pg.status != 200 && pg.status != 404 {
					t.Fatalf("%s: %d", p, pg.status)
				}
			}
		}
	}
	if n := reads.Load() - before; n != 0 {
		t.Errorf("%d store reads for warm pages, want none", n)
	}
	if reads.Load() == 0 {
		t.Fatal("the monitor saw no read at all: it is not watching this store")
	}
}
