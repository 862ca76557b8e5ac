// Package double runs the offline Stripe double in a child process of a benchmark: the
// benchmark's own binary started with -serve-double (Flag), serving the double on a loopback
// port until its stdin closes.
//
// In the benchmark's own process the double would hold every customer, PaymentIntent, charge and
// event the run makes, which a deployment keeps at Stripe, not in its memory: that heap would be
// counted in the run's RSS and Go heap (about 3.4 KB a pledge in the soak, 650 MiB of live heap
// for the reconcile bench's 100,000 charges), and every GC would mark it again. In a process of
// its own it is neither, and the measured process is what the service is when it runs on the
// embedded store.
//
// Besides Stripe's API, the child answers calls of the benchmarks' own under /bench/: the time
// its handler spent answering API calls and its memory (GET /bench/stats), where to send
// webhooks (POST /bench/webhook), and whatever a benchmark adds through Serve's extend.
package double

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

	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// Flag is the command-line flag (without its dash) that makes a benchmark's binary the child: a
// benchmark defines it as a bool and calls Serve when it is set.
const Flag = "serve-double"

// timedHandler adds up the time the double spends answering (validating against Stripe's
// OpenAPI spec, rendering and expanding), so a report can tell the double's cost from the
// client's (stripe-go requests, decoding, the adapter) and from the loopback.
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

// Stats is what the child reports about itself.
type Stats struct {
	HandlerNS int64  `json:"handler_ns"`
	Requests  int64  `json:"requests"`
	RSS       uint64 `json:"rss"`
	HWM       uint64 `json:"hwm"`
	HeapInuse uint64 `json:"heap_inuse"`
	// CPUNS is the child's CPU time so far, user and system: on a shared machine, what it did
	// is less noisy than how long it took.
	CPUNS int64 `json:"cpu_ns"`
}

type webhook struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// Serve is the child: it serves a double made with opts until its stdin closes, which happens
// when the parent closes it or dies, so no double outlives its benchmark. extend, when not nil,
// adds a benchmark's own calls to the mux (under /bench/).
func Serve(opts stripedouble.Options, extend func(*http.ServeMux, *stripedouble.Double)) error {
	d, err := stripedouble.New(opts)
	if err != nil {
		return err
	}
	defer d.Close()
	timed := &timedHandler{h: d}
	mux := http.NewServeMux()
	mux.Handle("/", timed)
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		p := profile.ReadMem()
		WriteJSON(w, Stats{HandlerNS: timed.ns.Load(), Requests: timed.reqs.Load(), RSS: p.RSS, HWM: p.HWM, HeapInuse: m.HeapInuse,
			CPUNS: int64(profile.CPUTime())})
	})
	mux.HandleFunc("POST /bench/webhook", func(w http.ResponseWriter, r *http.Request) {
		var req webhook
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d.SetWebhook(req.URL, req.Secret)
		WriteJSON(w, true)
	})
	if extend != nil {
		extend(mux, d)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// WriteJSON answers v as JSON.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Proc is the parent's handle on the child.
type Proc struct {
	// URL is where the double answers, Stripe's API and the /bench/ calls alike.
	URL   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Start starts this binary again with -serve-double and waits until the child answers.
func Start() (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-"+Flag)
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
	return &Proc{URL: strings.TrimSpace(line), cmd: cmd, stdin: stdin}, nil
}

// Close ends the child and waits for it.
func (p *Proc) Close() {
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
}

// Call sends in as JSON (none when nil) to one of the child's /bench/ calls and decodes its
// answer into out.
func (p *Proc) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, body)
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

// Stats asks the child for its handler time and memory.
func (p *Proc) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	return s, p.Call(ctx, http.MethodGet, "/bench/stats", nil, &s)
}

// SetWebhook makes the double deliver its events to url, signed with secret, as Stripe does to a
// webhook endpoint.
func (p *Proc) SetWebhook(ctx context.Context, url, secret string) error {
	var ok bool
	return p.Call(ctx, http.MethodPost, "/bench/webhook", webhook{URL: url, Secret: secret}, &ok)
}
