// Command backstitch runs the Backstitch crowdfunding service, and its admin tasks.
//
//	backstitch                                  run the HTTP server (same as "backstitch serve")
//	backstitch admin create --email E [--name N]  create an admin; the password comes from
//	                                            BACKSTITCH_ADMIN_PASSWORD or the first line of stdin
//	backstitch repair [--fix]                   compare campaign totals and reward units with the
//	                                            pledges and report drift; --fix writes the truth
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
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // campaign time zones work on images without zoneinfo (scratch, distroless)

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "backstitch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	switch {
	case len(args) == 0 || args[0] == "serve":
		return serve(ctx, cfg, log)
	case len(args) >= 2 && args[0] == "admin" && args[1] == "create":
		return createAdmin(ctx, cfg, log, args[2:], getenv, stdin, stdout)
	case len(args) == 1 && args[0] == "repair":
		return repair(ctx, cfg, log, stdout, false)
	case len(args) == 2 && args[0] == "repair" && args[1] == "--fix":
		return repair(ctx, cfg, log, stdout, true)
	default:
		return fmt.Errorf("unknown command %q; usage: backstitch [serve] | backstitch admin create --email E | backstitch repair", strings.Join(args, " "))
	}
}

func newLogger(cfg config.Config, w io.Writer) zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", "backstitch").Logger()
}

func serve(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	start := time.Now()
	log.Info().Interface("config", cfg.Redacted()).Msg("starting")
	a, err := app.Open(ctx, cfg, log, app.Deps{})
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on BACKSTITCH_ADDR %q: %w", cfg.Addr, err)
	}
	log.Info().Dur("startup", time.Since(start)).Msg("ready")
	return a.Serve(ctx, ln)
}

func createAdmin(ctx context.Context, cfg config.Config, log zerolog.Logger, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(stdout)
	email := fs.String("email", "", "the admin's email address (required)")
	name := fs.String("name", "", "the admin's name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("admin create: --email is required")
	}
	password := getenv("BACKSTITCH_ADMIN_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("admin create: read password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		return errors.New("admin create: set BACKSTITCH_ADMIN_PASSWORD or pass the password on standard input")
	}
	u, err := account.NewUser(account.SignupFields{Email: *email, Password: password, Name: *name}, account.RoleAdmin, time.Now().UTC())
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
	fmt.Fprintf(stdout, "created admin %s (%s)\n", u.Email, u.ID)
	return nil
}

// repair compares every campaign's totals and its tiers' claimed units with its pledges and
// reports drift; with fix it also writes the truth. The sweeper heals counters left behind by a
// crash on its own (pledge.Service.Sweep), so drift here means something else went wrong: a unit
// claimed by a request that died before its pledge was stored, or a write made by hand.
func repair(ctx context.Context, cfg config.Config, log zerolog.Logger, stdout io.Writer, fix bool) error {
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
			fmt.Fprintf(stdout, "%s: a pledge change is under way; not checked\n", id)
		case d.Any():
			drifted++
			state := "drifted"
			if d.Fixed {
				state = "fixed"
			} else if fix {
				state = "changed meanwhile; run again"
			}
			fmt.Fprintf(stdout, "%s (%s)\n", d, state)
		}
	}
	fmt.Fprintf(stdout, "checked %d campaigns: %d had drifted, %d busy\n", len(ids)-busy, drifted, busy)
	if drifted > 0 && !fix {
		fmt.Fprintln(stdout, "run `backstitch repair --fix` to write what the pledges say")
	}
	return nil
}
