package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.DataDir != "./data" || !c.Embedded() || !c.Offline() ||
		c.MinCampaignDuration != 24*time.Hour || c.MaxCampaignDuration != 1440*time.Hour {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestProductionNamesWhatIsMissing(t *testing.T) {
	_, err := Load(envOf(map[string]string{"BACKSTITCH_ENV": "production"}))
	if err == nil {
		t.Fatal("production without a store or Stripe key started")
	}
	for _, name := range []string{"MONGODB_URI", "STRIPE_SECRET_KEY", "BACKSTITCH_PUBLIC_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	_, err = Load(envOf(map[string]string{"BACKSTITCH_ENV": "production", "MONGODB_URI": "mongodb://db:27017",
		"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "BACKSTITCH_PUBLIC_URL": "https://backstitch.example"}))
	if err != nil {
		t.Fatalf("complete production config refused: %v", err)
	}
}

func TestBadSettingsAreAllNamed(t *testing.T) {
	_, err := Load(envOf(map[string]string{
		"BACKSTITCH_MIN_CAMPAIGN_DURATION": "soon",
		"BACKSTITCH_BODY_LIMIT":            "-1",
		"BACKSTITCH_ENV":                   "staging",
		"MONGODB_URI":                      "postgres://x",
		"BACKSTITCH_DUNNING_RETRIES":       "72h,24h",
	}))
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, name := range []string{"BACKSTITCH_MIN_CAMPAIGN_DURATION", "BACKSTITCH_BODY_LIMIT", "BACKSTITCH_ENV", "MONGODB_URI", "BACKSTITCH_DUNNING_RETRIES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestFileUnderEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backstitch.env")
	if err := os.WriteFile(path, []byte("# comment\nBACKSTITCH_ADDR=:9000\nBACKSTITCH_MIN_CAMPAIGN_DURATION=5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"BACKSTITCH_CONFIG_FILE": path, "BACKSTITCH_ADDR": ":9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9100" || c.MinCampaignDuration != 5*time.Second {
		t.Fatalf("file/env layering wrong: addr %q min %v", c.Addr, c.MinCampaignDuration)
	}
}

// The example file must list every setting Load reads, so it can never fall behind the code.
func TestExampleFileDocumentsEverySetting(t *testing.T) {
	example, err := os.ReadFile("../../config/backstitch.example.env")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		i := strings.Index(line, `r.str("`)
		if i < 0 {
			i = strings.Index(line, `r.duration("`)
		}
		if i < 0 {
			i = strings.Index(line, `r.integer("`)
		}
		if i < 0 {
			i = strings.Index(line, `r.durations("`)
		}
		if i < 0 {
			continue
		}
		key := strings.Split(line[i:], `"`)[1]
		if !strings.Contains(string(example), key+"=") {
			t.Errorf("config/backstitch.example.env does not document %s", key)
		}
	}
}
