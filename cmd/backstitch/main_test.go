package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary compiles cmd/backstitch once per test run, so tests start the real program.
func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "backstitch-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "backstitch")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cleanEnv is the environment of a fresh machine: nothing of ours configured.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BACKSTITCH_") && !strings.HasPrefix(kv, "MONGODB_") && !strings.HasPrefix(kv, "STRIPE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestServeOnAFreshMachine starts the real binary with nothing configured but a port and a data
// folder: it must come up on the embedded store, say so once, answer /readyz, and stop cleanly on
// SIGTERM. The time from exec to ready is logged for the start-up budget (≤ 2 s).
func TestServeOnAFreshMachine(t *testing.T) {
	bin := buildBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = cleanEnv("BACKSTITCH_ADDR="+addr, "BACKSTITCH_DATA_DIR="+filepath.Join(t.TempDir(), "data"))
	var logs bytes.Buffer
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := false
	for time.Since(start) < 20*time.Second {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				ready = true
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if !ready {
		t.Fatalf("not ready after %v; logs:\n%s", elapsed, logs.String())
	}
	t.Logf("cold start to ready: %v", elapsed)
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
	}
	out := logs.String()
	for _, want := range []string{`"store":"embedded"`, `"message":"ready"`, `"message":"shutting down: finishing in-flight requests"`} {
		if strings.Count(out, want) != 1 {
			t.Errorf("log %s appears %d times, want once; logs:\n%s", want, strings.Count(out, want), out)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var last map[string]any
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("log line is not JSON: %s", sc.Text())
		}
		last = line
		checkDurationUnits(t, line)
	}
	if last["message"] != "stopped" {
		t.Errorf("the last log line is %v, want the one saying it stopped", last)
	}
	if !strings.Contains(out, `"duration_ms":`) || !strings.Contains(out, `"startup_ms":`) {
		t.Errorf("request or ready lines lack their durations in ms:\n%s", out)
	}
}

// checkDurationUnits fails on a log field that holds a duration without its unit in the name:
// "duration": 1.5 could be seconds or milliseconds, and dashboards built on a guess are wrong.
func checkDurationUnits(t *testing.T, line map[string]any) {
	t.Helper()
	for k, v := range line {
		if _, number := v.(float64); !number {
			continue
		}
		for _, word := range []string{"duration", "startup", "elapsed", "latency", "took", "uptime"} {
			if strings.Contains(k, word) && !strings.HasSuffix(k, "_ms") && !strings.HasSuffix(k, "_seconds") {
				t.Errorf("log field %q holds a duration without its unit: %v", k, line)
			}
		}
	}
}

func TestProductionRefusesToStartWithoutStoreAndStripe(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = cleanEnv("BACKSTITCH_ENV=production")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("production started without configuration:\n%s", out)
	}
	for _, name := range []string{"MONGODB_URI", "STRIPE_SECRET_KEY"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("refusal does not name %s:\n%s", name, out)
		}
	}
	// Log collectors see the refusal too, as one JSON line.
	if logged := fatalLine(t, string(out)); !strings.Contains(logged, "MONGODB_URI") {
		t.Errorf("the fatal log line does not name MONGODB_URI: %s", logged)
	}
}

// TestAdminCreate runs `backstitch admin create` as a user would, on one data folder (password
// from the environment, then from stdin), then serves from that folder and logs in as the admin.
// Each step is its own process: one process opens the embedded store once.
func TestAdminCreate(t *testing.T) {
	bin := buildBinary(t)
	dataDir := "BACKSTITCH_DATA_DIR=" + filepath.Join(t.TempDir(), "data")
	admin := func(stdin string, env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"admin", "create"}, args...)...)
		cmd.Env = cleanEnv(append(env, dataDir)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	withPassword := []string{"BACKSTITCH_ADMIN_PASSWORD=review everything twice"}
	if out, err := admin("", withPassword, "--email", "Root@Backstitch.example"); err != nil || !strings.Contains(out, "created admin root@backstitch.example") {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	if out, err := admin("typed on stdin, long enough\n", nil, "--email", "second@backstitch.example"); err != nil {
		t.Fatalf("admin create from stdin: %v\n%s", err, out)
	}
	if out, err := admin("", withPassword, "--email", "root@backstitch.example"); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("a second admin with the same email: %v\n%s", err, out)
	}
	if out, err := admin("", withPassword); err == nil || !strings.Contains(out, "--email") {
		t.Fatalf("missing --email: %v\n%s", err, out)
	}
	if out, err := admin("", nil, "--email", "x@y.example"); err == nil || !strings.Contains(out, "BACKSTITCH_ADMIN_PASSWORD") {
		t.Fatalf("admin created without a password: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	serve := exec.Command(bin)
	serve.Env = cleanEnv(dataDir, "BACKSTITCH_ADDR="+addr)
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		if err := serve.Wait(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var res *http.Response
	var err error
	for range 1000 {
		res, err = http.Post("http://"+addr+"/api/v1/sessions", "application/json",
			strings.NewReader(`{"email":"root@backstitch.example","password":"review everything twice"}`))
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 201 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("admin login: %d %s", res.StatusCode, b)
	}
}

func TestRepairOnAnEmptyStore(t *testing.T) {
	for _, args := range [][]string{{"repair"}, {"repair", "--fix"}} {
		cmd := exec.Command(buildBinary(t), args...)
		cmd.Env = cleanEnv("BACKSTITCH_DATA_DIR=" + filepath.Join(t.TempDir(), "data"))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "checked 0 campaigns: 0 had drifted, 0 busy") {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
}
