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
	for _, name := range []string{"MONGODB_URI", "STRIPE_SECRET_KEY", "BACKSTITCH_PUBLIC_URL", "BACKSTITCH_SMTP_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	_, err = Load(envOf(map[string]string{"BACKSTITCH_ENV": "production", "MONGODB_URI": "mongodb://db:27017",
		"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "BACKSTITCH_PUBLIC_URL": "https://backstitch.example",
		"BACKSTITCH_SMTP_URL": "smtp://mailer:s3cret@smtp.example:587", "BACKSTITCH_MAIL_FROM": "Backstitch <hello@backstitch.example>"}))
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

// Stripe settings that start fine but fail at the first checkout or webhook are refused at
// start, naming every setting involved.
func TestStripeSettingsThatCannotWork(t *testing.T) {
	prod := map[string]string{"BACKSTITCH_ENV": "production", "MONGODB_URI": "mongodb://db:27017", "BACKSTITCH_PUBLIC_URL": "https://backstitch.example",
		"BACKSTITCH_SMTP_URL": "smtps://smtp.example", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		names []string // every one must appear in the refusal
	}{
		{"live secret, test publishable", with(prod, "STRIPE_SECRET_KEY", "sk_live_x", "STRIPE_PUBLISHABLE_KEY", "pk_test_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"),
			[]string{"STRIPE_PUBLISHABLE_KEY", "STRIPE_SECRET_KEY", "test-mode", "live-mode"}},
		{"test secret, live publishable", with(nil, "STRIPE_SECRET_KEY", "sk_test_x", "STRIPE_PUBLISHABLE_KEY", "pk_live_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"),
			[]string{"STRIPE_PUBLISHABLE_KEY", "STRIPE_SECRET_KEY"}},
		{"restricted live key, test publishable", with(prod, "STRIPE_SECRET_KEY", "rk_live_x", "STRIPE_PUBLISHABLE_KEY", "pk_test_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"),
			[]string{"STRIPE_PUBLISHABLE_KEY"}},
		{"secret key without webhook secret (development)", with(nil, "STRIPE_SECRET_KEY", "sk_test_x"), []string{"STRIPE_WEBHOOK_SECRET"}},
		{"secret key without webhook secret (production)", with(prod, "STRIPE_SECRET_KEY", "sk_test_x"), []string{"STRIPE_WEBHOOK_SECRET"}},
		{"live key in development", with(nil, "STRIPE_SECRET_KEY", "sk_live_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"), []string{"STRIPE_SECRET_KEY", "BACKSTITCH_ENV"}},
		{"live key in test", with(nil, "BACKSTITCH_ENV", "test", "STRIPE_SECRET_KEY", "rk_live_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"), []string{"STRIPE_SECRET_KEY", "BACKSTITCH_ENV"}},
		{"publishable key as secret key", with(nil, "STRIPE_SECRET_KEY", "pk_test_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"), []string{"STRIPE_SECRET_KEY"}},
		{"secret key as publishable key", with(nil, "STRIPE_SECRET_KEY", "sk_test_x", "STRIPE_PUBLISHABLE_KEY", "sk_test_y", "STRIPE_WEBHOOK_SECRET", "whsec_x"), []string{"STRIPE_PUBLISHABLE_KEY"}},
		{"publishable key in offline mode", with(nil, "STRIPE_PUBLISHABLE_KEY", "pk_test_x"), []string{"STRIPE_PUBLISHABLE_KEY", "STRIPE_SECRET_KEY"}},
		{"webhook secret of another kind", with(nil, "STRIPE_SECRET_KEY", "sk_test_x", "STRIPE_WEBHOOK_SECRET", "sk_test_x"), []string{"STRIPE_WEBHOOK_SECRET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(envOf(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, name := range tc.names {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("refusal does not name %s: %v", name, err)
				}
			}
		})
	}
	for _, ok := range []map[string]string{
		with(prod, "STRIPE_SECRET_KEY", "sk_live_x", "STRIPE_PUBLISHABLE_KEY", "pk_live_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"),
		with(prod, "STRIPE_SECRET_KEY", "rk_test_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"),
		with(nil, "STRIPE_SECRET_KEY", "sk_test_x", "STRIPE_PUBLISHABLE_KEY", "pk_test_x", "STRIPE_WEBHOOK_SECRET", "whsec_x"),
	} {
		if _, err := Load(envOf(ok)); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
}

func TestAddrMustParse(t *testing.T) {
	for _, bad := range []string{"8080", "localhost", ":http-alt", ":99999", ":-1", "[::1", "a:b:c"} {
		if _, err := Load(envOf(map[string]string{"BACKSTITCH_ADDR": bad})); err == nil || !strings.Contains(err.Error(), "BACKSTITCH_ADDR") {
			t.Errorf("BACKSTITCH_ADDR=%q: %v", bad, err)
		}
	}
	for _, ok := range []string{":8080", "127.0.0.1:0", "[::1]:8080", "localhost:8080", "0.0.0.0:80"} {
		if _, err := Load(envOf(map[string]string{"BACKSTITCH_ADDR": ok})); err != nil {
			t.Errorf("BACKSTITCH_ADDR=%q refused: %v", ok, err)
		}
	}
}

// Settings is what usage texts list: every setting Load reads, with its default as typed.
func TestSettingsListsWhatLoadReads(t *testing.T) {
	got := map[string]string{}
	for _, s := range Settings() {
		got[s.Name] = s.Default
	}
	for name, def := range map[string]string{"BACKSTITCH_CONFIG_FILE": "", "BACKSTITCH_ADDR": ":8080", "MONGODB_URI": "",
		"BACKSTITCH_SESSION_TTL": "12h", "BACKSTITCH_PLEDGE_HOLD": "30m", "BACKSTITCH_DUNNING_RETRIES": "24h,72h,144h",
		"BACKSTITCH_BODY_LIMIT": "262144", "BACKSTITCH_RECONCILE_STUCK_AFTER": "1h", "BACKSTITCH_STRIPE_TIMEOUT": "20s"} {
		if v, ok := got[name]; !ok || v != def {
			t.Errorf("Settings()[%s] = %q (listed %v), want %q", name, v, ok, def)
		}
	}
	if len(got) < 40 {
		t.Errorf("Settings lists %d settings", len(got))
	}
}

// The public URL is handed out in redirects, Stripe return URLs and the OpenAPI document's
// servers: only an absolute http(s) URL with a host will do.
func TestPublicURLMustBeAbsoluteHTTP(t *testing.T) {
	for _, bad := range []string{"http://", "https://:8080", "localhost:8080", "ftp://backstitch.example", "/relative",
		"https://user:pw@backstitch.example", "https://backstitch.example/?x=1", "https://backstitch.example/#top", "http:backstitch.example"} {
		_, err := Load(envOf(map[string]string{"BACKSTITCH_PUBLIC_URL": bad}))
		if err == nil || !strings.Contains(err.Error(), "BACKSTITCH_PUBLIC_URL") {
			t.Errorf("BACKSTITCH_PUBLIC_URL=%q accepted (err %v)", bad, err)
		}
	}
	for in, want := range map[string]string{"": "http://localhost:8080", "https://backstitch.example/": "https://backstitch.example",
		"http://127.0.0.1:9000": "http://127.0.0.1:9000", "https://example.org/backstitch": "https://example.org/backstitch"} {
		c, err := Load(envOf(map[string]string{"BACKSTITCH_PUBLIC_URL": in}))
		if err != nil || c.PublicURL != want {
			t.Errorf("BACKSTITCH_PUBLIC_URL=%q → %q, %v; want %q", in, c.PublicURL, err, want)
		}
	}
}

func TestSMTPSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want SMTP
		bad  string // a setting the error must name, or "" when the settings are good
	}{
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "smtp://mailer:s%40cret@smtp.example", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"},
			want: SMTP{Host: "smtp.example", Port: 587, TLS: "starttls", Username: "mailer", Password: "s@cret"}},
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "smtps://mailer:pw@smtp.example", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"},
			want: SMTP{Host: "smtp.example", Port: 465, TLS: "tls", Username: "mailer", Password: "pw"}},
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "smtp+insecure://127.0.0.1:2525", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"},
			want: SMTP{Host: "127.0.0.1", Port: 2525, TLS: "none"}},
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "http://smtp.example", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"}, bad: "BACKSTITCH_SMTP_URL"},
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "smtp://smtp.example:99999", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"}, bad: "BACKSTITCH_SMTP_URL"},
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "smtp://smtp.example"}, bad: "BACKSTITCH_MAIL_FROM"},
		{env: map[string]string{"BACKSTITCH_SMTP_URL": "smtp://smtp.example", "BACKSTITCH_MAIL_FROM": "not an address"}, bad: "BACKSTITCH_MAIL_FROM"},
		{env: map[string]string{"BACKSTITCH_ENV": "production", "MONGODB_URI": "mongodb://db:27017", "STRIPE_SECRET_KEY": "sk_test_x",
			"STRIPE_WEBHOOK_SECRET": "whsec_x", "BACKSTITCH_PUBLIC_URL": "https://backstitch.example",
			"BACKSTITCH_SMTP_URL": "smtp+insecure://mail:25", "BACKSTITCH_MAIL_FROM": "hello@backstitch.example"}, bad: "smtp+insecure:// (no TLS), refused"},
	} {
		c, err := Load(envOf(tc.env))
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.bad)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("the error repeats the SMTP password: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v refused: %v", tc.env, err)
			continue
		}
		if c.SMTP != tc.want || !c.Mailing() {
			t.Errorf("%v read as %+v, want %+v", tc.env, c.SMTP, tc.want)
		}
		if strings.Contains(c.Redacted()["smtp"], tc.want.Password) && tc.want.Password != "" {
			t.Errorf("the start-up log shows the SMTP password: %s", c.Redacted()["smtp"])
		}
	}
}
