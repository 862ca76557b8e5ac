//go:build !production

// Command screenshots starts Backstitch offline on a throw-away embedded store, seeds the Geneva
// demonstration campaigns, a designer's console and an admin's, and photographs the backers'
// pages and both consoles with Chromium at phone (360 px, in
// French) and desktop (1280 px, in English) widths, into docs/screenshots/:
//
//	go run ./cmd/screenshots
//
// It needs Debian's chromium (apt-get install chromium) or BACKSTITCH_CHROMIUM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/proto"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/browser"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/seed"
)

// start is the demonstration's "now": fixed, so the pictures change only when the pages do.
var start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

type shot struct {
	file, path, languages string
	width, height         int
	mobile                bool
	// then, when set, acts on the page at path (fills in and sends a form) before the picture.
	then func(p *rod.Page) error
	// session, when set, is the designer's or admin's session cookie (the consoles' pages).
	session string
	// viewport, when set, takes only what the first screen shows (a long list's top).
	viewport bool
	// cookie names the cookie that carries session when it is not the consoles' (the dev
	// mailbox keeps the admin's token in a cookie of its own).
	cookie string
}

func main() {
	out := flag.String("out", "docs/screenshots", "folder the PNG files are written to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	bin, err := browser.Find()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "backstitch-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := config.Load(func(k string) string {
		// Sessions outlive the demonstration's week (see seed.Console); the seed's visits and
		// pledges come from one address.
		return map[string]string{"BACKSTITCH_DATA_DIR": dir, "BACKSTITCH_SETTLE_INTERVAL": "24h", "BACKSTITCH_SWEEP_INTERVAL": "24h",
			"BACKSTITCH_SESSION_TTL": "2000h", "BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"}[k]
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	// The clock runs from start, jumps a day at a time while the console's week is seeded, and
	// past the Geneva deadline for the last shots.
	var mu sync.Mutex
	var skipped time.Duration
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return start.Add(skipped + time.Since(began)) }
	later := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); skipped += d }
	a, err := app.Open(ctx, cfg, zerolog.Nop(), app.Deps{Now: now})
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	base := "http://" + ln.Addr().String()

	client := &seed.Client{Base: base, HTTP: &http.Client{Timeout: 30 * time.Second}}
	demo, err := seed.Geneva(ctx, client, a.Store(), now())
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	manage, err := client.PledgeLink(ctx, demo.Geneva, "The Pâquis linen coat", map[string]string{"Colour": "Lake blue", "Size": "S"},
		33200, "CHF", "Camille Rochat", true)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	designer, err := seed.Console(ctx, client, a.Store(), now(), later)
	if err != nil {
		return fmt.Errorf("seed the console: %w", err)
	}
	admin, err := seed.AdminConsole(ctx, client, a.Store(), stripeclient.New(a.StripeSecretKey(),
		stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(a.StripeURL())})), now())
	if err != nil {
		return fmt.Errorf("seed the admins' console: %w", err)
	}
	// The seed's visits reach the store now, not at the next periodic flush.
	if err := a.Visits().Flush(ctx); err != nil {
		return fmt.Errorf("seed the console: %w", err)
	}
	b, stop, err := browser.Launch(bin)
	if err != nil {
		return err
	}
	defer stop()
	campaign := "/campaigns/" + demo.Geneva.Slug
	coat := campaign + "/pledge?tier=" + demo.Geneva.Tiers["The Pâquis linen coat"]
	workshop := campaign + "/pledge?tier=" + demo.Geneva.Tiers["Zero-waste pattern-cutting workshop"]
	shots := []shot{
		{file: "home-phone.png", path: "/", languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "campaign-phone.png", path: campaign, languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "pledge-phone.png", path: coat, languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "checkout-phone.png", path: workshop, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, then: toCheckout},
		{file: "home-desktop.png", path: "/", languages: "en-CH,en", width: 1280, height: 800},
		{file: "campaign-desktop.png", path: campaign, languages: "en-CH,en", width: 1280, height: 800},
		{file: "pledge-desktop.png", path: coat, languages: "en-CH,en", width: 1280, height: 800},
		{file: "checkout-desktop.png", path: workshop, languages: "en-CH,en", width: 1280, height: 800, then: toCheckout},
		// The magic link sets the pledge's cookie and lands on the manage page.
		{file: "manage-phone.png", path: manage, languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "manage-desktop.png", path: manage, languages: "en-CH,en", width: 1280, height: 800},
		{file: "change-phone.png", path: strings.Split(manage, "/manage?")[0] + "/change", languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "console-login-phone.png", path: "/designer/login", languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "console-dashboard-phone.png", path: "/designer", languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: designer.Token},
		{file: "console-dashboard-desktop.png", path: "/designer", languages: "en-CH,en", width: 1280, height: 800, session: designer.Token},
		{file: "console-editor-phone.png", path: designer.Editor, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: designer.Token},
		{file: "console-editor-desktop.png", path: designer.Editor, languages: "en-CH,en", width: 1280, height: 800, session: designer.Token},
		{file: "console-live-phone.png", path: designer.LiveEditor, languages: "en-CH,en", width: 360, height: 780, mobile: true, session: designer.Token},
		{file: "console-tier-phone.png", path: designer.Tier, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: designer.Token},
		{file: "admin-review-desktop.png", path: admin.Review, languages: "en-CH,en", width: 1280, height: 800, session: admin.Token},
		{file: "admin-pledge-desktop.png", path: admin.Pledge, languages: "en-CH,en", width: 1280, height: 800, session: admin.Token},
		{file: "admin-refund-phone.png", path: admin.Pledge + "/refund", languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: admin.Token, then: checkRefund},
		{file: "admin-reconciliation-desktop.png", path: admin.Run, languages: "en-CH,en", width: 1280, height: 800, session: admin.Token},
		{file: "admin-reconciliation-phone.png", path: admin.Run, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: admin.Token},
		{file: "admin-finding-desktop.png", path: admin.Finding, languages: "en-CH,en", width: 1280, height: 800, session: admin.Token},
		{file: "admin-audit-desktop.png", path: "/admin/audit", languages: "en-CH,en", width: 1280, height: 800, session: admin.Token},
		{file: "admin-users-phone.png", path: "/admin/users", languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: admin.Token},
		{file: "admin-disable-phone.png", path: admin.Disable, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: admin.Token},
		{file: "console-insights-desktop.png", path: designer.Insights, languages: "en-CH,en", width: 1280, height: 800, session: designer.Token},
		{file: "console-insights-phone.png", path: designer.Insights, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: designer.Token},
		{file: "console-backers-desktop.png", path: designer.Backers, languages: "en-CH,en", width: 1280, height: 800, session: designer.Token},
		{file: "console-live-desktop.png", path: designer.LiveEditor, languages: "en-CH,en", width: 1280, height: 800, session: designer.Token},
		{file: "console-payouts-phone.png", path: "/designer/payouts", languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: designer.Token},
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := photograph(b, base, out, shots); err != nil {
		return err
	}
	// Last, as it ends the Geneva campaign: a backer whose deadline charge was declined, on her
	// pledge's page with its "pay with another card" panel.
	fix, err := failedCharge(ctx, a, client, demo.Geneva, later, now)
	if err != nil {
		return fmt.Errorf("a failed deadline charge: %w", err)
	}
	// The charge-failed e-mail that sends her there, as the dev mailbox shows it.
	failed, err := latestMessage(ctx, a, notify.ChargeFailed)
	if err != nil {
		return err
	}
	if err := photograph(b, base, out, []shot{
		{file: "manage-fix-phone.png", path: fix, languages: "fr-CH,fr", width: 360, height: 780, mobile: true},
		{file: "manage-fix-desktop.png", path: fix, languages: "en-CH,en", width: 1280, height: 800},
		{file: "mailbox-desktop.png", path: "/dev/mailbox", languages: "en-CH,en", width: 1280, height: 800, session: admin.Token, cookie: "dev_mailbox", viewport: true},
		{file: "mailbox-charge-failed-phone.png", path: "/dev/mailbox/" + failed, languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: admin.Token, cookie: "dev_mailbox"},
		// The Geneva campaign settling, a declined card in its window.
		{file: "admin-campaigns-phone.png", path: "/admin/campaigns?status=succeeded", languages: "fr-CH,fr", width: 360, height: 780, mobile: true, session: admin.Token},
	}); err != nil {
		return err
	}
	// Every live campaign past its deadline, not settled yet: each offers "settle now".
	later(14 * 24 * time.Hour)
	return photograph(b, base, out, []shot{
		{file: "admin-campaigns-desktop.png", path: "/admin/campaigns?status=live", languages: "en-CH,en", width: 1280, height: 800, session: admin.Token},
	})
}

// latestMessage is the id of the newest message of kind in the outbox.
func latestMessage(ctx context.Context, a *app.App, kind notify.Kind) (string, error) {
	msgs, err := a.Store().RecentMessages(ctx, 200)
	if err != nil {
		return "", err
	}
	for _, m := range msgs {
		if m.Kind == kind {
			return m.ID, nil
		}
	}
	return "", fmt.Errorf("no %s message in the outbox", kind)
}

// failedCharge pledges with a card that is declined at the deadline (and enough with a good one
// to meet the goal), moves the clock past the campaign's deadline and settles it; it answers the
// declined pledge's magic link.
func failedCharge(ctx context.Context, a *app.App, client *seed.Client, cam seed.Campaign, later func(time.Duration), now func() time.Time) (string, error) {
	if _, err := client.PledgeLink(ctx, cam, "", nil, 1_500_000, "CHF", "Patron Big", false); err != nil {
		return "", err
	}
	link, err := client.PledgeLinkWithCard(ctx, cam, "Zero-waste pattern-cutting workshop", nil, 9000, "CHF", "Camille Rochat", false, "pm_card_chargeCustomerFail")
	if err != nil {
		return "", err
	}
	c, err := a.Store().FindCampaign(ctx, cam.ID)
	if err != nil {
		return "", err
	}
	later(c.Deadline.Sub(now()) + time.Minute)
	if err := a.Settler().Tick(ctx); err != nil {
		return "", err
	}
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return link, a.Double().WaitWebhooks(wait)
}

// photograph takes each shot in its own tab.
func photograph(b *rod.Browser, base, out string, shots []shot) error {
	for _, s := range shots {
		p, err := b.Page(proto.TargetCreateTarget{URL: "about:blank"})
		if err != nil {
			return err
		}
		v, err := proto.BrowserGetVersion{}.Call(p)
		if err != nil {
			return err
		}
		if err := (proto.EmulationSetUserAgentOverride{UserAgent: v.UserAgent, AcceptLanguage: s.languages}).Call(p); err != nil {
			return err
		}
		if err := p.SetViewport(&proto.EmulationSetDeviceMetricsOverride{Width: s.width, Height: s.height, DeviceScaleFactor: 1, Mobile: s.mobile}); err != nil {
			return err
		}
		if s.session != "" {
			c := &proto.NetworkCookieParam{Name: "session", Value: s.session, URL: base}
			if s.cookie != "" {
				c.Name, c.Path = s.cookie, "/dev/mailbox"
			}
			if err := p.SetCookies([]*proto.NetworkCookieParam{c}); err != nil {
				return err
			}
		}
		if err := p.Navigate(base + s.path); err != nil {
			return err
		}
		if err := p.WaitLoad(); err != nil {
			return err
		}
		if s.then != nil {
			if err := s.then(p.Timeout(30 * time.Second)); err != nil {
				return fmt.Errorf("%s: %w", s.file, err)
			}
		}
		// Lazy pictures load only near the viewport, which a full-page shot never scrolls: load
		// them all, so the shot shows the page as a reader scrolling down sees it.
		if _, err := p.Eval(`async () => { const imgs = [...document.images]; imgs.forEach(i => i.loading = "eager"); await Promise.all(imgs.map(i => i.decode().catch(() => {}))); }`); err != nil {
			return err
		}
		png, err := p.Screenshot(!s.viewport, &proto.PageCaptureScreenshot{Format: proto.PageCaptureScreenshotFormatPng})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, s.file), png, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s  %s (%d px, %s)\n", filepath.Join(out, s.file), s.path, s.width, s.languages)
		_ = p.Close()
	}
	return nil
}

// toCheckout fills in the workshop's pledge form and sends it: the browser lands on the offline
// Stripe Checkout page.
func toCheckout(p *rod.Page) error {
	for sel, v := range map[string]string{"#name": "Ana Muster", "#email": "ana@example.com"} {
		el, err := p.Element(sel)
		if err != nil {
			return err
		}
		if err := el.Input(v); err != nil {
			return err
		}
	}
	submit, err := p.Element("form button[type=submit]")
	if err != nil {
		return err
	}
	wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	if err := submit.Click(proto.InputMouseButtonLeft, 1); err != nil {
		return err
	}
	wait()
	return nil
}

// checkRefund asks for a partial refund with its reason: the page shows what the backer gets
// back, to be confirmed.
func checkRefund(p *rod.Page) error {
	for sel, v := range map[string]string{"#amount": "15", "#reason": "Colis arrivé abîmé."} {
		el, err := p.Element(sel)
		if err != nil {
			return err
		}
		if err := el.Input(v); err != nil {
			return err
		}
	}
	send, err := p.Element(".refund-form button")
	if err != nil {
		return err
	}
	wait := p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	if err := send.Click(proto.InputMouseButtonLeft, 1); err != nil {
		return err
	}
	wait()
	return nil
}
