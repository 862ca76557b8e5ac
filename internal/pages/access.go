package pages

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// A backer's right to manage a pledge travels in a cookie, never in an address: the manage token
// is set once (when the pledge form creates the pledge, or when a magic link is exchanged) in an
// HttpOnly cookie whose path is the pledge's own pages, so each pledge has its own cookie and no
// other page, script or site ever sees it.
const (
	manageCookie = "manage_token"
	// manageMaxAge outlives any campaign (deadline at most a year away) and its dunning window.
	manageMaxAge = 400 * 24 * time.Hour
)

func pledgePath(id string) string { return "/pledges/" + id }

// grantManage remembers the manage token of pledge id for this browser.
func (p *Pages) grantManage(c *fiber.Ctx, id, token string) {
	c.Cookie(&fiber.Cookie{Name: manageCookie, Value: token, Path: pledgePath(id),
		MaxAge: int(manageMaxAge.Seconds()), HTTPOnly: true, Secure: p.secureCookies,
		SameSite: fiber.CookieSameSiteLaxMode})
}

// manageToken is the token this browser holds for the pledge in the address, if any: the browser
// only sends the cookie on that pledge's pages.
func manageToken(c *fiber.Ctx) string { return c.Cookies(manageCookie) }
