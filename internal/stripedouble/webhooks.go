package stripedouble

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// RetryPolicy bounds webhook redelivery. Stripe retries for three days;
// tests want milliseconds.
type RetryPolicy struct {
	// MaxAttempts counts the first delivery; 0 means 5.
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled for each further
	// one; 0 means 20 ms.
	Backoff time.Duration
	// MaxBackoff caps the wait; 0 means 2 s.
	MaxBackoff time.Duration
}

// WebhookFaults disturb deliveries. Decisions are drawn from Options.Seed
// when an event is created. The zero value disturbs nothing.
type WebhookFaults struct {
	// DropRate is the share of events never delivered.
	DropRate float64
	// DuplicateRate is the share of events delivered more than once, Copies times in all
	// (0 means twice).
	DuplicateRate float64
	Copies        int
	// DelayRate is the share of events held back by Delay before their
	// first attempt; events created meanwhile overtake them.
	DelayRate float64
	Delay     time.Duration
	// ReorderRate is the share of events swapped with the event created
	// right after them (or sent after Delay, at most 1 s, if none follows).
	ReorderRate float64
}

// Delivery is one attempt to deliver an event, or the record of a drop.
type Delivery struct {
	EventID   string
	EventType string
	Attempt   int
	// Status is the receiver's HTTP status; 0 with Err set for a
	// connection error, 0 with Dropped set for a dropped event.
	Status  int
	Err     string
	Dropped bool
	At      time.Time
}

type pending struct {
	eventID   string
	eventType string
	payload   []byte
	attempt   int
	due       time.Time
	seq       uint64
}

// dispatcher delivers events one at a time, earliest due first, so first
// attempts go out in creation order while a failing event waits for its
// retry without holding back the ones after it, as with Stripe.
type dispatcher struct {
	client *http.Client
	retry  RetryPolicy
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu       sync.Mutex
	url      string
	secret   string
	faults   WebhookFaults
	rng      *mrand.Rand
	queue    []*pending
	held     *pending
	seq      uint64
	inFlight bool
	log      []Delivery
	// holds are the open EventHolds, oldest first; a new event joins the newest.
	holds []*EventHold
}

func newDispatcher(opts Options, rng *mrand.Rand) *dispatcher {
	retry := opts.WebhookRetry
	if retry.MaxAttempts == 0 {
		retry.MaxAttempts = 5
	}
	if retry.Backoff == 0 {
		retry.Backoff = 20 * time.Millisecond
	}
	if retry.MaxBackoff == 0 {
		retry.MaxBackoff = 2 * time.Second
	}
	client := opts.WebhookClient
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &dispatcher{
		client: client,
		retry:  retry,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
		url:    opts.WebhookURL,
		secret: opts.WebhookSecret,
		rng:    rng,
	}
	go h.run()
	return h
}

// SetWebhook points deliveries at a new endpoint, for services that learn
// their own address only after listening. Events created while no URL was
// set are not delivered, as Stripe has no endpoint to send them to.
func (d *Double) SetWebhook(url, secret string) {
	d.hooks.mu.Lock()
	d.hooks.url, d.hooks.secret = url, secret
	d.hooks.mu.Unlock()
}

// SetWebhookFaults replaces the delivery fault settings; safe while running.
func (d *Double) SetWebhookFaults(f WebhookFaults) {
	d.hooks.mu.Lock()
	d.hooks.faults = f
	d.hooks.mu.Unlock()
}

// WebhookDeliveries returns every delivery attempt and drop so far.
func (d *Double) WebhookDeliveries() []Delivery {
	d.hooks.mu.Lock()
	defer d.hooks.mu.Unlock()
	return append([]Delivery(nil), d.hooks.log...)
}

// WaitWebhooks blocks until every queued delivery, retries included, has
// finished or given up. Events kept by an open EventHold are not waited for.
func (d *Double) WaitWebhooks(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		d.hooks.mu.Lock()
		// Events in an EventHold are not pending: they wait for the test, not for the dispatcher.
		idle := len(d.hooks.queue) == 0 && d.hooks.held == nil && !d.hooks.inFlight
		d.hooks.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stripedouble: webhooks still pending: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (h *dispatcher) endpointCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.url == "" {
		return 0
	}
	return 1
}

func (h *dispatcher) enqueue(eventID, eventType string, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.url == "" {
		return
	}
	if n := len(h.holds); n > 0 {
		hold := h.holds[n-1]
		hold.events = append(hold.events, heldEvent{HeldEvent{eventID, eventType}, payload})
		return
	}
	h.queueLocked(eventID, eventType, payload)
}

// queueLocked draws the event's faults and queues it; h.mu is held.
func (h *dispatcher) queueLocked(eventID, eventType string, payload []byte) {
	now := time.Now()
	f := h.faults
	if f.DropRate > 0 && h.rng.Float64() < f.DropRate {
		h.log = append(h.log, Delivery{EventID: eventID, EventType: eventType, Dropped: true, At: now})
		return
	}
	p := h.newPending(eventID, eventType, payload, now)
	if f.DelayRate > 0 && h.rng.Float64() < f.DelayRate {
		p.due = p.due.Add(f.Delay)
	}
	dup := f.DuplicateRate > 0 && h.rng.Float64() < f.DuplicateRate
	reorder := f.ReorderRate > 0 && h.rng.Float64() < f.ReorderRate

	if h.held != nil {
		// The held event goes right after this one.
		h.seq++
		h.held.due, h.held.seq = p.due, h.seq
		h.push(p)
		h.push(h.held)
		h.held = nil
	} else if reorder {
		hold := f.Delay
		if hold <= 0 || hold > time.Second {
			hold = time.Second
		}
		p.due = p.due.Add(hold)
		h.held = p
		h.push(p)
	} else {
		h.push(p)
	}
	for copies := max(f.Copies, 2); dup && copies > 1; copies-- {
		h.push(h.newPending(eventID, eventType, payload, p.due))
	}
	h.signal()
}

func (h *dispatcher) newPending(eventID, eventType string, payload []byte, due time.Time) *pending {
	h.seq++
	return &pending{eventID: eventID, eventType: eventType, payload: payload, attempt: 1, due: due, seq: h.seq}
}

// push keeps the queue ordered by due time, then by creation.
func (h *dispatcher) push(p *pending) {
	for i, q := range h.queue {
		if q == p {
			h.queue = append(h.queue[:i], h.queue[i+1:]...)
			break
		}
	}
	i := sort.Search(len(h.queue), func(i int) bool {
		q := h.queue[i]
		return q.due.After(p.due) || (q.due.Equal(p.due) && q.seq > p.seq)
	})
	h.queue = append(h.queue, nil)
	copy(h.queue[i+1:], h.queue[i:])
	h.queue[i] = p
}

func (h *dispatcher) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *dispatcher) close() {
	h.cancel()
	<-h.done
}

func (h *dispatcher) run() {
	defer close(h.done)
	for {
		h.mu.Lock()
		var wait time.Duration = -1
		var next *pending
		if len(h.queue) > 0 {
			if d := time.Until(h.queue[0].due); d > 0 {
				wait = d
			} else {
				next = h.queue[0]
				h.queue = h.queue[1:]
				if next == h.held {
					h.held = nil
				}
				h.inFlight = true
			}
		}
		url, secret := h.url, h.secret
		h.mu.Unlock()

		if next == nil {
			var timer *time.Timer
			var fire <-chan time.Time
			if wait >= 0 {
				timer = time.NewTimer(wait)
				fire = timer.C
			}
			select {
			case <-h.ctx.Done():
				return
			case <-h.wake:
			case <-fire:
			}
			if timer != nil {
				timer.Stop()
			}
			continue
		}

		status, err := h.send(url, secret, next.payload)
		h.mu.Lock()
		d := Delivery{EventID: next.eventID, EventType: next.eventType, Attempt: next.attempt, Status: status, At: time.Now()}
		if err != nil {
			d.Err = err.Error()
		}
		h.log = append(h.log, d)
		if (err != nil || status < 200 || status > 299) && next.attempt < h.retry.MaxAttempts && h.ctx.Err() == nil {
			backoff := h.retry.Backoff << (next.attempt - 1)
			if backoff > h.retry.MaxBackoff || backoff <= 0 {
				backoff = h.retry.MaxBackoff
			}
			next.attempt++
			next.due = time.Now().Add(backoff)
			h.push(next)
		}
		h.inFlight = false
		h.mu.Unlock()
	}
}

// send signs like Stripe: t is the wall-clock time of this attempt and v1
// the HMAC-SHA256 of "t.payload" under the endpoint secret.
func (h *dispatcher) send(url, secret string, payload []byte) (int, error) {
	now := time.Now()
	sig := fmt.Sprintf("t=%d,v1=%s", now.Unix(), hex.EncodeToString(webhook.ComputeSignature(now, payload, secret)))
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", sig)
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
