//go:build !production

package app_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// A pledge's confirmation is written to the outbox by whichever path moves the pledge out of
// pending, from the token sealed in the pledge. Here every path races: the API confirm against
// Stripe's webhook, every event delivered twice and some out of order, and a Checkout pledge's
// two returns from Checkout against its own webhooks. Each backer gets one confirmation, whose
// link is the token her pledge's answer showed, and the pledges keep no seal of it afterwards.
func TestConfirmationIsSentOnceWhicheverPathConfirms(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	s.double().SetWebhookFaults(stripedouble.WebhookFaults{DuplicateRate: 1, ReorderRate: 0.5})

	p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "race-api").JSON(t)
	apiID, apiToken := p["id"].(string), p["manage_token"].(string)
	s.secret(apiToken)
	if r := s.manage("POST", apiID, apiToken, map[string]any{"payment_method": "pm_card_visa"}); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}

	created, page := s.checkoutPledge(c, "race-checkout")
	s.secret(created.ManageToken)
	_, loc := payOnCheckout(t, page, url.Values{"test_card": {"4242424242424242"}})
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if p, err := s.app.Pledges().CheckoutReturned(context.Background(), created.Pledge.ID, created.ManageToken, u.Query().Get("session_id")); err != nil || p.Status != pledge.StatusActive {
				t.Errorf("returned from Checkout: %s %v", p.Status, err)
			}
		})
	}
	wg.Wait()
	s.waitWebhooks()
	s.relay()
	s.clock.Advance(time.Hour)
	s.app.SweepPledges(context.Background())
	s.relay()

	got := ms.to("backer@example.com", "is confirmed")
	if len(got) != 2 {
		t.Fatalf("%d confirmations for two pledges", len(got))
	}
	want := map[string]string{apiID: apiToken, created.Pledge.ID: created.ManageToken}
	for _, d := range got {
		s.checkMessage(d)
		id, token := manageToken(t, plainLinks.FindString(d.Text[strings.Index(d.Text, "private link"):]))
		if want[id] != token {
			t.Errorf("confirmation of %s links another token", id)
		}
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("no confirmation for %v", want)
	}
	for _, id := range []string{apiID, created.Pledge.ID} {
		if p := s.findPledge(id); p.Status != pledge.StatusActive || len(p.ManageSeal) != 0 || len(p.Owed) != 0 {
			t.Errorf("pledge %s after its confirmation: %s, seal of %d bytes, owes %+v", id, p.Status, len(p.ManageSeal), p.Owed)
		}
	}
}

// A pledge that is never confirmed owes no confirmation: neither one whose hold runs out nor one
// the backer cancels gets a message, and neither keeps its manage token's seal once it has
// ended. While pending, the pledge keeps the token only sealed, never in clear.
func TestUnconfirmedPledgeSendsNoConfirmation(t *testing.T) {
	ms := startMailServer(t, "127.0.0.1:0")
	s := startService(t, mailEnv(ms.addr))
	c := s.pledgeSetup("all_or_nothing", 10)
	s.relay()
	var ids []string
	tokens := map[string]string{}
	for _, key := range []string{"never-paid", "cancelled"} {
		p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), key).JSON(t)
		id, token := p["id"].(string), p["manage_token"].(string)
		s.secret(token)
		ids = append(ids, id)
		tokens[id] = token
		stored := s.findPledge(id)
		raw, err := bson.Marshal(stored)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.ManageSeal) == 0 || bytes.Contains(raw, []byte(token)) {
			t.Fatalf("pending pledge: seal of %d bytes, token in clear %v", len(stored.ManageSeal), bytes.Contains(raw, []byte(token)))
		}
	}
	if r := s.manage("POST", ids[1], tokens[ids[1]], nil); r.Status != 200 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	s.clock.Advance(time.Hour) // past the hold
	s.app.SweepPledges(context.Background())
	s.waitWebhooks()
	s.relay()
	for i, status := range []pledge.Status{pledge.StatusExpired, pledge.StatusCancelled} {
		p := s.findPledge(ids[i])
		if p.Status != status || len(p.ManageSeal) != 0 {
			t.Errorf("pledge %s: %s with a seal of %d bytes, want %s and none", ids[i], p.Status, len(p.ManageSeal), status)
		}
		if _, err := s.store.FindMessage(context.Background(), "msg_"+ids[i]+".confirmed"); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
			t.Errorf("pledge %s never confirmed has a confirmation in the outbox (%v)", ids[i], err)
		}
	}
	if got := ms.to("backer@example.com", "is confirmed"); len(got) != 0 {
		t.Fatalf("%d confirmations for pledges never confirmed", len(got))
	}
}

// A process that dies between the write that confirms a pledge and the outbox leaves the
// confirmation owed on the pledge with its sealed token. The late webhook finds the pledge
// confirmed and changes nothing, and the backer's retry of the confirmation is answered without
// waiting for the dead writer; the sweeper, once the change is certainly dead (SettleWithin),
// writes the confirmation with her manage link, and the seal goes. (A later change of the pledge
// would carry the owed confirmation on and write it too; two instances' sweepers racing write
// it once: TestCrashBetweenChangeAndOutboxStillSendsTheMessageOnce.)
func TestConfirmationOwedByACrashIsWrittenByTheSweeper(t *testing.T) {
	s := startService(t, nil)
	c := s.pledgeSetup("all_or_nothing", 10)
	p := s.pledge(c.slug, coatPledge(c.coatTier, 32000), "crash-then-sweep").JSON(t)
	id, token := p["id"].(string), p["manage_token"].(string)
	s.secret(token)
	hold := s.double().HoldEvents(t)
	failNext(s.app.Pledges(), pledge.AfterPledgeWrite, 1)
	confirm := map[string]any{"payment_method": "pm_card_visa"}
	if r := s.manage("POST", id, token, confirm); r.Status != 503 {
		t.Fatalf("confirm with a crash after the write: %d %s", r.Status, r.Body)
	}
	s.deliverHeld(hold)
	if r := s.manage("POST", id, token, confirm); r.Status != 200 || r.JSON(t)["status"] != "active" {
		t.Fatalf("confirm again: %d %s", r.Status, r.Body)
	}
	stored := s.findPledge(id)
	if stored.Status != pledge.StatusActive || len(stored.Owed) != 1 || len(stored.ManageSeal) == 0 {
		t.Fatalf("after the crash: %s, owes %+v, seal of %d bytes; want active, the confirmation owed with its seal", stored.Status, stored.Owed, len(stored.ManageSeal))
	}
	if _, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed"); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("confirmation in the outbox before the sweeper ran (%v): the crash staged nothing", err)
	}
	s.clock.Advance(pledge.SettleWithin + time.Second)
	s.app.SweepPledges(context.Background())
	m, err := s.store.FindMessage(context.Background(), "msg_"+id+".confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if gotID, gotToken := manageToken(t, m.Data["manage_url"]); gotID != id || gotToken != token {
		t.Errorf("the late confirmation links %q, not the pledge's token", m.Data["manage_url"])
	}
	if stored := s.findPledge(id); len(stored.Owed) != 0 || len(stored.ManageSeal) != 0 {
		t.Errorf("after delivery the pledge owes %+v and keeps a seal of %d bytes", stored.Owed, len(stored.ManageSeal))
	}
}
