//go:build !production

package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/event"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/testenv"
)

// The mail sender under SIGKILL runs in child processes, like the settler (see
// chaos_settlement_test.go): the test binary re-executed with mailChaosChildEnv set, opening
// the service on the parent's embedded store and sending to the parent's SMTP server. It fans
// an update out and relays the messages until nothing is left, unless it kills itself first at
// the point the parent chose: after its nth store write, or after the SMTP server accepted its
// nth message (before the relay records it as sent).
const mailChaosChildEnv = "BACKSTITCH_MAIL_CHAOS_CHILD"

// mailCrashKinds are the points a mail child can die at, with the largest count each is drawn
// from: a thousand messages take about a hundred store writes to fan out and several per send.
var mailCrashKinds = []struct {
	kind string
	max  int
}{{"store-after", 400}, {"smtp-after", 300}}

func mailChaosChildMain() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "mail chaos child:", err); return 2 }
	env, now, crash, err := childSettings(mailChaosChildEnv)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	// Per-document locks of its own, as an embedded store's owner has (see Options.Locks): while
	// a child runs it is the only process writing the outbox (children run one at a time and
	// the parent's relay does not tick), so its locks serialise all the writers there are.
	// The indexes as the parent's store has them: opened otherwise, it would make or drop some.
	store, err := mongostore.Open(ctx, mongostore.Options{URI: env["store"], Database: env["database"], SingleConnection: true,
		Locks: &childLocks{held: map[string]*sync.Mutex{}}, ConstraintIndexesOnly: env["unique_indexes"] == "true",
		Monitor: &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			if storeWrite(e.CommandName) {
				crash.hit("store-after")
			}
		}}})
	if err != nil {
		return fail(err)
	}
	settings := mailEnv(env["smtp"])
	settings["BACKSTITCH_SETTLE_INTERVAL"], settings["BACKSTITCH_SWEEP_INTERVAL"] = "24h", "24h"
	cfg, err := config.Load(func(k string) string { return settings[k] })
	if err != nil {
		return fail(err)
	}
	// The whole service, as an instance would run it, but not serving: only the two ticks run.
	a, err := app.Open(ctx, cfg, zerolog.Nop(), app.Deps{Store: store, Now: func() time.Time { return now }})
	if err != nil {
		return fail(err)
	}
	a.Relay().SetFaultHook(func(p notify.FaultPoint) error {
		if p == notify.AfterSend {
			crash.hit("smtp-after")
		}
		return nil
	})
	if _, err := a.Updates().Tick(ctx); err != nil {
		return fail(err)
	}
	if _, err := a.Relay().Tick(ctx); err != nil {
		return fail(err)
	}
	a.Close(ctx)
	return 0
}

// childLocks is a mutex per key, kept once made (a child lives for one send).
type childLocks struct {
	mu   sync.Mutex
	held map[string]*sync.Mutex
}

func (l *childLocks) Lock(key string) func() {
	l.mu.Lock()
	m := l.held[key]
	if m == nil {
		m = &sync.Mutex{}
		l.held[key] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// An update to a thousand backers is sent once to each, though the processes sending it are
// killed for real (SIGKILL) at seeded points while fanning out and relaying: after each kill
// another process resumes once the dead one's claims have run out. Every backer ends with one
// Message-ID; a kill between the server's acceptance and the record may make one more delivery
// of that same message, and no more.
func TestUpdateToAThousandBackersSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a sender process per kill")
	}
	const n, kills = 1000, 6
	seed := rand.Uint64()
	if v := os.Getenv(chaosSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", chaosSeedEnv, v)
		}
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, chaosSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ms := startMailServer(t, "127.0.0.1:0")
	opts := testenv.StoreOptions(t)
	s := startServiceOn(t, mailEnv(ms.addr), testenv.MustStoreAt(t, opts))
	c := s.pledgeSetup("flexible", 10)
	s.relay() // the approval and the rest of the campaign's own messages
	s.thousandBackers(c, n)
	upd := s.must(201, "POST", "/api/v1/campaigns/"+c.id+"/updates", c.owner,
		map[string]any{"title": "Thousand", "body": "To everyone.", "visibility": "public"}, "Idempotency-Key", "thousand")

	killed, byKind := 0, map[string]int{}
	for {
		point := ""
		if killed < kills {
			k := mailCrashKinds[rng.IntN(len(mailCrashKinds))]
			point = fmt.Sprintf("%s:%d", k.kind, 1+rng.IntN(k.max))
		}
		child := exec.Command(self, "-test.run=^$")
		child.Env = append(os.Environ(), mailChaosChildEnv+"="+strings.Join([]string{
			"store=" + opts.URI, "database=" + opts.Database, "smtp=" + ms.addr,
			"now=" + s.clock.Now().Format(time.RFC3339Nano), "crash=" + point,
			"unique_indexes=" + strconv.FormatBool(opts.ConstraintIndexesOnly)}, "\n"))
		began := time.Now()
		out, err := child.CombinedOutput()
		t.Logf("sender with crash point %q: %v after %s; %d backers have the update", point, err, time.Since(began).Round(time.Millisecond), s.deliveredTo(ms, "Thousand"))
		var exit *exec.ExitError
		if err == nil {
			// A point beyond the work left is not reached: the child finished.
			if point == "" || s.deliveredTo(ms, "Thousand") == n {
				break
			}
			continue
		}
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("sender child (crash point %q): %v\n%s", point, err, out)
		}
		killed++
		byKind[strings.Split(point, ":")[0]]++
		// The dead sender's claims (on the fan-out and on its batch of messages) run out before
		// the next one looks.
		s.clock.Advance(max(notify.ClaimTTL, notify.FanOutTTL) + time.Second)
	}

	deliveries := s.updateDeliveries(ms, "Thousand", upd["id"].(string), n)
	if deliveries > n+byKind["smtp-after"] {
		t.Fatalf("%d deliveries after %d kills after a send, want at most %d", deliveries, byKind["smtp-after"], n+byKind["smtp-after"])
	}
	t.Logf("%d kills (%v); %d deliveries of %d messages to %d backers, each with one Message-ID", killed, byKind, deliveries, n, n)
}

// deliveredTo counts the distinct recipients of messages whose subject ends with title.
func (s *service) deliveredTo(ms *mailServer, title string) int {
	to := map[string]bool{}
	for _, d := range ms.received() {
		if strings.HasSuffix(d.Subject, ": "+title) {
			to[d.To] = true
		}
	}
	return len(to)
}
