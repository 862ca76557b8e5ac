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
	u, err := s.store.FindUserByID(ctx, sess.UserID)
	if err != nil {
		return err
	}
	if u.StripeAccountID == "" {
		acct, err := s.payments.CreateExpressAccount(ctx, u.Email, u.ID, u.ID+"/connect_account")
		if err != nil {
			return err
		}
		if u, err = s.store.SetStripeAccount(ctx, u.ID, acct); err != nil {
			return err
		}
	}
	link, err := s.onboardingLink(ctx, u.StripeAccountID)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, fiber.Map{"url": link, "payouts_enabled": u.PayoutsEnabled})
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
