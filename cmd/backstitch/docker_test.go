package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/stripedouble"
	"github.com/backstitch/backstitch/internal/testenv"
)

// dockerRunEnv reads the settings of the README's `docker run` example, and the ENV the
// Dockerfile bakes into the image under them.
func dockerRunEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:ENV\s+)?(BACKSTITCH_\w+)=(\S+)`).FindAllStringSubmatch(string(dockerfile), -1) {
		env[m[1]] = m[2]
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Docker\n")
	if !ok {
		t.Fatal("README has no Docker section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, run, ok := strings.Cut(section, "docker run ")
	if !ok {
		t.Fatal("README's Docker section has no docker run example")
	}
	run, _, _ = strings.Cut(run, "```")
	for _, m := range regexp.MustCompile(`-e ([A-Z_]+)=('[^']*'|\S+)`).FindAllStringSubmatch(run, -1) {
		env[m[1]] = strings.Trim(m[2], "'")
	}
	return env
}

// TestDockerExampleStartsInProduction runs the production binary, which the Dockerfile builds,
// with the README's docker run settings:
// it must start in production mode and become ready. Only what cannot exist here is replaced:
// the MongoDB host (the test store instead) and the Stripe API (the double, via STRIPE_API_URL);
// the keys and every other setting are the README's own.
func TestDockerExampleStartsInProduction(t *testing.T) {
	env := dockerRunEnv(t)
	if env["BACKSTITCH_ENV"] != "production" || env["MONGODB_URI"] == "" || env["STRIPE_SECRET_KEY"] == "" {
		t.Fatalf("the README's docker run example is not a production setup: %v", env)
	}
	opts := testenv.StoreOptions(t)
	testenv.MustStoreAt(t, opts)
	d, err := stripedouble.New(stripedouble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d)
	defer srv.Close()

	addr := freeAddr(t)
	env["MONGODB_URI"], env["MONGODB_DATABASE"], env["MONGODB_MAX_POOL_SIZE"] = opts.URI, opts.Database, "1"
	env["STRIPE_API_URL"], env["BACKSTITCH_ADDR"] = srv.URL, addr
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	cmd := exec.Command(buildProductionBinary(t))
	cmd.Env = cleanEnv(kv...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := false
	for start := time.Now(); time.Since(start) < 30*time.Second && !ready; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			ready = res.StatusCode == 200
		}
	}
	if !ready {
		t.Fatalf("not ready with the README's settings; logs:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
	for _, want := range []string{`"env":"production"`, `"store":"mongodb"`, `"stripe_mode":"test"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

// The build context holds what the Dockerfile copies and nothing else.
func TestDockerignoreKeepsWhatTheBuildCopies(t *testing.T) {
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	if !strings.Contains(string(ignore), "\n*\n") {
		t.Fatal(".dockerignore is not an allowlist (no lone *)")
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY ([^-].*) \S+$`).FindAllStringSubmatch(string(dockerfile), -1) {
		for _, src := range strings.Fields(m[1]) {
			top, _, _ := strings.Cut(src, "/")
			allowed := false
			for _, l := range lines {
				allowed = allowed || l == "!"+top || l == "!"+top+"/"
			}
			if !allowed {
				t.Errorf("the Dockerfile copies %s but .dockerignore keeps it out", src)
			}
		}
	}
}

// The image builds: every folder of this module the binary imports is copied into the build
// (templates/ at the top level was once left out).
func TestDockerfileCopiesEveryPackageTheBinaryImports(t *testing.T) {
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	copied := regexp.MustCompile(`(?m)^COPY (\w+) `).FindAllStringSubmatch(string(dockerfile), -1)
	for _, pkg := range strings.Fields(string(out)) {
		top, _, _ := strings.Cut(strings.TrimPrefix(pkg, "github.com/backstitch/backstitch/"), "/")
		found := false
		for _, m := range copied {
			found = found || m[1] == top
		}
		if !found {
			t.Errorf("the binary imports %s, but the Dockerfile does not copy %s/", pkg, top)
		}
	}
}
