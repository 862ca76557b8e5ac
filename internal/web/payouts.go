package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// refreshLinkTTL is how long the refresh URL inside a Stripe onboarding link keeps making new
// links: long enough for a designer to come back the next day, short enough that a leaked URL
// (browser history) stops working.
const refreshLinkTTL = 24 * time.Hour

// payoutOnboarding starts or resumes a designer's Stripe Connect Express onboarding: the account
// is created once (idempotency key from the user), and each call gives a fresh one-time link.
func (s *Server) payoutOnboarding(c *fiber.Ctx) error {
	sess, _ := session(c)
	ctx := c.UserContext()
	u, err := s.connectAccount(ctx, sess.UserID)
	if err != nil {
		return err
	}
	link, err := s.onboardingLink(ctx, u.StripeAccountID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, fiber.Map{"url": link, "payouts_enabled": u.PayoutsEnabled})
}

// connectAccount is the designer with her connected account, made on her first onboarding.
func (s *Server) connectAccount(ctx context.Context, userID string) (account.User, error) {
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil || u.StripeAccountID != "" {
		return u, err
	}
	acct, err := s.payments.CreateExpressAccount(ctx, u.Email, u.ID, u.ID+"/connect_account")
	if err != nil {
		return u, err
	}
	return s.store.SetStripeAccount(ctx, u.ID, acct)
}

// StartOnboarding is the console's payouts button: the same account as the API's route, with a
// link whose return and refresh pages are the console's (her session cookie comes back with
// the browser, so those URLs need no signature).
func (s *Server) StartOnboarding(ctx context.Context, userID, returnURL, refreshURL string) (string, error) {
	u, err := s.connectAccount(ctx, userID)
	if err != nil {
		return "", err
	}
	return s.payments.CreateAccountLink(ctx, u.StripeAccountID, refreshURL, returnURL)
}

// PayoutStatus is where the designer's onboarding stands. With fresh, Stripe is asked (the
// page Stripe sends her back to must not wait for account.updated, which may come later) and
// the answer is recorded; otherwise the stored state is told, which account.updated keeps
// current.
func (s *Server) PayoutStatus(ctx context.Context, userID string, fresh bool) (account.Payouts, error) {
	u, err := s.store.FindUserByID(ctx, userID)
	if err != nil || u.StripeAccountID == "" || !fresh {
		return u.Payouts(), err
	}
	// Stamped before asking: an event Stripe makes while the answer travels is at least as new.
	asOf := s.now()
	p, err := s.payments.ConnectedAccount(ctx, u.StripeAccountID)
	if err != nil {
		return account.Payouts{}, err
	}
	p.AsOf = asOf
	if err := s.store.RecordPayouts(ctx, u.StripeAccountID, p); err != nil {
		return account.Payouts{}, err
	}
	return p, nil
}

// onboardingLink makes a one-time Stripe onboarding link whose refresh URL makes another.
func (s *Server) onboardingLink(ctx context.Context, accountID string) (string, error) {
	expires := strconv.FormatInt(s.now().Add(refreshLinkTTL).Unix(), 10)
	refresh := s.cfg.PublicURL + "/payouts/refresh?" + url.Values{"account": {accountID}, "expires": {expires},
		"sig": {s.refreshSignature(accountID, expires)}}.Encode()
	return s.payments.CreateAccountLink(ctx, accountID, refresh, s.cfg.PublicURL+"/payouts/done")
}

// refreshSignature proves that this service made a refresh URL: Stripe sends the designer's
// browser there without our session, so the URL itself must say whose onboarding to resume.
// The key is derived from the webhook secret, which every instance shares and nobody else has.
func (s *Server) refreshSignature(accountID, expires string) string {
	key := sha256.Sum256([]byte("backstitch payouts refresh link\x00" + s.cfg.StripeWebhookSecret))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(accountID + "\x00" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// payoutRefresh is where Stripe sends a designer whose onboarding link expired or was used
// already: a fresh link, at once (303), when the URL is ours and recent.
func (s *Server) payoutRefresh(c *fiber.Ctx) error {
	accountID, expires, sig := c.Query("account"), c.Query("expires"), c.Query("sig")
	at, err := strconv.ParseInt(expires, 10, 64)
	if s.cfg.StripeWebhookSecret == "" || err != nil || s.now().Unix() > at ||
		!hmac.Equal([]byte(sig), []byte(s.refreshSignature(accountID, expires))) {
		return backstitch.Errorf(backstitch.CodeForbidden, "This onboarding link is not valid any more. Ask Backstitch for a new one "+
			"(POST /api/v1/designers/me/payouts/onboarding).")
	}
	link, err := s.onboardingLink(c.UserContext(), accountID)
	if err != nil {
		return err
	}
	return c.Redirect(link, http.StatusSeeOther)
}

// payoutDone is where Stripe sends a designer back after onboarding. Whether payouts are enabled
// comes later, from Stripe's account.updated event, so the page says only what happens next.
func (s *Server) payoutDone(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.SendString(payoutDonePage)
}

const payoutDonePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payout details sent – Backstitch</title></head>
<body><main><h1>Thank you: Stripe has your payout details</h1>
<p>Stripe checks them now. Payouts start once Stripe has verified your account; your campaigns' settlement shows when.
You can close this page.</p></main></body></html>
`
