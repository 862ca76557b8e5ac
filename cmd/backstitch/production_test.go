package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var productionBinary struct {
	once sync.Once
	path string
	err  error
}

// buildProductionBinary compiles cmd/backstitch as the Dockerfile does (-tags production), once
// per test run. It is a second full link of the service, so -short skips the tests that need it.
func buildProductionBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the production binary; run without -short")
	}
	productionBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "backstitch-prod-bin-")
		if err != nil {
			productionBinary.err = err
			return
		}
		productionBinary.path = filepath.Join(dir, "backstitch")
		out, err := exec.Command("go", "build", "-tags", "production", "-o", productionBinary.path, ".").CombinedOutput()
		if err != nil {
			productionBinary.err = fmt.Errorf("go build -tags production: %v\n%s", err, out)
		}
	})
	if productionBinary.err != nil {
		t.Fatal(productionBinary.err)
	}
	return productionBinary.path
}

// offlineModules are what only the embedded store and the Stripe double need.
var offlineModules = []string{"github.com/FerretDB/", "github.com/stripe/stripe-mock", "modernc.org/sqlite"}

// offlinePackages are our own packages that bring them in.
var offlinePackages = []string{"github.com/backstitch/backstitch/internal/embedded", "github.com/backstitch/backstitch/internal/stripedouble"}

// The production build carries neither FerretDB nor stripe-mock nor the Stripe double, and the
// Dockerfile builds that variant. The default build is checked to carry them, so that the check
// cannot pass by looking in the wrong place.
func TestProductionBuildLeavesOfflinePartsOut(t *testing.T) {
	bin := buildProductionBinary(t)
	mods, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, mods)
	}
	if !strings.Contains(string(mods), "go.mongodb.org/mongo-driver") {
		t.Fatalf("go version -m lists no modules at all:\n%s", mods)
	}
	for _, m := range offlineModules {
		if strings.Contains(string(mods), m) {
			t.Errorf("the production binary carries %s", m)
		}
	}
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return string(out)
	}
	production, normal := deps("-tags", "production"), deps()
	for _, p := range append(offlinePackages, "github.com/FerretDB/FerretDB/ferretdb", "github.com/stripe/stripe-mock/server") {
		if strings.Contains(production, p+"\n") {
			t.Errorf("the production build imports %s", p)
		}
		if !strings.Contains(normal, p+"\n") {
			t.Errorf("the default build lacks %s: `go run ./cmd/backstitch` would not start on its own", p)
		}
	}
	if info, err := os.Stat(bin); err == nil {
		t.Logf("production binary: %.1f MB", float64(info.Size())/1e6)
	}

	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	build := regexp.MustCompile(`(?m)^RUN .*\bgo build\b.*$`).FindString(string(dockerfile))
	if !strings.Contains(build, "-tags production") || !strings.HasSuffix(build, "./cmd/backstitch") {
		t.Errorf("the Dockerfile does not build the production variant of the service: %q", build)
	}
}

// Without MongoDB and Stripe the production build has nothing to run on: it stops at once,
// naming what is missing (and only that), on standard error and in the fatal log line.
func TestProductionBuildRefusesWithoutMongoDBAndStripe(t *testing.T) {
	bin := buildProductionBinary(t)
	for _, c := range []struct {
		env           []string
		named, absent []string
	}{
		{nil, []string{"MONGODB_URI", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"}, nil},
		{[]string{"MONGODB_URI=mongodb://db.example:27017"}, []string{"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"}, []string{"MONGODB_URI"}},
		{[]string{"STRIPE_SECRET_KEY=sk_test_x", "STRIPE_WEBHOOK_SECRET=whsec_x"}, []string{"MONGODB_URI"}, []string{"STRIPE_SECRET_KEY"}},
	} {
		for _, args := range [][]string{nil, {"repair"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = cleanEnv(append([]string{"BACKSTITCH_ADDR=" + freeAddr(t)}, c.env...)...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("%v %v: exit %v, want 1\n%s%s", c.env, args, err, stdout.String(), stderr.String())
			}
			for _, name := range c.named {
				if !strings.Contains(stderr.String(), name) {
					t.Errorf("%v %v: the refusal does not name %s:\n%s", c.env, args, name, stderr.String())
				}
			}
			for _, name := range c.absent {
				if strings.Contains(stderr.String(), name) {
					t.Errorf("%v %v: the refusal names %s, which is set:\n%s", c.env, args, name, stderr.String())
				}
			}
			if args == nil {
				if logged := fatalLine(t, stdout.String()); !strings.Contains(logged, c.named[0]) {
					t.Errorf("%v: the fatal log line does not name %s: %s", c.env, c.named[0], logged)
				}
			}
		}
	}
}

// The settings are checked before BACKSTITCH_ADDR is taken: a production instance missing one
// never holds the port (a load balancer's TCP check would count it up). With the port already
// taken, the refusal must still be about the missing setting, not the address.
func TestProductionBuildChecksSettingsBeforeTakingThePort(t *testing.T) {
	bin := buildProductionBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = cleanEnv("BACKSTITCH_ADDR="+ln.Addr().String(), "STRIPE_SECRET_KEY=sk_test_x", "STRIPE_WEBHOOK_SECRET=whsec_x")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "MONGODB_URI") || strings.Contains(stderr.String(), "BACKSTITCH_ADDR") {
		t.Fatalf("exit %d; want 1 naming MONGODB_URI before any attempt on the port:\n%s", cmd.ProcessState.ExitCode(), stderr.String())
	}
}
