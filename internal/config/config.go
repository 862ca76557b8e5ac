// Package config reads the service's settings from the environment, and optionally from a file of
// KEY=value lines named by BACKSTITCH_CONFIG_FILE (the environment wins), and validates them all at
// once so a bad start names every bad setting.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the service. config/backstitch.example.env documents each one.
type Config struct {
	Env     string // development | production | test
	Addr    string
	DataDir string
	// PublicURL is where people reach the service; links in mail and redirects use it, and an
	// https URL turns on Secure, __Host- cookies.
	PublicURL string
	LogLevel  string

	MongoURI      string
	MongoDatabase string
	MongoMaxPool  int

	StripeSecretKey      string
	StripePublishableKey string
	StripeWebhookSecret  string
	// StripeAPIURL sends Stripe requests elsewhere than api.stripe.com: an egress proxy, or a
	// Stripe double run by a test.
	StripeAPIURL string
	// MetricsAddr, when set, serves /metrics on its own listener (a private interface or port)
	// instead of the public app; MetricsToken otherwise guards /metrics on the public app.
	MetricsAddr  string
	MetricsToken string

	MinCampaignDuration time.Duration
	MaxCampaignDuration time.Duration

	SessionTTL       time.Duration
	BodyLimit        int
	LoginPerAccount  int
	LoginPerAddress  int
	LoginWindow      time.Duration
	ProxyHeader      string
	ShutdownTimeout  time.Duration
	RequestTimeout   time.Duration
	PublicCacheTTL   time.Duration
	IdempotencyTTL   time.Duration
	MaxPageSize      int
	DefaultPageSize  int
	StripeAPITimeout time.Duration
	StripeWriteRate  int
	PledgeHold       time.Duration
	PledgePerAddress int
	PledgeWindow     time.Duration
	// PledgeLimitFlush is how often an instance adds the pledge limit's hits, counted in
	// memory, to the store and reads back those windows' totals (see internal/ratelimit).
	PledgeLimitFlush time.Duration

	SettleInterval    time.Duration
	SweepInterval     time.Duration
	SettleConcurrency int
	SettleLeaseTTL    time.Duration
	DunningRetries    []time.Duration
	DunningWindow     time.Duration
	PlatformFeeBPS    int
	// CancelFeesBorneBy says who bears Stripe's processing fees of charges refunded because their
	// campaign was cancelled: "platform" (the default), or "designer" (recorded as owed by her in
	// the campaign's settlement report). Backers are refunded in full either way.
	CancelFeesBorneBy string
	// ReconcileStuckAfter is how long a pledge may stay "charging" before reconciliation
	// reports it stuck.
	ReconcileStuckAfter time.Duration

	// SMTPURL is where mail goes (see SMTP); empty in development keeps messages in the outbox,
	// readable at /dev/mailbox.
	SMTPURL      string
	SMTP         SMTP
	MailFrom     string
	MailInterval time.Duration
	SMTPTimeout  time.Duration
}

// SMTP is BACKSTITCH_SMTP_URL read: smtp://user:pass@host:587 (STARTTLS required),
// smtps://user:pass@host:465 (TLS from the start), smtp+insecure://host:port (no TLS).
type SMTP struct {
	Host     string
	Port     int
	TLS      string // starttls | tls | none
	Username string
	Password string
}

// Mailing reports whether messages are sent (otherwise they stay in the outbox).
func (c Config) Mailing() bool { return c.SMTPURL != "" }

// parseSMTP reads BACKSTITCH_SMTP_URL; the error says what is wrong without repeating the URL,
// which may carry a password.
func parseSMTP(raw string) (SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTP{}, errors.New("is not a URL")
	}
	o := SMTP{Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		o.TLS, o.Port = "starttls", 587
	case "smtps":
		o.TLS, o.Port = "tls", 465
	case "smtp+insecure":
		o.TLS, o.Port = "none", 25
	default:
		return SMTP{}, errors.New("must start with smtp:// (STARTTLS), smtps:// (TLS) or smtp+insecure:// (no TLS)")
	}
	if o.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return SMTP{}, errors.New("must be scheme://[user:password@]host[:port] with nothing after the port")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTP{}, errors.New("has a port that is not 1 to 65535")
		}
		o.Port = n
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	return o, nil
}

// Production reports whether the service runs for real users.
func (c Config) Production() bool { return c.Env == "production" }

// Embedded reports whether the service runs its own embedded store.
func (c Config) Embedded() bool { return c.MongoURI == "" }

// Offline reports whether payments are simulated in-process instead of sent to Stripe.
func (c Config) Offline() bool { return c.StripeSecretKey == "" }

// Setting is one setting Load reads, with its default as it would be written in the environment.
type Setting struct {
	Name    string
	Default string
}

// Settings lists every setting Load reads, in the order it reads them, so that usage texts list
// exactly what the code reads.
func Settings() []Setting {
	r := reader{get: func(string) string { return "" }, record: &[]Setting{{Name: "BACKSTITCH_CONFIG_FILE"}}}
	r.load()
	return *r.record
}

// Load reads settings through getenv (os.Getenv in main, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	env, err := withFile(getenv)
	if err != nil {
		return Config{}, err
	}
	r := reader{get: env}
	return r.load()
}

func (r *reader) load() (Config, error) {
	c := Config{
		Env:                  r.str("BACKSTITCH_ENV", "development"),
		Addr:                 r.str("BACKSTITCH_ADDR", ":8080"),
		DataDir:              r.str("BACKSTITCH_DATA_DIR", "./data"),
		PublicURL:            r.str("BACKSTITCH_PUBLIC_URL", "http://localhost:8080"),
		LogLevel:             r.str("BACKSTITCH_LOG_LEVEL", "info"),
		MongoURI:             r.str("MONGODB_URI", ""),
		MongoDatabase:        r.str("MONGODB_DATABASE", "backstitch"),
		MongoMaxPool:         r.integer("MONGODB_MAX_POOL_SIZE", 100, 1, 10_000),
		StripeSecretKey:      r.str("STRIPE_SECRET_KEY", ""),
		StripePublishableKey: r.str("STRIPE_PUBLISHABLE_KEY", ""),
		StripeWebhookSecret:  r.str("STRIPE_WEBHOOK_SECRET", ""),
		StripeAPIURL:         r.str("STRIPE_API_URL", ""),
		MetricsAddr:          r.str("BACKSTITCH_METRICS_ADDR", ""),
		MetricsToken:         r.str("BACKSTITCH_METRICS_TOKEN", ""),
		MinCampaignDuration:  r.duration("BACKSTITCH_MIN_CAMPAIGN_DURATION", 24*time.Hour),
		MaxCampaignDuration:  r.duration("BACKSTITCH_MAX_CAMPAIGN_DURATION", 60*24*time.Hour),
		SessionTTL:           r.duration("BACKSTITCH_SESSION_TTL", 12*time.Hour),
		BodyLimit:            r.integer("BACKSTITCH_BODY_LIMIT", 256<<10, 1<<10, 16<<20),
		LoginPerAccount:      r.integer("BACKSTITCH_LOGIN_LIMIT_PER_ACCOUNT", 10, 1, 1_000_000),
		LoginPerAddress:      r.integer("BACKSTITCH_LOGIN_LIMIT_PER_ADDRESS", 50, 1, 1_000_000),
		LoginWindow:          r.duration("BACKSTITCH_LOGIN_WINDOW", 15*time.Minute),
		ProxyHeader:          r.str("BACKSTITCH_PROXY_HEADER", ""),
		ShutdownTimeout:      r.duration("BACKSTITCH_SHUTDOWN_TIMEOUT", 15*time.Second),
		RequestTimeout:       r.duration("BACKSTITCH_REQUEST_TIMEOUT", 15*time.Second),
		PublicCacheTTL:       r.duration("BACKSTITCH_PUBLIC_CACHE_TTL", 2*time.Second),
		IdempotencyTTL:       r.duration("BACKSTITCH_IDEMPOTENCY_TTL", 24*time.Hour),
		DefaultPageSize:      r.integer("BACKSTITCH_DEFAULT_PAGE_SIZE", 20, 1, 100),
		MaxPageSize:          r.integer("BACKSTITCH_MAX_PAGE_SIZE", 100, 1, 1000),
		StripeAPITimeout:     r.duration("BACKSTITCH_STRIPE_TIMEOUT", 20*time.Second),
		StripeWriteRate:      r.integer("BACKSTITCH_STRIPE_WRITE_RATE", 90, 0, 10_000),
		PledgeHold:           r.duration("BACKSTITCH_PLEDGE_HOLD", 30*time.Minute),
		PledgePerAddress:     r.integer("BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS", 30, 1, 10_000_000),
		PledgeWindow:         r.duration("BACKSTITCH_PLEDGE_WINDOW", 10*time.Minute),
		PledgeLimitFlush:     r.duration("BACKSTITCH_PLEDGE_LIMIT_FLUSH", 500*time.Millisecond),
		SettleInterval:       r.duration("BACKSTITCH_SETTLE_INTERVAL", 10*time.Second),
		SweepInterval:        r.duration("BACKSTITCH_SWEEP_INTERVAL", 15*time.Second),
		SettleLeaseTTL:       r.duration("BACKSTITCH_SETTLE_LEASE_TTL", 2*time.Minute),
		SettleConcurrency:    r.integer("BACKSTITCH_SETTLE_CONCURRENCY", 8, 1, 256),
		DunningRetries:       r.durations("BACKSTITCH_DUNNING_RETRIES", []time.Duration{24 * time.Hour, 72 * time.Hour, 144 * time.Hour}),
		DunningWindow:        r.duration("BACKSTITCH_DUNNING_WINDOW", 168*time.Hour),
		PlatformFeeBPS:       r.integer("BACKSTITCH_PLATFORM_FEE_BPS", 500, 0, 10000),
		CancelFeesBorneBy:    r.str("BACKSTITCH_CANCEL_FEES_BORNE_BY", "platform"),
		ReconcileStuckAfter:  r.duration("BACKSTITCH_RECONCILE_STUCK_AFTER", time.Hour),
		SMTPURL:              r.str("BACKSTITCH_SMTP_URL", ""),
		MailFrom:             r.str("BACKSTITCH_MAIL_FROM", ""),
		MailInterval:         r.duration("BACKSTITCH_MAIL_INTERVAL", 5*time.Second),
		SMTPTimeout:          r.duration("BACKSTITCH_SMTP_TIMEOUT", 20*time.Second),
	}
	r.checkMail(&c)
	r.check(c.Env == "development" || c.Env == "production" || c.Env == "test",
		"BACKSTITCH_ENV", "must be development, production or test")
	r.check(c.LogLevel == "debug" || c.LogLevel == "info" || c.LogLevel == "warn" || c.LogLevel == "error",
		"BACKSTITCH_LOG_LEVEL", "must be debug, info, warn or error")
	r.check(c.MinCampaignDuration > 0, "BACKSTITCH_MIN_CAMPAIGN_DURATION", "must be positive")
	r.check(c.MaxCampaignDuration > c.MinCampaignDuration, "BACKSTITCH_MAX_CAMPAIGN_DURATION", "must be longer than BACKSTITCH_MIN_CAMPAIGN_DURATION")
	for _, d := range c.DunningRetries {
		r.check(d < c.DunningWindow, "BACKSTITCH_DUNNING_RETRIES", "must all fall inside BACKSTITCH_DUNNING_WINDOW")
	}
	r.check(c.CancelFeesBorneBy == "platform" || c.CancelFeesBorneBy == "designer", "BACKSTITCH_CANCEL_FEES_BORNE_BY", "must be platform or designer")
	r.check(c.DefaultPageSize <= c.MaxPageSize, "BACKSTITCH_DEFAULT_PAGE_SIZE", "must not exceed BACKSTITCH_MAX_PAGE_SIZE")
	// Links are built by appending a path ("/payouts/done"), so a trailing slash would double it.
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	r.check(validPublicURL(c.PublicURL), "BACKSTITCH_PUBLIC_URL",
		fmt.Sprintf("%q must be an absolute http:// or https:// URL with a host and no query, fragment or credentials, such as https://backstitch.example", c.PublicURL))
	r.check(c.MongoURI == "" || strings.HasPrefix(c.MongoURI, "mongodb://") || strings.HasPrefix(c.MongoURI, "mongodb+srv://"),
		"MONGODB_URI", "must start with mongodb:// or mongodb+srv://")
	r.check(c.StripeAPIURL == "" || (c.StripeSecretKey != "" && (strings.HasPrefix(c.StripeAPIURL, "http://") || strings.HasPrefix(c.StripeAPIURL, "https://"))),
		"STRIPE_API_URL", "must be an http(s) URL, and is used only with STRIPE_SECRET_KEY")
	r.check(validAddr(c.Addr), "BACKSTITCH_ADDR", fmt.Sprintf("%q must be host:port or :port with a port from 0 to 65535, such as :8080 or 127.0.0.1:8080", c.Addr))
	r.checkStripe(c)
	r.check(c.MetricsToken == "" || len(c.MetricsToken) >= 16, "BACKSTITCH_METRICS_TOKEN", "must be at least 16 characters")
	r.check(c.MetricsAddr == "" || validAddr(c.MetricsAddr), "BACKSTITCH_METRICS_ADDR", fmt.Sprintf("%q must be host:port or :port, such as 127.0.0.1:9090", c.MetricsAddr))
	if c.Production() {
		r.check(c.MongoURI != "", "MONGODB_URI", "is required when BACKSTITCH_ENV=production (the embedded store is for development)")
		r.check(c.StripeSecretKey != "", "STRIPE_SECRET_KEY", "is required when BACKSTITCH_ENV=production (offline payments are simulated)")
		r.check(strings.HasPrefix(c.PublicURL, "https://"), "BACKSTITCH_PUBLIC_URL", "must be https:// when BACKSTITCH_ENV=production")
	}
	if len(r.problems) > 0 {
		return Config{}, errors.New("invalid configuration:\n  " + strings.Join(r.problems, "\n  "))
	}
	return c, nil
}

// checkMail reads the SMTP settings: production must send mail, and only through TLS.
func (r *reader) checkMail(c *Config) {
	if c.SMTPURL != "" {
		smtp, err := parseSMTP(c.SMTPURL)
		r.check(err == nil, "BACKSTITCH_SMTP_URL", fmt.Sprint(err))
		r.check(err != nil || smtp.TLS != "none" || !c.Production(), "BACKSTITCH_SMTP_URL",
			"is smtp+insecure:// (no TLS), refused when BACKSTITCH_ENV=production: use smtp:// (STARTTLS) or smtps://")
		c.SMTP = smtp
		r.check(c.MailFrom != "", "BACKSTITCH_MAIL_FROM", "is required with BACKSTITCH_SMTP_URL: the address messages come from, such as Backstitch <hello@backstitch.example>")
	}
	if c.MailFrom != "" {
		_, err := mail.ParseAddress(c.MailFrom)
		r.check(err == nil, "BACKSTITCH_MAIL_FROM", fmt.Sprintf("%q must be an email address, such as Backstitch <hello@backstitch.example>", c.MailFrom))
	}
	if c.Production() {
		r.check(c.SMTPURL != "", "BACKSTITCH_SMTP_URL", "is required when BACKSTITCH_ENV=production: backers and designers must hear what happened to their money and campaigns")
	}
}

// StripeLive reports whether the secret key moves real money.
func (c Config) StripeLive() bool { return stripeMode(c.StripeSecretKey) == "live" }

// StripeMode is "live" or "test" by the secret key, "" in offline mode.
func (c Config) StripeMode() string { return stripeMode(c.StripeSecretKey) }

// stripeMode is "live" or "test" for a Stripe key of either mode, "" for anything else.
func stripeMode(key string) string {
	for _, mode := range []string{"live", "test"} {
		for _, kind := range []string{"sk_", "rk_", "pk_"} {
			if strings.HasPrefix(key, kind+mode+"_") {
				return mode
			}
		}
	}
	return ""
}

// checkStripe refuses Stripe settings that cannot work together: each of these starts fine and
// fails later, at the first checkout or the first webhook, in front of a backer.
func (r *reader) checkStripe(c Config) {
	secret, publishable := stripeMode(c.StripeSecretKey), stripeMode(c.StripePublishableKey)
	r.check(c.StripeSecretKey == "" || (secret != "" && !strings.HasPrefix(c.StripeSecretKey, "pk_")),
		"STRIPE_SECRET_KEY", "must be a Stripe secret key (sk_test_…, sk_live_…) or restricted key (rk_test_…, rk_live_…)")
	r.check(c.StripePublishableKey == "" || (publishable != "" && strings.HasPrefix(c.StripePublishableKey, "pk_")),
		"STRIPE_PUBLISHABLE_KEY", "must be a Stripe publishable key (pk_test_… or pk_live_…)")
	r.check(c.StripePublishableKey == "" || c.StripeSecretKey != "",
		"STRIPE_PUBLISHABLE_KEY", "is set without STRIPE_SECRET_KEY: offline mode simulates payments and would ignore it")
	r.check(secret == "" || publishable == "" || secret == publishable, "STRIPE_PUBLISHABLE_KEY",
		fmt.Sprintf("is a %s-mode key but STRIPE_SECRET_KEY is a %s-mode key: Stripe.js and the server would use different accounts' data; take both from the same mode", publishable, secret))
	r.check(c.StripeSecretKey == "" || c.StripeWebhookSecret != "", "STRIPE_WEBHOOK_SECRET",
		"is required with STRIPE_SECRET_KEY: without it no Stripe webhook can be verified and payments never settle")
	r.check(c.StripeWebhookSecret == "" || strings.HasPrefix(c.StripeWebhookSecret, "whsec_"), "STRIPE_WEBHOOK_SECRET",
		"must be a webhook signing secret (whsec_…)")
	r.check(secret != "live" || c.Production(), "STRIPE_SECRET_KEY",
		"is a live-mode key but BACKSTITCH_ENV is not production: a development or test instance would charge real cards")
}

// validPublicURL reports whether u can be handed out as the service's address: in redirects, in
// Stripe's onboarding return URLs and as the OpenAPI document's server.
func validPublicURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" && p.Hostname() != "" &&
		p.User == nil && p.RawQuery == "" && !p.ForceQuery && p.Fragment == "" && p.Opaque == ""
}

// validAddr reports whether addr is what net.Listen("tcp", addr) takes: an optional host and a
// numeric port. Whether the port is free is known only by binding it, which serve does first.
func validAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// Redacted lists the settings for the start-up log, secrets masked.
func (c Config) Redacted() map[string]string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	uri := c.MongoURI
	if i := strings.Index(uri, "@"); i >= 0 {
		uri = uri[:strings.Index(uri, "://")+3] + "***" + uri[i:]
	}
	return map[string]string{
		"env": c.Env, "addr": c.Addr, "data_dir": c.DataDir, "public_url": c.PublicURL, "mongodb_uri": uri,
		"mongodb_database": c.MongoDatabase, "stripe_secret_key": mask(c.StripeSecretKey),
		"stripe_webhook_secret": mask(c.StripeWebhookSecret), "stripe_publishable_key": c.StripePublishableKey,
		"min_campaign_duration": c.MinCampaignDuration.String(), "max_campaign_duration": c.MaxCampaignDuration.String(),
		"metrics_addr": c.MetricsAddr, "metrics_token": mask(c.MetricsToken),
		"smtp": smtpRedacted(c.SMTP), "mail_from": c.MailFrom,
	}
}

// smtpRedacted names the mail server for the start-up log, without its password.
func smtpRedacted(s SMTP) string {
	if s.Host == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d (tls: %s)", s.Host, s.Port, s.TLS)
}

type reader struct {
	get      func(string) string
	problems []string
	// record, when set, collects each setting read and its default (for Settings).
	record *[]Setting
}

func (r *reader) read(key, def string) string {
	if r.record != nil {
		*r.record = append(*r.record, Setting{Name: key, Default: def})
	}
	return strings.TrimSpace(r.get(key))
}

func (r *reader) check(ok bool, key, msg string) {
	if !ok {
		r.problems = append(r.problems, key+" "+msg)
	}
}

func (r *reader) str(key, def string) string {
	if v := r.read(key, def); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	v := r.read(key, shortDuration(def))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q must be a positive Go duration such as 30s, 15m or 1440h", key, v))
		return def
	}
	return d
}

// shortDuration writes a default as people write it: 24h, not 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durations reads a comma-separated list of increasing Go durations.
func (r *reader) durations(key string, def []time.Duration) []time.Duration {
	defs := make([]string, len(def))
	for i, d := range def {
		defs[i] = shortDuration(d)
	}
	v := r.read(key, strings.Join(defs, ","))
	if v == "" {
		return def
	}
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 || (len(out) > 0 && d <= out[len(out)-1]) {
			r.problems = append(r.problems, fmt.Sprintf("%s=%q must be increasing positive Go durations separated by commas, such as 24h,72h,144h", key, v))
			return def
		}
		out = append(out, d)
	}
	return out
}

func (r *reader) integer(key string, def, lo, hi int) int {
	v := r.read(key, strconv.Itoa(def))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q must be a whole number from %d to %d", key, v, lo, hi))
		return def
	}
	return n
}

// withFile layers the KEY=value file named by BACKSTITCH_CONFIG_FILE under the environment.
func withFile(getenv func(string) string) (func(string) string, error) {
	path := getenv("BACKSTITCH_CONFIG_FILE")
	if path == "" {
		return getenv, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("BACKSTITCH_CONFIG_FILE: %w", err)
	}
	defer f.Close()
	file := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("BACKSTITCH_CONFIG_FILE %s line %d: want KEY=value", path, n)
		}
		file[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("BACKSTITCH_CONFIG_FILE %s: %w", path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}, nil
}
