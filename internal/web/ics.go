package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/pledge"
)

// sessionCalendar answers the session a pledge booked as an iCalendar file (RFC 5545), for the
// holder of its manage token. An online session's link is in it only once the campaign's deadline
// has passed: until then the pledge may still be cancelled, and the link is for backers.
func (s *Server) sessionCalendar(c *fiber.Ctx) error {
	b, err := s.pledges.Booking(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/calendar; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="backstitch-session.ics"`)
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.Status(http.StatusOK).SendString(calendar(b, s.now()))
}

func calendar(b pledge.Booking, now time.Time) string {
	const stamp = "20060102T150405Z"
	se := b.Session
	location := se.Place
	description := b.Campaign.Title
	if se.Online {
		location = "Online"
		if !now.Before(b.Campaign.Deadline) && se.Link != "" {
			location = se.Link
			description += "\n" + se.Link
		}
	}
	status := "CONFIRMED"
	if se.Cancelled {
		status = "CANCELLED"
	}
	lines := []string{
		"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Backstitch//Sessions//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
		"BEGIN:VEVENT",
		"UID:" + b.Pledge.ID + "." + se.ID + "@backstitch",
		"DTSTAMP:" + now.UTC().Format(stamp),
		"DTSTART:" + se.StartsAt.UTC().Format(stamp),
		"DTEND:" + se.EndsAt.UTC().Format(stamp),
		"SUMMARY:" + icsText(b.Tier.Title),
		"LOCATION:" + icsText(location),
		"DESCRIPTION:" + icsText(description),
		"STATUS:" + status,
		"END:VEVENT", "END:VCALENDAR",
	}
	var out strings.Builder
	for _, l := range lines {
		out.WriteString(fold(l))
	}
	return out.String()
}

// icsText escapes a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and line breaks.
func icsText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// fold ends a content line with CRLF, folding it into lines of at most 75 octets, never inside a
// UTF-8 character (RFC 5545 §3.1).
func fold(line string) string {
	var out strings.Builder
	width := 75
	for len(line) > width {
		cut := width
		for cut > 0 && line[cut]&0xC0 == 0x80 {
			cut--
		}
		fmt.Fprintf(&out, "%s\r\n ", line[:cut])
		line = line[cut:]
		width = 74 // continuation lines start with a space
	}
	out.WriteString(line + "\r\n")
	return out.String()
}
