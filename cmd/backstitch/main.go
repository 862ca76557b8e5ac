// Command backstitch runs the Backstitch crowdfunding service, and its admin tasks.
// "backstitch help" lists the commands; "backstitch COMMAND --help" lists a command's flags and
// the settings it reads.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // campaign time zones work on images without zoneinfo (scratch, distroless)

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3"); otherwise the build's VCS
// revision says which code this is.
var version = "dev"

// Exit statuses: 2 is the convention for a command line that could not be understood, so
// scripts can tell "you called me wrong" from "I failed".
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs one command line and returns the process's exit status. Usage goes to stdout when
// asked for and to stderr with status 2 when the command line is wrong. Logs are JSON lines on
// stdout; a command that fails also says why on stderr, for the person at the terminal.
func Main(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdin, stdout)
	usage, isUsage := errors.AsType[*usageError](err)
	switch {
	case err == nil:
		return exitOK
	case isUsage:
		fmt.Fprintf(stderr, "backstitch: %s\n\n%s", usage.problem, usage.text)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "backstitch:", err)
		return exitError
	}
}

// usageError is a command line that could not be understood, with the usage to show for it
// (run fills in the command's usage when a command leaves it empty).
type usageError struct{ problem, text string }

func (e *usageError) Error() string { return e.problem }

// command is one thing the binary does.
type command struct {
	name    string // as typed: "serve", "admin create"
	summary string
	// flags declares the command's flags on fs and returns the function that runs it once they
	// are parsed.
	flags func(fs *flag.FlagSet, env environment) func(ctx context.Context) error
	// settings are the environment variables the command reads; nil means all of them.
	settings []string
	// env describes settings the command reads besides the configuration.
	env []string
}

// environment is what a command may touch besides its flags.
type environment struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
}

// storeSettings are the settings a command that only opens the store reads.
var storeSettings = []string{"BACKSTITCH_CONFIG_FILE", "BACKSTITCH_ENV", "BACKSTITCH_DATA_DIR", "BACKSTITCH_LOG_LEVEL",
	"MONGODB_URI", "MONGODB_DATABASE", "MONGODB_MAX_POOL_SIZE"}

var commands = []command{
	{
		name:    "serve",
		summary: "run the HTTP server (the default when no command is given)",
		flags: func(fs *flag.FlagSet, env environment) func(context.Context) error {
			return func(ctx context.Context) error { return serve(ctx, env) }
		},
	},
	{
		name:    "admin create",
		summary: "create an admin account",
		flags: func(fs *flag.FlagSet, env environment) func(context.Context) error {
			email := fs.String("email", "", "the admin's email address (required)")
			name := fs.String("name", "", "the admin's name")
			return func(ctx context.Context) error { return createAdmin(ctx, env, *email, *name) }
		},
		settings: storeSettings,
		env:      []string{"BACKSTITCH_ADMIN_PASSWORD  the admin's password; without it, the first line of standard input"},
	},
	{
		name:    "repair",
		summary: "compare campaign totals and reward units with the pledges and report drift",
		flags: func(fs *flag.FlagSet, env environment) func(context.Context) error {
			fix := fs.Bool("fix", false, "write what the pledges say where a counter drifted")
			return func(ctx context.Context) error { return repair(ctx, env, *fix) }
		},
		settings: storeSettings,
	},
	{
		name:    "version",
		summary: "print the version and exit",
		flags: func(fs *flag.FlagSet, env environment) func(context.Context) error {
			return func(context.Context) error {
				fmt.Fprintln(env.stdout, versionLine())
				return nil
			}
		},
		settings: []string{},
	},
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	env := environment{getenv: getenv, stdin: stdin, stdout: stdout}
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if cmd, _ := findCommand(args[1:]); cmd != nil {
				fmt.Fprint(stdout, cmd.usage())
				return nil
			}
			return &usageError{problem: fmt.Sprintf("no command %q", strings.Join(args[1:], " ")), text: mainUsage()}
		}
		fmt.Fprint(stdout, mainUsage())
		return nil
	case "-version", "--version":
		args = []string{"version"}
	}
	cmd, rest := findCommand(args)
	if cmd == nil {
		return &usageError{problem: fmt.Sprintf("unknown command %q", strings.Join(args, " ")), text: mainUsage()}
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, with the usage, by Main
	runCmd := cmd.flags(fs, env)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, cmd.usage())
			return nil
		}
		return &usageError{problem: err.Error(), text: cmd.usage()}
	}
	if fs.NArg() > 0 {
		return &usageError{problem: fmt.Sprintf("%s takes no arguments, got %q", cmd.name, strings.Join(fs.Args(), " ")), text: cmd.usage()}
	}
	err := runCmd(ctx)
	if usage, ok := errors.AsType[*usageError](err); ok && usage.text == "" {
		usage.text = cmd.usage()
	}
	return err
}

// findCommand matches the longest command name at the start of args ("admin create" before
// "admin") and returns the arguments after it.
func findCommand(args []string) (*command, []string) {
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == commands[i].name {
			return &commands[i], args[len(words):]
		}
	}
	return nil, nil
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString("Usage: backstitch [COMMAND] [FLAGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-14s %s\n", c.name, c.summary)
	}
	b.WriteString("  help COMMAND   show a command's flags and the settings it reads\n\n" +
		"Settings are environment variables (or KEY=value lines in the file named by\n" +
		"BACKSTITCH_CONFIG_FILE); config/backstitch.example.env documents each one.\n" +
		"Exit status: 0 success, 1 failure, 2 a command line that could not be understood.\n")
	return b.String()
}

// usage lists the command's flags and every setting it reads, with its default.
func (c *command) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: backstitch %s", c.name)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs, environment{})
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		b.WriteString(" [FLAGS]")
	}
	fmt.Fprintf(&b, "\n\n%s.\n", strings.ToUpper(c.summary[:1])+c.summary[1:])
	if hasFlags {
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	settings := config.Settings()
	if c.settings != nil {
		settings = settings[:0:0]
		for _, s := range config.Settings() {
			for _, name := range c.settings {
				if s.Name == name {
					settings = append(settings, s)
				}
			}
		}
	}
	if len(settings) > 0 || len(c.env) > 0 {
		b.WriteString("\nSettings (environment variables; config/backstitch.example.env explains each):\n")
		for _, e := range c.env {
			fmt.Fprintf(&b, "  %s\n", e)
		}
		for _, s := range settings {
			fmt.Fprintf(&b, "  %s=%s\n", s.Name, s.Default)
		}
	}
	return b.String()
}

func versionLine() string {
	line := "backstitch " + version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return line
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if revision != "" {
		line += " (" + revision + modified + ")"
	}
	return line + " " + info.GoVersion
}

// start loads the configuration and the logger a command runs with. A configuration the
// command cannot run with is a JSON log line too, so log collectors see why an instance never
// came up.
func start(env environment) (config.Config, zerolog.Logger, error) {
	cfg, err := config.Load(env.getenv)
	if err != nil {
		log := newLogger(config.Config{LogLevel: "info"}, env.stdout)
		log.WithLevel(zerolog.FatalLevel).Err(err).Msg("start-up failed: invalid configuration")
		return cfg, log, err
	}
	return cfg, newLogger(cfg, env.stdout), nil
}

func newLogger(cfg config.Config, w io.Writer) zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", "backstitch").Logger()
}

func serve(ctx context.Context, env environment) error {
	started := time.Now()
	cfg, log, err := start(env)
	if err != nil {
		return err
	}
	fatal := func(err error) error {
		log.WithLevel(zerolog.FatalLevel).Err(err).Msg("start-up failed")
		return err
	}
	log.Info().Interface("config", cfg.Redacted()).Msg("starting")
	if err := app.CheckBuild(cfg); err != nil {
		return fatal(err)
	}
	// The address is taken before the store starts: a port in use fails in milliseconds, not
	// after the embedded store has opened its files or MongoDB has been dialled.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fatal(fmt.Errorf("listen on BACKSTITCH_ADDR %q: %w", cfg.Addr, err))
	}
	a, err := app.Open(ctx, cfg, log, app.Deps{})
	if err != nil {
		_ = ln.Close()
		return fatal(err)
	}
	log.Info().Float64("startup_ms", float64(time.Since(started).Microseconds())/1000).Msg("ready")
	err = a.Serve(ctx, ln)
	a.Close(context.WithoutCancel(ctx))
	if err != nil {
		log.Error().Err(err).Msg("stopped with an error")
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

func createAdmin(ctx context.Context, env environment, email, name string) error {
	if email == "" {
		return &usageError{problem: "admin create: --email is required"}
	}
	cfg, log, err := start(env)
	if err != nil {
		return err
	}
	password := env.getenv("BACKSTITCH_ADMIN_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("admin create: read password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		return errors.New("admin create: set BACKSTITCH_ADMIN_PASSWORD or pass the password on standard input")
	}
	u, err := account.NewUser(account.SignupFields{Email: email, Password: password, Name: name}, account.RoleAdmin, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	a, err := app.Open(ctx, cfg, log.Level(zerolog.WarnLevel), app.Deps{})
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	if err := a.Store().CreateUser(ctx, u); err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	fmt.Fprintf(env.stdout, "created admin %s (%s)\n", u.Email, u.ID)
	return nil
}

// repair compares every campaign's totals and its tiers' claimed units with its pledges and
// reports drift; with fix it also writes the truth. The sweeper heals counters left behind by a
// crash on its own (pledge.Service.Sweep), so drift here means something else went wrong: a unit
// claimed by a request that died before its pledge was stored, or a write made by hand.
func repair(ctx context.Context, env environment, fix bool) error {
	cfg, log, err := start(env)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, log.Level(zerolog.WarnLevel), app.Deps{})
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	ids, err := a.Store().CampaignIDs(ctx)
	if err != nil {
		return err
	}
	drifted, busy := 0, 0
	for _, id := range ids {
		d, err := a.Pledges().CheckCounters(ctx, id, fix)
		if err != nil {
			return fmt.Errorf("repair %s: %w", id, err)
		}
		switch {
		case d.Busy:
			busy++
			fmt.Fprintf(env.stdout, "%s: a pledge change is under way; not checked\n", id)
		case d.Any():
			drifted++
			state := "drifted"
			if d.Fixed {
				state = "fixed"
			} else if fix {
				state = "changed meanwhile; run again"
			}
			fmt.Fprintf(env.stdout, "%s (%s)\n", d, state)
		}
	}
	fmt.Fprintf(env.stdout, "checked %d campaigns: %d had drifted, %d busy\n", len(ids)-busy, drifted, busy)
	if drifted > 0 && !fix {
		fmt.Fprintln(env.stdout, "run `backstitch repair --fix` to write what the pledges say")
	}
	return nil
}
