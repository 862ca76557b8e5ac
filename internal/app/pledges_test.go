//go:build !production

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/backstitch/backstitch/internal/stripedouble"
)

// pledgeSetup is a live campaign with a limited physical tier and an experience tier.
type pledgeSetup struct {
	id, slug           string
	coatTier, workshop string
	// owner is the designer's session token.
	owner string
}

func (s *service) pledgeSetup(model string, coatLimit int) pledgeSetup {
	s.t.Helper()
	// Backers' addresses must never reach the logs in full.
	s.secret("backer@example.com")
	s.secret("flex@example.com")
	owner, _ := s.designer("Designer")
	admin := s.admin()
	body := s.campaignBody("Pledge test " + model)
	body["funding_model"] = model
	c := s.must(201, "POST", "/api/v1/campaigns", owner, body)
	id := c["id"].(string)
	coat := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}, "limit": coatLimit})
	workshop := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Workshop", "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}})
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	s.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	s.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", owner, nil)
	return pledgeSetup{id: id, slug: c["slug"].(string), coatTier: coat["id"].(string), workshop: workshop["id"].(string), owner: owner}
}

var address = map[string]any{"name": "Ana Muster", "line1": "Seefeldstrasse 1", "postal_code": "8008", "city": "Zürich", "country": "CH"}

func coatPledge(tier string, amount int) map[string]any {
	return map[string]any{"tier_id": tier, "amount": map[string]any{"amount": amount, "currency": "CHF"},
		"backer": map[string]any{"email": "Backer@Example.com", "name": "Bea Backer"}, "shipping_address": address}
}

func (s *service) pledge(slug string, body any, key string) response {
	s.t.Helper()
	return s.call("POST", "/api/v1/campaigns/"+slug+"/pledges", "", body, "Idempotency-Key", key)
}

func (s *service) manage(method, pledgeID, token string, body any) response {
	s.t.Helper()
	return s.call(method, "/api/v1/pledges/"+pledgeID+suffix(method, body), "", body, "X-Manage-Token", token)
}

func suffix(method string, body any) string {
	if method != "POST" {
		return ""
	}
	if body == nil {
		return "/cancel"
	}
	return "/confirm"
}

func (s *service) campaignTotals(slug string) (pledged, backers float64) {
	s.t.Helper()
	c := s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)
	return c["pledged"].(map[string]any)["amount"].(float64), c["backers_count"].(float64)
}

func (s *service) tierRemaining(slug, tierID string) float64 {
	s.t.Helper()
	for _, t := range s.must(200, "GET", "/api/v1/campaigns/"+slug, "", nil)["tiers"].([]any) {
		if m := t.(map[string]any); m["id"] == tierID {
			r, _ := m["remaining"].(float64)
			return r
		}
	}
	s.t.Fatalf("tier %s not found", tierID)
	return 0
}

func TestAllOrNothingPledgeSavesACardAndChargesNothing(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"})
	c := s.pledgeSetup("all_or_nothing", 10)
	r := s.pledge(c.slug, coatPledge(c.coatTier, 35000), "pledge-1")
	if r.Status != 201 {
		t.Fatalf("pledge: %d %s", r.Status, r.Body)
	}
	p := r.JSON(t)
	token := p["manage_token"].(string)
	s.secret(token)
	if p["status"] != "pending" || !strings.HasPrefix(p["client_secret"].(string), "seti_") || p["publishable_key"] != "pk_test_offline" {
		t.Fatalf("created pledge: %v", p)
	}
	if p["backer"].(map[string]any)["email"] != "backer@example.com" {
		t.Fatalf("email not normalised: %v", p["backer"])
	}
	for _, secret := range []string{"customer", "cus_", "pm_", "manage_token_hash"} {
		if strings.Contains(string(s.manage("GET", p["id"].(string), token, nil).Body), secret) {
			t.Fatalf("GET pledge exposes %q", secret)
		}
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("remaining %v after one pledge, want 9", rem)
	}
	confirmed := s.manage("POST", p["id"].(string), token, map[string]any{"payment_method": "pm_card_visa"})
	if confirmed.Status != 200 || confirmed.JSON(t)["status"] != "active" {
		t.Fatalf("confirm: %d %s", confirmed.Status, confirmed.Body)
	}
	s.waitWebhooks()
	if pledged, backers := s.campaignTotals(c.slug); pledged != 35000 || backers != 1 {
		t.Fatalf("totals %v / %v after webhook and response both applied, want 35000 / 1", pledged, backers)
	}
	d := s.double()
	if n := len(d.PaymentIntents()); n != 0 {
		t.Fatalf("all-or-nothing pledge created %d payment intents", n)
	}
	if sis := d.SetupIntents(); len(sis) != 1 || sis[0].Status != "succeeded" || string(sis[0].Usage) != "off_session" {
		t.Fatalf("setup intents: %+v", sis)
	}
	// Confirming again is harmless.
	if again := s.manage("POST", p["id"].(string), token, map[string]any{"payment_method": "pm_card_visa"}); again.Status != 200 {
		t.Fatalf("second confirm: %d", again.Status)
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 35000 || backers != 1 {
		t.Fatalf("totals moved on a second confirm: %v / %v", pledged, backers)
	}
	// Cancelling gives the unit and the totals back and detaches the saved card.
	if r := s.manage("POST", p["id"].(string), token, nil); r.Status != 200 || r.JSON(t)["status"] != "cancelled" {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 0 || backers != 0 || s.tierRemaining(c.slug, c.coatTier) != 10 {
		t.Fatalf("after cancel: totals %v / %v, remaining %v", pledged, backers, s.tierRemaining(c.slug, c.coatTier))
	}
	detached := 0
	for _, r := range d.Requests() {
		if strings.HasSuffix(r.Path, "/detach") && r.Status == 200 {
			detached++
		}
	}
	if detached != 1 {
		t.Fatalf("%d saved cards detached on cancel, want 1", detached)
	}
}

// The webhook path alone (the confirm response lost on the way back) makes the pledge active,
// and a redelivered event changes nothing.
func TestWebhookPathAloneActivatesAndIsIdempotent(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "lost-response").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.double().SetFaults(stripedouble.Faults{ErrorRate: 1, ErrorMode: stripedouble.FaultResponseLost,
		Match: func(method, path string) bool { return strings.HasSuffix(path, "/confirm") }})
	if r := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 502 || r.JSON(t)["code"] != "payment_provider_unavailable" {
		t.Fatalf("confirm with a lost response: %d %s", r.Status, r.Body)
	}
	s.double().SetFaults(stripedouble.Faults{})
	s.waitWebhooks()
	got := s.manage("GET", id, token, nil).JSON(t)
	if got["status"] != "active" {
		t.Fatalf("after the webhook alone: %v", got["status"])
	}
	// Redeliver setup_intent.succeeded twice more, signed as Stripe would.
	var payload []byte
	for _, e := range s.double().Events() {
		if e.Type == "setup_intent.succeeded" {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			payload = b
		}
	}
	if payload == nil {
		t.Fatal("no setup_intent.succeeded event")
	}
	for range 2 {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: s.app.WebhookSecret(), Timestamp: time.Now()})
		r := s.call("POST", "/webhooks/stripe", "", string(signed.Payload), "Stripe-Signature", signed.Header)
		if r.Status != 200 {
			t.Fatalf("redelivery: %d %s", r.Status, r.Body)
		}
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 32000 || backers != 1 {
		t.Fatalf("totals after redeliveries: %v / %v, want 32000 / 1", pledged, backers)
	}
}

func TestWebhookSignatureIsChecked(t *testing.T) {
	s := startService(t, nil)
	body := `{"id":"evt_1","object":"event","api_version":"2023-10-16","type":"setup_intent.succeeded","data":{"object":{"id":"seti_1","object":"setup_intent","status":"succeeded"}}}`
	good := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: s.app.WebhookSecret(), Timestamp: time.Now()})
	wrong := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_wrong", Timestamp: time.Now()})
	stale := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: s.app.WebhookSecret(), Timestamp: time.Now().Add(-time.Hour)})
	for name, tc := range map[string]struct{ body, header string }{
		"tampered body":   {strings.Replace(body, "seti_1", "seti_2", 1), good.Header},
		"wrong secret":    {body, wrong.Header},
		"missing header":  {body, ""},
		"stale timestamp": {body, stale.Header},
		"not JSON":        {"{{", good.Header},
	} {
		r := s.call("POST", "/webhooks/stripe", "", tc.body, "Stripe-Signature", tc.header)
		if r.Status != 400 || r.JSON(t)["code"] != "invalid_signature" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if n, err := s.store.CountStripeEvents(context.Background()); err != nil || n != 0 {
		t.Fatalf("rejected webhooks stored %d events (%v)", n, err)
	}
	if r := s.call("POST", "/webhooks/stripe", "", body, "Stripe-Signature", good.Header); r.Status != 200 {
		t.Fatalf("good signature: %d %s", r.Status, r.Body)
	}
	// Event types the service does not use are stored and acknowledged, once.
	unknown := []byte(`{"id":"evt_2","object":"event","api_version":"2023-10-16","type":"product.created","data":{"object":{"id":"prod_1","object":"product"}}}`)
	for range 2 {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: unknown, Secret: s.app.WebhookSecret(), Timestamp: time.Now()})
		if r := s.call("POST", "/webhooks/stripe", "", string(signed.Payload), "Stripe-Signature", signed.Header); r.Status != 200 {
			t.Fatalf("unknown event type: %d %s", r.Status, r.Body)
		}
	}
	if n, err := s.store.CountStripeEvents(context.Background()); err != nil || n != 2 {
		t.Fatalf("stored %d events (%v), want 2", n, err)
	}
}

func TestIdempotentPledgeReplay(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	first := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "same-key")
	second := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "same-key")
	if first.Status != 201 || !bytes.Equal(first.Body, second.Body) {
		t.Fatalf("replay differs:\n%s\n%s", first.Body, second.Body)
	}
	s.secret(first.JSON(t)["manage_token"].(string))
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 40000), "same-key"); r.Status != 422 || r.JSON(t)["code"] != "idempotency_key_reused" {
		t.Fatalf("same key, other body: %d %s", r.Status, r.Body)
	}
	d := s.double()
	if len(d.Customers()) != 1 || len(d.SetupIntents()) != 1 {
		t.Fatalf("replay made %d customers and %d setup intents", len(d.Customers()), len(d.SetupIntents()))
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 9 {
		t.Fatalf("replay claimed another unit: remaining %v", rem)
	}
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), ""); r.Status != 400 || r.JSON(t)["code"] != "idempotency_key_required" {
		t.Fatalf("no key: %d %s", r.Status, r.Body)
	}
	// Stripe down: 502, nothing replayed; the retry with the same key resumes the same pledge.
	s.double().SetFaults(stripedouble.Faults{ErrorRate: 1, Match: func(method, path string) bool { return path == "/v1/setup_intents" }})
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "stripe-down"); r.Status != 502 {
		t.Fatalf("pledge with Stripe down: %d %s", r.Status, r.Body)
	}
	s.double().SetFaults(stripedouble.Faults{})
	retried := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "stripe-down")
	if retried.Status != 201 || !strings.HasPrefix(retried.JSON(t)["client_secret"].(string), "seti_") {
		t.Fatalf("retry after the outage: %d %s", retried.Status, retried.Body)
	}
	s.secret(retried.JSON(t)["manage_token"].(string))
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 8 {
		t.Fatalf("the retried pledge took another unit: remaining %v, want 8", rem)
	}
	if n := len(s.double().Customers()); n != 2 {
		t.Fatalf("%d customers after the retried pledge, want 2 (one per pledge)", n)
	}
}

func TestBadPledgesLeaveNoTrace(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_BODY_LIMIT": "4096"})
	c := s.pledgeSetup("all_or_nothing", 1)
	eur := coatPledge(c.coatTier, 32000)
	eur["amount"] = map[string]any{"amount": 32000, "currency": "EUR"}
	noAddress := coatPledge(c.coatTier, 32000)
	delete(noAddress, "shipping_address")
	unknownTier := coatPledge("tier_0000000000000000", 32000)
	badEmail := coatPledge(c.coatTier, 32000)
	badEmail["backer"] = map[string]any{"email": "not-an-email", "name": "X"}
	smuggled := coatPledge(c.coatTier, 32000)
	smuggled["status"] = "collected"
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"below tier price", coatPledge(c.coatTier, 31999), 422, "amount_below_tier_price"},
		{"other currency", eur, 422, "currency_mismatch"},
		{"no shipping address", noAddress, 422, "shipping_address_required"},
		{"unknown tier", unknownTier, 404, "not_found"},
		{"bad email", badEmail, 422, "validation_failed"},
		{"status smuggled in", smuggled, 422, "validation_failed"},
		{"malformed JSON", `{"amount":`, 400, "malformed_request"},
		{"oversized", `{"backer":{"name":"` + strings.Repeat("x", 5000) + `"}}`, 413, "body_too_large"},
	} {
		r := s.pledge(c.slug, tc.body, "bad-"+tc.name)
		if r.Status != tc.status || r.JSON(t)["code"] != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	designer, _ := s.designer("Drafter")
	draft := s.must(201, "POST", "/api/v1/campaigns", designer, s.campaignBody("Draft only"))
	if r := s.pledge(draft["slug"].(string), coatPledge("", 5000), "draft"); r.Status != 404 {
		t.Errorf("pledge on a draft: %d", r.Status)
	}
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != 0 {
		t.Fatalf("bad pledges stored %d pledges (%v)", n, err)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 1 {
		t.Fatalf("bad pledges took units: remaining %v", rem)
	}
	if len(s.double().Requests()) != 0 {
		t.Fatalf("bad pledges reached Stripe: %d requests", len(s.double().Requests()))
	}
	// The last unit: one pledge gets it, the next is sold out, and a wrong manage token is 404.
	p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "last").JSON(t)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "after-last"); r.Status != 409 || r.JSON(t)["code"] != "sold_out" {
		t.Fatalf("after the last unit: %d %s", r.Status, r.Body)
	}
	if r := s.manage("GET", p["id"].(string), "wrong-token", nil); r.Status != 404 {
		t.Fatalf("wrong manage token: %d", r.Status)
	}
}

// DESIGN invariant 1 over HTTP: 1,000 concurrent pledges on a tier limited to 100.
func TestConcurrentPledgesNeverOversell(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "100000"})
	c := s.pledgeSetup("all_or_nothing", 100)
	var created, soldOut, other atomic.Int64
	var mu sync.Mutex
	var ids, tokens []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range 1000 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), fmt.Sprint("rush-", i))
			switch {
			case r.Status == 201:
				created.Add(1)
				p := r.JSON(t)
				mu.Lock()
				ids, tokens = append(ids, p["id"].(string)), append(tokens, p["manage_token"].(string))
				mu.Unlock()
			case r.Status == 409 && strings.Contains(string(r.Body), "sold_out"):
				soldOut.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	if created.Load() != 100 || soldOut.Load() != 900 || other.Load() != 0 {
		t.Fatalf("created %d, sold out %d, other %d; want 100 / 900 / 0", created.Load(), soldOut.Load(), other.Load())
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 0 {
		t.Fatalf("remaining %v, want 0", rem)
	}
	if n, err := s.store.CountPledges(context.Background()); err != nil || n != 100 {
		t.Fatalf("stored pledges %d (%v), want 100", n, err)
	}
	// Cancels interleaved with a second rush: every cancel frees exactly one unit, and the
	// number of pledges holding a unit never exceeds the limit.
	var wg2 sync.WaitGroup
	var cancelled, rushed atomic.Int64
	for i := range 50 {
		wg2.Go(func() {
			if r := s.manage("POST", ids[i], tokens[i], nil); r.Status == 200 {
				cancelled.Add(1)
			} else {
				t.Errorf("cancel: %d %s", r.Status, r.Body)
			}
		})
	}
	for i := range 200 {
		wg2.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), fmt.Sprint("second-rush-", i)); r.Status == 201 {
				rushed.Add(1)
			}
		})
	}
	wg2.Wait()
	if cancelled.Load() != 50 || rushed.Load() != 50 {
		t.Fatalf("cancelled %d, second rush got %d; want 50 and 50", cancelled.Load(), rushed.Load())
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 0 {
		t.Fatalf("remaining %v after cancels and rush, want 0", rem)
	}
	if drift, err := s.app.Pledges().CheckCounters(context.Background(), c.id, false); err != nil || drift.Any() || drift.Busy {
		t.Fatalf("counters drifted from the pledges: %+v %v", drift, err)
	}
}

func TestFlexiblePledgeIsChargedAtOnceAndRefundedOnCancel(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("flexible", 10)
	p := s.pledge(c.slug, map[string]any{"tier_id": c.workshop, "amount": map[string]any{"amount": 12000, "currency": "CHF"},
		"backer": map[string]any{"email": "flex@example.com", "name": "Flex"}}, "flex-1").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	if !strings.HasPrefix(p["client_secret"].(string), "pi_") {
		t.Fatalf("flexible pledge without a payment intent: %v", p)
	}
	declined := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
	if declined.Status != 402 || declined.JSON(t)["code"] != "payment_failed" || declined.fieldCode(t, "payment_method") != "card_declined" {
		t.Fatalf("declined card: %d %s", declined.Status, declined.Body)
	}
	after := s.manage("GET", id, token, nil).JSON(t)
	failure := after["last_failure"].(map[string]any)
	if after["status"] != "pending" || failure["decline_code"] != "insufficient_funds" {
		t.Fatalf("after decline: %v", after)
	}
	// Admins see the decline and Stripe's ids; the backer's view never carries Stripe ids.
	adminView := s.must(200, "GET", "/api/v1/admin/pledges/"+id, s.admin(), nil)
	if adminView["last_failure"].(map[string]any)["decline_code"] != "insufficient_funds" || !strings.HasPrefix(adminView["stripe_payment_intent_id"].(string), "pi_") {
		t.Fatalf("admin view: %v", adminView)
	}
	if r := s.call("GET", "/api/v1/admin/pledges/"+id, "", nil); r.Status != 401 {
		t.Fatalf("anonymous admin view: %d", r.Status)
	}
	ok := s.manage("POST", id, token, map[string]any{"payment_method": "pm_card_visa"})
	if ok.Status != 200 || ok.JSON(t)["status"] != "collected" {
		t.Fatalf("second card: %d %s", ok.Status, ok.Body)
	}
	s.waitWebhooks()
	if pledged, backers := s.campaignTotals(c.slug); pledged != 12000 || backers != 1 {
		t.Fatalf("totals %v / %v", pledged, backers)
	}
	if r := s.manage("PATCH", id, token, map[string]any{"amount": map[string]any{"amount": 20000, "currency": "CHF"}}); r.Status != 409 {
		t.Fatalf("changing a flexible pledge: %d", r.Status)
	}
	// The refund's event waits until the cancellation has answered: arriving first, it moved the
	// pledge to refunded itself, and the request could answer before that reached the totals.
	hold := s.double().HoldEvents(t)
	for range 2 {
		if r := s.manage("POST", id, token, nil); r.Status != 200 || r.JSON(t)["status"] != "cancelled" {
			t.Fatalf("cancel: %d %s", r.Status, r.Body)
		}
	}
	refunds := s.double().Refunds()
	if len(refunds) != 1 || refunds[0].Amount != 12000 {
		t.Fatalf("refunds %+v, want one of 12000", refunds)
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 0 || backers != 0 {
		t.Fatalf("totals after cancel %v / %v", pledged, backers)
	}
	// Late, it leaves the pledge cancelled and the totals alone.
	s.deliverHeld(hold, "charge.refunded")
	if st := s.manage("GET", id, token, nil).JSON(t)["status"]; st != "cancelled" {
		t.Fatalf("after the late refund event: %v, want cancelled", st)
	}
	if pledged, backers := s.campaignTotals(c.slug); pledged != 0 || backers != 0 {
		t.Fatalf("totals after the late refund event %v / %v", pledged, backers)
	}
	// A pledge partly refunded by an admin and then cancelled by its backer gets the rest back.
	q := s.pledge(c.slug, map[string]any{"tier_id": c.workshop, "amount": map[string]any{"amount": 12000, "currency": "CHF"},
		"backer": map[string]any{"email": "flex@example.com", "name": "Flex"}}, "flex-2").JSON(t)
	qid, qtoken := q["id"].(string), q["manage_token"].(string)
	s.must(200, "POST", "/api/v1/pledges/"+qid+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", qtoken)
	s.must(201, "POST", "/api/v1/admin/pledges/"+qid+"/refunds", s.admin(), map[string]any{"amount": map[string]any{"amount": 2000, "currency": "CHF"}, "reason": "a scratch on the shears"})
	s.waitWebhooks()
	if r := s.manage("POST", qid, qtoken, nil); r.Status != 200 || r.JSON(t)["status"] != "cancelled" {
		t.Fatalf("cancel after a partial refund: %d %s", r.Status, r.Body)
	}
	var back int64
	for _, r := range s.double().Refunds() {
		if r.PaymentIntent != nil && r.PaymentIntent.ID != refunds[0].PaymentIntent.ID {
			back += r.Amount
		}
	}
	if back != 12000 {
		t.Fatalf("refunded %d of a 12000 pledge cancelled after a partial refund", back)
	}
}

func TestChangeTierAndHoldExpiry(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_HOLD": "30m"})
	c := s.pledgeSetup("all_or_nothing", 5)
	p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "change").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.must(200, "POST", "/api/v1/pledges/"+id+"/confirm", "", map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", token)
	changed := s.manage("PATCH", id, token, map[string]any{"tier_id": c.workshop, "amount": map[string]any{"amount": 10000, "currency": "CHF"}})
	if changed.Status != 200 || changed.JSON(t)["tier_id"] != c.workshop {
		t.Fatalf("change tier: %d %s", changed.Status, changed.Body)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 5 {
		t.Fatalf("old tier not released: remaining %v", rem)
	}
	if pledged, _ := s.campaignTotals(c.slug); pledged != 10000 {
		t.Fatalf("total after change %v, want 10000", pledged)
	}
	if r := s.manage("PATCH", id, token, map[string]any{"amount": map[string]any{"amount": 100, "currency": "CHF"}}); r.Status != 422 {
		t.Fatalf("amount below tier price: %d", r.Status)
	}
	// A pledge that never gets a payment method gives its unit back after the hold.
	s.pledge(c.slug, coatPledge(c.coatTier, 32000), "abandoned")
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 4 {
		t.Fatalf("remaining %v", rem)
	}
	s.clock.Advance(29 * time.Minute)
	if sw, err := s.app.Pledges().Sweep(context.Background()); err != nil || sw.Expired != 0 {
		t.Fatalf("expired %d before the hold ended (%v)", sw.Expired, err)
	}
	s.clock.Advance(2 * time.Minute)
	if sw, err := s.app.Pledges().Sweep(context.Background()); err != nil || sw.Expired != 1 {
		t.Fatalf("expired %d after the hold (%v), want 1", sw.Expired, err)
	}
	if rem := s.tierRemaining(c.slug, c.coatTier); rem != 5 {
		t.Fatalf("expired hold not released: remaining %v", rem)
	}
	// After the deadline nothing changes, and nobody can pledge.
	s.clock.Advance(31 * 24 * time.Hour)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "too-late"); r.Status != 409 || r.JSON(t)["code"] != "campaign_not_live" {
		t.Fatalf("pledge after the deadline: %d %s", r.Status, r.Body)
	}
	if r := s.manage("POST", id, token, nil); r.Status != 409 || r.JSON(t)["code"] != "campaign_not_live" {
		t.Fatalf("cancel after the deadline: %d %s", r.Status, r.Body)
	}
}

// A rate-limited pledge is not the answer for its key: once the window passes, the same key
// pledges for real.
func TestRateLimitedPledgeIsNotReplayed(t *testing.T) {
	s := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1", "BACKSTITCH_PLEDGE_WINDOW": "10m"})
	c := s.pledgeSetup("all_or_nothing", 10)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "first"); r.Status != 201 {
		t.Fatalf("first pledge: %d", r.Status)
	}
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "second"); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("second pledge in the window: %d", r.Status)
	}
	s.clock.Advance(10 * time.Minute)
	if r := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "second"); r.Status != 201 {
		t.Fatalf("same key after the window: %d %s", r.Status, r.Body)
	}
}
