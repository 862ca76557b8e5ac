package stripedouble

import (
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stripe/stripe-go/v76"
)

// holdHarness is a double delivering to a verifying receiver.
func holdHarness(t *testing.T) (*harness, *receiver) {
	t.Helper()
	rc := &receiver{t: t}
	target := httptest.NewServer(rc)
	t.Cleanup(target.Close)
	return newHarness(t, Options{WebhookURL: target.URL, WebhookSecret: testSecret}), rc
}

func eventIDs(d *Double) []string {
	var ids []string
	for _, e := range d.Events() {
		ids = append(ids, e.ID)
	}
	return ids
}

func heldIDs(hold *EventHold) []string {
	var ids []string
	for _, e := range hold.Events() {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestHeldEventsWaitForTheirRelease(t *testing.T) {
	h, rc := holdHarness(t)
	hold := h.d.HoldEvents(t)
	h.paid(t, 1000, "g") // three events
	waitWebhooks(t, h.d) // held events are not waited for
	events := eventIDs(h.d)
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	if got := rc.ids(); len(got) != 0 || len(h.d.WebhookDeliveries()) != 0 {
		t.Fatalf("held events delivered: %v, log %+v", got, h.d.WebhookDeliveries())
	}
	if held := hold.Events(); !slices.Equal(heldIDs(hold), events) || held[0].Type == "" {
		t.Fatalf("held %+v, events %v", held, events)
	}

	hold.Release()
	waitWebhooks(t, h.d)
	if got := rc.ids(); !slices.Equal(got, events) {
		t.Fatalf("released %v, want %v in creation order", got, events)
	}
	// Later events are not held, and a second release sends nothing again.
	if _, err := h.sc.Customers.New(&stripe.CustomerParams{}); err != nil {
		t.Fatal(err)
	}
	hold.Release()
	waitWebhooks(t, h.d)
	if got := rc.ids(); !slices.Equal(got, eventIDs(h.d)) {
		t.Fatalf("after release delivered %v, want %v", got, eventIDs(h.d))
	}
}

func TestHeldEventsReleasedReorderedDuplicatedOrDropped(t *testing.T) {
	h, rc := holdHarness(t)
	hold := h.d.HoldEvents(t)
	h.paid(t, 1000, "g")
	events := heldIDs(hold)
	hold.ReleaseInOrder(2, 0, 0) // the second is left out
	waitWebhooks(t, h.d)
	if got, want := rc.ids(), []string{events[2], events[0], events[0]}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	var dropped []string
	for _, dl := range h.d.WebhookDeliveries() {
		if dl.Dropped {
			dropped = append(dropped, dl.EventID)
		}
	}
	if !slices.Equal(dropped, events[1:2]) {
		t.Fatalf("dropped %v, want %v", dropped, events[1:2])
	}
}

func TestHeldEventsAreDiscardedAtCleanup(t *testing.T) {
	h, rc := holdHarness(t)
	var held []string
	t.Run("holds and forgets", func(t *testing.T) {
		hold := h.d.HoldEvents(t)
		h.paid(t, 1000, "g")
		held = heldIDs(hold)
	})
	if _, err := h.sc.Customers.New(&stripe.CustomerParams{}); err != nil {
		t.Fatal(err)
	}
	waitWebhooks(t, h.d)
	all := eventIDs(h.d)
	if got := rc.ids(); !slices.Equal(got, all[len(held):]) {
		t.Fatalf("delivered %v, want only the event after the hold's test, %v", got, all[len(held):])
	}
	if log := h.d.WebhookDeliveries(); len(log) != len(all) || !log[0].Dropped || log[len(log)-1].Dropped {
		t.Fatalf("log %+v", log)
	}
}

// Only the newest hold takes new events; releasing an older one leaves them held.
func TestNestedHolds(t *testing.T) {
	h, rc := holdHarness(t)
	outer := h.d.HoldEvents(t)
	h.paid(t, 1000, "outer")
	inner := h.d.HoldEvents(t)
	if _, err := h.sc.Customers.New(&stripe.CustomerParams{}); err != nil {
		t.Fatal(err)
	}
	if len(outer.Events()) != 3 || len(inner.Events()) != 1 {
		t.Fatalf("outer holds %d, inner %d", len(outer.Events()), len(inner.Events()))
	}
	outer.Release()
	waitWebhooks(t, h.d)
	if got := rc.ids(); !slices.Equal(got, heldIDs(outer)) {
		t.Fatalf("delivered %v, want the outer hold's %v", got, heldIDs(outer))
	}
	inner.Release()
	waitWebhooks(t, h.d)
	if got := rc.ids(); !slices.Equal(got, eventIDs(h.d)) {
		t.Fatalf("delivered %v, want %v", got, eventIDs(h.d))
	}
}

// Holds opened, read and released while other goroutines create events and
// the dispatcher delivers: every event is delivered once (run with -race).
func TestConcurrentHoldsDeliverEveryEventOnce(t *testing.T) {
	h, rc := holdHarness(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 5 {
				var hold *EventHold
				if g%2 == 0 {
					hold = h.d.HoldEvents(t)
				}
				if _, err := h.sc.Customers.New(&stripe.CustomerParams{}); err != nil {
					t.Error(err)
				}
				if hold != nil {
					_ = hold.Events()
					hold.Release()
				}
				_ = h.d.WebhookDeliveries()
			}
		})
	}
	wg.Wait()
	waitWebhooks(t, h.d)
	got, want := rc.ids(), eventIDs(h.d)
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != 40 || !slices.Equal(got, want) {
		t.Fatalf("delivered %d events, created %d (want 40, each once)", len(got), len(want))
	}
}
