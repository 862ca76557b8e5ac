// Command backstitch runs the Backstitch crowdfunding service, and its admin tasks.
//
//	backstitch                                  run the HTTP server (same as "backstitch serve")
//	backstitch admin create --email E [--name N]  create an admin; the password comes from
//	                                            BACKSTITCH_ADMIN_PASSWORD or the first line of stdin
//	backstitch repair                           recompute campaign totals and reward units from
//	                                            the pledges, fix and report any drift
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
		return repair(ctx, cfg, log, stdout)
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

// repair recomputes every campaign's totals and its tiers' claimed units from the pledges. A
// crash between a pledge's state change and the counter update it implies leaves a counter off by
// one; this finds and fixes it. Run it while no pledges are being made.
func repair(ctx context.Context, cfg config.Config, log zerolog.Logger, stdout io.Writer) error {
	a, err := app.Open(ctx, cfg, log.Level(zerolog.WarnLevel), app.Deps{})
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	ids, err := a.Store().CampaignIDs(ctx)
	if err != nil {
		return err
	}
	drifted := 0
	for _, id := range ids {
		d, err := a.Store().RepairCampaign(ctx, id)
		if err != nil {
			return fmt.Errorf("repair %s: %w", id, err)
		}
		if d.Any() {
			drifted++
			fmt.Fprintf(stdout, "%s: pledged %d -> %d, backers %d -> %d, tiers fixed %v\n",
				id, d.PledgedWas, d.PledgedIs, d.BackersWas, d.BackersIs, d.TiersFixed)
		}
	}
	fmt.Fprintf(stdout, "checked %d campaigns, %d had drifted and were fixed\n", len(ids), drifted)
	return nil
}
