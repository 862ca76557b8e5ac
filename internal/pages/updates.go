package pages

import (
	"context"
	"encoding/xml"
	"html/template"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/markdown"
)

// pageUpdates is how many public updates a campaign page and its feed show, newest first.
const pageUpdates = 20

// updateView is a public update as the campaign page shows it.
type updateView struct {
	ID, Title, Posted, PostedISO string
	Body                         template.HTML
}

// publicUpdates are the campaign's public updates for its page.
func (p *Pages) publicUpdates(ctx context.Context, loc locale.Locale, c campaign.Campaign) ([]updateView, error) {
	us, err := p.mail.Updates.Public(ctx, c.ID, pageUpdates)
	if err != nil {
		return nil, err
	}
	zone := p.zone(c.Timezone)
	out := make([]updateView, len(us))
	for i, u := range us {
		out[i] = updateView{ID: u.ID, Title: u.Title, Posted: loc.T("update.posted", loc.Date(u.CreatedAt, zone)),
			PostedISO: u.CreatedAt.UTC().Format(time.RFC3339), Body: markdown.Render(u.Body)}
	}
	return out, nil
}

func feedHref(slug string) string { return campaignHref(slug) + "/updates.atom" }

// The Atom document (RFC 4287). encoding/xml escapes every text, so a title or body with markup
// in it stays text; the entry's content is the update's HTML (as the page shows it) escaped
// once, as type="html" asks.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomAuthor  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Link      atomLink    `xml:"link"`
	Content   atomContent `xml:"content"`
}

// updatesFeed is a campaign's public updates as an Atom feed, every link absolute on
// BACKSTITCH_PUBLIC_URL. Ids are the updates' addresses on the campaign page: they never change.
func (p *Pages) updatesFeed(c *fiber.Ctx) error {
	ctx := c.UserContext()
	d, err := p.campaigns.Show(ctx, campaign.Actor{}, c.Params("slug"))
	if err != nil {
		return p.fail(p.newRequest(c), err)
	}
	camp := d.Campaign
	if c.Params("slug") != camp.Slug {
		return c.Redirect(feedHref(camp.Slug), fiber.StatusMovedPermanently)
	}
	us, err := p.mail.Updates.Public(ctx, camp.ID, pageUpdates)
	if err != nil {
		return p.fail(p.newRequest(c), err)
	}
	designer, err := p.accounts.PublicName(ctx, camp.DesignerID)
	if err != nil {
		return p.fail(p.newRequest(c), err)
	}
	page := p.publicURL + campaignHref(camp.Slug)
	// A feed without entries is as old as its campaign.
	updated := camp.CreatedAt
	if len(us) > 0 {
		updated = us[0].CreatedAt
	}
	f := atomFeed{ID: page + "#updates", Title: camp.Title, Updated: atomTime(updated), Author: atomAuthor{Name: designer},
		Links: []atomLink{{Rel: "self", Type: "application/atom+xml", Href: p.publicURL + feedHref(camp.Slug)},
			{Rel: "alternate", Type: "text/html", Href: page}}}
	for _, u := range us {
		href := page + "#" + u.ID
		f.Entries = append(f.Entries, atomEntry{ID: href, Title: u.Title, Published: atomTime(u.CreatedAt), Updated: atomTime(u.CreatedAt),
			Link: atomLink{Rel: "alternate", Type: "text/html", Href: href}, Content: atomContent{Type: "html", Body: string(markdown.Render(u.Body))}})
	}
	body, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return p.fail(p.newRequest(c), err)
	}
	c.Set(fiber.HeaderContentType, "application/atom+xml; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, p.cacheControl)
	return c.Send(append([]byte(xml.Header), body...))
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
