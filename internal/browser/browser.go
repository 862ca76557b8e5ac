// Package browser starts Debian's Chromium for the browser tests and the screenshot command,
// through go-rod. It never lets rod download a browser: the binary is the system's (apt-get
// install chromium), or BACKSTITCH_CHROMIUM names one.
package browser

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/launcher"
	"github.com/go-rod/rod/lib/launcher/flags"
	"github.com/go-rod/rod/lib/proto"
)

// InstallHint says how to get the browser the tests need.
const InstallHint = "install Chromium with `apt-get update && apt-get install -y chromium`, or set BACKSTITCH_CHROMIUM to a Chromium binary"

// Find returns the Chromium binary to use: BACKSTITCH_CHROMIUM, else chromium on the PATH.
func Find() (string, error) {
	if bin := os.Getenv("BACKSTITCH_CHROMIUM"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("BACKSTITCH_CHROMIUM=%s: %w; %s", bin, err, InstallHint)
		}
		return bin, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: %s", InstallHint)
}

// Launch starts a headless Chromium from bin with nothing reaching out to the network on its own
// (no component updates, no background fetches, no QUIC). Stop it with the returned function.
func Launch(bin string) (*rod.Browser, func(), error) {
	l := launcher.New().Bin(bin).Headless(true).NoSandbox(true).
		Set(flags.Flag("disable-gpu")).
		Set(flags.Flag("disable-background-networking")).
		Set(flags.Flag("disable-component-update")).
		Set(flags.Flag("disable-quic"))
	u, err := l.Launch()
	if err != nil {
		return nil, nil, fmt.Errorf("start Chromium %s: %w", bin, err)
	}
	b := rod.New().ControlURL(u)
	if err := b.Connect(); err != nil {
		l.Kill()
		return nil, nil, fmt.Errorf("connect to Chromium: %w", err)
	}
	return b, func() { _ = b.Close(); l.Kill(); l.Cleanup() }, nil
}

var shared struct {
	once    sync.Once
	browser *rod.Browser
	stop    func()
	err     error
}

// ForTest returns the package's one browser, started on first use. Without Chromium the test is
// skipped with how to install it, except in CI (CI=true), where a missing browser fails the run.
func ForTest(tb testing.TB) *rod.Browser {
	tb.Helper()
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("browser tests must run in CI: %v", err)
		}
		tb.Skipf("browser test skipped: %v", err)
	}
	shared.once.Do(func() { shared.browser, shared.stop, shared.err = Launch(bin) })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.browser
}

// Tab opens a page in a fresh incognito context (its own cookies) of the test's browser, closed
// when the test ends. languages is a browser's setting, "fr-CH,fr" ("" keeps the default):
// Chromium adds the q-values itself. It is set through the user agent override, because extra
// headers did not reach navigations.
func Tab(tb testing.TB, languages string) *rod.Page {
	tb.Helper()
	ctx, err := ForTest(tb).Incognito()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ctx.Close() })
	p, err := ctx.Page(proto.TargetCreateTarget{URL: "about:blank"})
	if err != nil {
		tb.Fatal(err)
	}
	if languages != "" {
		v, err := proto.BrowserGetVersion{}.Call(p)
		if err != nil {
			tb.Fatal(err)
		}
		if err := (proto.EmulationSetUserAgentOverride{UserAgent: v.UserAgent, AcceptLanguage: languages}).Call(p); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

// Stop ends the browser ForTest started, if any; call it after the package's tests (TestMain).
func Stop() {
	if shared.stop != nil {
		shared.stop()
	}
}
