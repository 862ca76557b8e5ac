//go:build production

package app

// The production build (go build -tags production) has neither the embedded store nor the Stripe
// double: FerretDB, stripe-mock and the double stay out of the binary (tens of MB, and start-up
// time spent parsing Stripe's specification). It runs on MongoDB and Stripe, or not at all.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/stripepay"
)

type offlineParts struct{}

// checkBuild refuses, naming every missing setting at once, a configuration that would need the
// embedded store or the Stripe double.
func checkBuild(cfg config.Config) error {
	var missing []string
	if cfg.Embedded() {
		missing = append(missing, "MONGODB_URI")
	}
	if cfg.Offline() {
		missing = append(missing, "STRIPE_SECRET_KEY")
	}
	if cfg.StripeWebhookSecret == "" {
		missing = append(missing, "STRIPE_WEBHOOK_SECRET")
	}
	if len(missing) > 0 {
		return fmt.Errorf("this production build has no embedded store and no offline Stripe: set %s", strings.Join(missing, ", "))
	}
	return nil
}

// errNotInBuild is unreachable after checkBuild, and keeps the default build's call sites.
var errNotInBuild = errors.New("the production build has no embedded store and no offline Stripe: set MONGODB_URI and STRIPE_SECRET_KEY")

func (a *App) startEmbeddedStore(*mongostore.Options) error { return errNotInBuild }

func (a *App) indexEmbeddedStore(context.Context) error { return nil }

func (a *App) closeEmbeddedStore() {}

func (a *App) openOfflinePayments() (*stripepay.Client, error) { return nil, errNotInBuild }

func (a *App) sendOfflineWebhooksTo(net.Addr) {}

func (a *App) closeDouble() {}
