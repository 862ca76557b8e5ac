//go:build production

package app_test

import (
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
)

// The production build has neither the embedded store nor the Stripe double (every other test of
// this package needs them, so they are built without the tag). What it must do is refuse, naming
// every missing setting at once, a configuration that would need them, and accept a complete one.
// Run: go test -tags production ./internal/app
func TestProductionBuildRefusesTheOfflineParts(t *testing.T) {
	load := func(env map[string]string) config.Config {
		t.Helper()
		cfg, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	err := app.CheckBuild(load(map[string]string{}))
	if err == nil {
		t.Fatal("the production build accepted a configuration without MongoDB and Stripe")
	}
	for _, name := range []string{"MONGODB_URI", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the refusal does not name %s: %v", name, err)
		}
	}
	full := load(map[string]string{
		"MONGODB_URI":           "mongodb://db.internal:27017",
		"STRIPE_SECRET_KEY":     "sk_test_" + strings.Repeat("x", 24),
		"STRIPE_WEBHOOK_SECRET": "whsec_" + strings.Repeat("y", 24),
	})
	if err := app.CheckBuild(full); err != nil {
		t.Errorf("the production build refused a complete configuration: %v", err)
	}
}
