package stripedouble

import (
	"net/http"
	"time"
)

// FaultMode says what an injected 500 does to the request behind it.
type FaultMode int

const (
	// FaultRejected answers 500 without applying the request or storing an
	// idempotent result, like a failure in front of Stripe's API: a retry
	// with the same key runs the request for the first time.
	FaultRejected FaultMode = iota
	// FaultResponseLost applies the request and stores its real result, but
	// the client gets a 500, like a response lost on the way back: a retry
	// with the same key gets the stored real result (e.g. the charge).
	FaultResponseLost
	// FaultStoredError applies the request and stores the 500 itself as the
	// idempotent result, which is what Stripe documents for its 500s: every
	// retry with the same key replays the 500 although the charge was made,
	// and only a new key or reading the state finds the truth.
	FaultStoredError
)

// Faults are injected into API requests. The zero value injects nothing.
type Faults struct {
	// Latency delays every matching request before it is handled.
	Latency time.Duration
	// ErrorRate is the share (0..1) of matching requests answered 500.
	ErrorRate float64
	// ErrorMode applies to POSTs answered 500; GETs are never applied.
	ErrorMode FaultMode
	// RateLimitRate is the share (0..1) of matching requests answered 429
	// with code rate_limit, never applied nor stored (as in Stripe).
	RateLimitRate float64
	// Match limits faults to some requests; nil matches every request.
	Match func(method, path string) bool
}

// SetFaults replaces the API fault settings; safe while serving.
func (d *Double) SetFaults(f Faults) {
	d.faultMu.Lock()
	d.faults = f
	d.faultMu.Unlock()
}

type drawnFault struct {
	latency time.Duration
	status  int
	mode    FaultMode
}

func (d *Double) drawFault(method, path string) drawnFault {
	d.faultMu.Lock()
	defer d.faultMu.Unlock()
	f := d.faults
	if f.Match != nil && !f.Match(method, path) {
		return drawnFault{}
	}
	out := drawnFault{latency: f.Latency, mode: f.ErrorMode}
	switch x := d.rng.Float64(); {
	case x < f.RateLimitRate:
		out.status = http.StatusTooManyRequests
	case x < f.RateLimitRate+f.ErrorRate:
		out.status = http.StatusInternalServerError
	}
	return out
}

func (f drawnFault) response() response {
	if f.status == http.StatusTooManyRequests {
		return errorResponse(f.status, stripeError{Type: "invalid_request_error", Code: "rate_limit",
			Message: "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."})
	}
	return errorResponse(f.status, stripeError{Type: "api_error",
		Message: "An unknown error occurred (injected by stripedouble)."})
}
