package stripedouble

import (
	"fmt"
	"time"
)

// An EventHold keeps the events created while it is open from the webhook
// endpoint until the test lets them go. Events are sent asynchronously, so
// a test that stages something in the service right after a Stripe call
// (a crash after a write, say) races the event that call caused: the event
// may reach the service first and do the work itself. Holding the events
// makes the order the test's choice, and releasing them afterwards lets it
// check that the late event is harmless, which turning the endpoint off
// would not.
type EventHold struct {
	h      *dispatcher
	events []heldEvent
	open   bool
}

// HeldEvent names an event an EventHold keeps.
type HeldEvent struct {
	ID   string
	Type string
}

type heldEvent struct {
	HeldEvent
	payload []byte
}

// cleaner is the part of testing.TB that HoldEvents needs, so that the
// package does not import testing.
type cleaner interface{ Cleanup(func()) }

// HoldEvents opens an EventHold: every event created from now until it is
// released goes into it instead of to the endpoint (events created with no
// endpoint set are not delivered, held or not). When several holds are open,
// an event joins the newest. At tb's cleanup, events still held are
// discarded, so none reaches a later test or a service being stopped.
func (d *Double) HoldEvents(tb cleaner) *EventHold {
	hold := &EventHold{h: d.hooks, open: true}
	d.hooks.mu.Lock()
	d.hooks.holds = append(d.hooks.holds, hold)
	d.hooks.mu.Unlock()
	tb.Cleanup(hold.Discard)
	return hold
}

// Events lists the events held so far, in creation order.
func (e *EventHold) Events() []HeldEvent {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	out := make([]HeldEvent, len(e.events))
	for i, ev := range e.events {
		out[i] = ev.HeldEvent
	}
	return out
}

// Release closes the hold and queues its events for delivery in the order
// they were created, behind whatever is queued already. Webhook faults apply
// to them as they are queued. Events created afterwards are not held (by
// this hold). Releasing a hold that is closed already does nothing.
func (e *EventHold) Release() { e.release(nil) }

// ReleaseInOrder closes the hold and queues its events in the given order of
// their indices in Events: an index given twice delivers the event twice, as
// Stripe may; an event whose index is left out is dropped (and logged as
// such). It panics on an index out of range, a test's mistake. Releasing a
// hold that is closed already does nothing.
func (e *EventHold) ReleaseInOrder(order ...int) {
	if order == nil {
		order = []int{} // nil means every event to release
	}
	e.release(order)
}

// release queues the events at order, or all of them in creation order when
// order is nil: the list is only complete once the hold is closed under h.mu.
func (e *EventHold) release(order []int) {
	h := e.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if !e.open {
		return
	}
	if order == nil {
		order = make([]int, len(e.events))
		for i := range order {
			order[i] = i
		}
	}
	for _, i := range order {
		if i < 0 || i >= len(e.events) {
			panic(fmt.Sprintf("stripedouble: release of held event %d, %d held", i, len(e.events)))
		}
	}
	e.closeLocked()
	released := make([]bool, len(e.events))
	for _, i := range order {
		ev := e.events[i]
		h.queueLocked(ev.ID, ev.Type, ev.payload)
		released[i] = true
	}
	e.dropLocked(released)
	h.signal()
}

// Discard closes the hold and drops its events, logged as dropped.
// Discarding a hold that is closed already does nothing.
func (e *EventHold) Discard() {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	if !e.open {
		return
	}
	e.closeLocked()
	e.dropLocked(make([]bool, len(e.events)))
}

func (e *EventHold) closeLocked() {
	e.open = false
	for i, o := range e.h.holds {
		if o == e {
			e.h.holds = append(e.h.holds[:i], e.h.holds[i+1:]...)
			break
		}
	}
}

// dropLocked logs as dropped every held event not released.
func (e *EventHold) dropLocked(released []bool) {
	now := time.Now()
	for i, ev := range e.events {
		if !released[i] {
			e.h.log = append(e.h.log, Delivery{EventID: ev.ID, EventType: ev.Type, Dropped: true, At: now})
		}
	}
}
