//go:build !production

package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// A validly signed webhook that cannot be used says why, with its own code (before the fix each
// was 400 invalid_signature), and a signature dated in the future is refused like a stale one.
// Nothing refused is stored.
func TestWebhookRefusalsSayWhy(t *testing.T) {
	s := startService(t, nil)
	sign := func(body string, at time.Time) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: s.app.WebhookSecret(), Timestamp: at}).Header
	}
	event := func(id, version, object string) string {
		return `{"id":"` + id + `","object":"event","api_version":` + version + `,"type":"setup_intent.succeeded","data":{"object":` + object + `}}`
	}
	good := event("evt_ok", `"2023-10-16"`, `{"id":"seti_1","object":"setup_intent","status":"succeeded"}`)
	now := time.Now()
	for name, tc := range map[string]struct {
		body string
		at   time.Time
		code string
	}{
		"another api_version":      {event("evt_v", `"2024-06-20"`, `{"id":"seti_1","object":"setup_intent"}`), now, "unsupported_api_version"},
		"no api_version":           {event("evt_n", `null`, `{"id":"seti_1","object":"setup_intent"}`), now, "unsupported_api_version"},
		"not JSON":                 {`{{ not json`, now, "malformed_event"},
		"JSON but no event":        {`{"hello":"world"}`, now, "malformed_event"},
		"object of the wrong type": {event("evt_o", `"2023-10-16"`, `"seti_1"`), now, "malformed_event"},
		"object with a bad field":  {event("evt_f", `"2023-10-16"`, `{"id":"seti_1","status":42}`), now, "malformed_event"},
		"object without an id":     {event("evt_i", `"2023-10-16"`, `{"object":"setup_intent"}`), now, "malformed_event"},
		"ten minutes ahead":        {good, now.Add(10 * time.Minute), "invalid_signature"},
		"an hour ahead":            {good, now.Add(time.Hour), "invalid_signature"},
		"ten minutes old":          {good, now.Add(-10 * time.Minute), "invalid_signature"},
	} {
		r := s.call("POST", "/webhooks/stripe", "", tc.body, "Stripe-Signature", sign(tc.body, tc.at))
		if r.Status != 400 || r.JSON(t)["code"] != tc.code {
			t.Errorf("%s: %d %s, want 400 %s", name, r.Status, r.Body, tc.code)
		}
	}
	if n, err := s.store.CountStripeEvents(context.Background()); err != nil || n != 0 {
		t.Fatalf("refused webhooks stored %d events (%v)", n, err)
	}
	// Clocks drift: a minute either way is still Stripe.
	for _, at := range []time.Time{now.Add(time.Minute), now.Add(-time.Minute)} {
		if r := s.call("POST", "/webhooks/stripe", "", good, "Stripe-Signature", sign(good, at)); r.Status != 200 {
			t.Fatalf("signature a minute off: %d %s", r.Status, r.Body)
		}
	}
}
