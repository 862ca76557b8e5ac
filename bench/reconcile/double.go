package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/backstitch/backstitch/internal/stripedouble"
)

// The Stripe double runs in a child process: this same binary started with -serve-double. In
// the bench's own process it would hold every PaymentIntent, charge, balance transaction and
// event of the seeding (about 650 MiB of live heap at n=100,000), which a deployment keeps at
// Stripe, not in its memory. That heap would be counted in the run's RSS and Go heap, and every
// GC during the run would mark it again (a third of run 1's CPU at n=100,000 when measured
// in-process). In a process of its own it is neither, and the measured process is what the
// service is when it runs on the embedded store: FerretDB, the driver and the Runner.
//
// Besides Stripe's API, the child answers three calls of the bench's own under /bench/: make
// dashboard charges (DashboardCharge is a Go method, not an API call), refund one, and report
// the time its handler spent answering API calls.

// timedHandler adds up the time the double spends answering (validating against Stripe's
// OpenAPI spec, rendering and expanding), so the report can tell the double's cost from the
// client's (stripe-go decoding, the adapter) and from the loopback.
type timedHandler struct {
	h        http.Handler
	ns, reqs atomic.Int64
}

func (t *timedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t.h.ServeHTTP(w, r)
	t.ns.Add(int64(time.Since(start)))
	t.reqs.Add(1)
}

type chargesRequest struct {
	CampaignID string   `json:"campaign_id"`
	PledgeIDs  []string `json:"pledge_ids"`
}

type madeCharge struct {
	PaymentIntentID string `json:"payment_intent_id"`
	ChargeID        string `json:"charge_id"`
}

type refundRequest struct {
	ChargeID string `json:"charge_id"`
	Amount   int64  `json:"amount"`
}

// doubleStats is what the child reports about itself.
type doubleStats struct {
	HandlerNS int64  `json:"handler_ns"`
	Requests  int64  `json:"requests"`
	RSS       uint64 `json:"rss"`
	HWM       uint64 `json:"hwm"`
	HeapInuse uint64 `json:"heap_inuse"`
}

// serveDouble is the child: it serves the double until its stdin closes, which happens when the
// parent closes it or dies, so no double outlives its bench.
func serveDouble() error {
	d, err := stripedouble.New(stripedouble.Options{Seed: 1})
	if err != nil {
		return err
	}
	defer d.Close()
	timed := &timedHandler{h: d}
	mux := http.NewServeMux()
	mux.Handle("/", timed)
	mux.HandleFunc("POST /bench/charges", func(w http.ResponseWriter, r *http.Request) {
		var req chargesRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := make([]madeCharge, 0, len(req.PledgeIDs))
		for _, id := range req.PledgeIDs {
			pi, ch, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: pledgeAmount, Currency: pledgeCurr,
				Description: "Pledge " + id, TransferGroup: req.CampaignID, Metadata: map[string]string{"pledge_id": id, "campaign_id": req.CampaignID}})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out = append(out, madeCharge{PaymentIntentID: pi, ChargeID: ch})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST /bench/refunds", func(w http.ResponseWriter, r *http.Request) {
		var req refundRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, err := d.DashboardRefund(req.ChargeID, req.Amount)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, id)
	})
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		p := readProc()
		writeJSON(w, doubleStats{HandlerNS: timed.ns.Load(), Requests: timed.reqs.Load(), RSS: p.rss, HWM: p.hwm, HeapInuse: m.HeapInuse})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// doubleProc is the parent's handle on the child.
type doubleProc struct {
	url   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startDouble() (*doubleProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve-double")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the Stripe double: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start the Stripe double: %w", err)
	}
	return &doubleProc{url: strings.TrimSpace(line), cmd: cmd, stdin: stdin}, nil
}

func (p *doubleProc) close() {
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
}

func (p *doubleProc) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, body)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("double %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// charges makes one succeeded dashboard charge for each pledge id, in the campaign's transfer
// group and with the metadata the service's own charges carry.
func (p *doubleProc) charges(ctx context.Context, campaignID string, pledgeIDs []string) ([]madeCharge, error) {
	var out []madeCharge
	err := p.call(ctx, http.MethodPost, "/bench/charges", chargesRequest{CampaignID: campaignID, PledgeIDs: pledgeIDs}, &out)
	if err == nil && len(out) != len(pledgeIDs) {
		err = fmt.Errorf("double made %d charges for %d pledges", len(out), len(pledgeIDs))
	}
	return out, err
}

func (p *doubleProc) refund(ctx context.Context, chargeID string, amount int64) error {
	var id string
	return p.call(ctx, http.MethodPost, "/bench/refunds", refundRequest{ChargeID: chargeID, Amount: amount}, &id)
}

func (p *doubleProc) stats(ctx context.Context) (doubleStats, error) {
	var s doubleStats
	return s, p.call(ctx, http.MethodGet, "/bench/stats", nil, &s)
}
