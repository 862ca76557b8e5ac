package pages

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/pledge"
)

// The pledge form reads the source from the cookie, which a client can forge: it is cleaned and
// bounded again on the way in.
func TestAttributionCleansAForgedCookie(t *testing.T) {
	var got pledge.Source
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error { got = (&Pages{}).attribution(c); return nil })
	for cookie, want := range map[string]pledge.Source{
		"ref=insta&utm_source=IG":                     {Ref: "insta", UTMSource: "ig"},
		"ref=%3Cscript%3E%E2%80%AEx&utm_medium=a%20b": {Ref: "scriptx", UTMMedium: "ab"},
		"ref=%ZZ": {},
		"utm_campaign=" + strings.Repeat("y", 200): {UTMCampaign: strings.Repeat("y", pledge.MaxSourceField)},
		"": {},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", "src="+cookie)
		if _, err := app.Test(req); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("cookie %q: %+v, want %+v", cookie, got, want)
		}
	}
}
