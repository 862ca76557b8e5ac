package pages

import (
	"context"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/imaging"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/markdown"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pubcache"
)

// progress is a campaign's funding figures, formatted for the visitor.
type progress struct {
	Bar      int64 // 0–100, for the bar
	Percent  string
	Pledged  string
	OfGoal   string
	Backers  string
	TimeLeft string
}

// card is one campaign in a list.
type card struct {
	Title, Href, Designer, Blurb string
	Progress                     progress
	Cover                        *picture
}

// picture is an image as a page shows it: one of its renditions, with the size it measures (so
// the page does not jump as it loads) and its alt text. Lazy ones load as they scroll into view.
type picture struct {
	Src, Alt string
	W, H     int
	Lazy     bool
}

// pictureOf shows img at the fixed width given (see imaging.Widths), or nothing without one.
func pictureOf(img *campaign.Image, width int, lazy bool) *picture {
	if img == nil {
		return nil
	}
	sz := img.Size(width)
	return &picture{Src: campaign.ImagePath(img.ID, sz.Width), Alt: img.Alt, W: sz.W, H: sz.H, Lazy: lazy}
}

type homeView struct {
	base
	EndingSoon []card
	Live       []card
	Succeeded  []card
}

// recentlySucceeded is how many successful campaigns the home page shows.
const recentlySucceeded = 3

func campaignHref(slug string) string { return "/campaigns/" + url.PathEscape(slug) }

func (p *Pages) progress(loc locale.Locale, c campaign.Campaign, now time.Time) progress {
	pledged := money.Money{Amount: c.Pledged, Currency: c.Goal.Currency}
	pct := int64(0)
	if c.Goal.Amount > 0 {
		pct = c.Pledged * 100 / c.Goal.Amount
	}
	pr := progress{
		Bar:     min(pct, 100),
		Percent: loc.T("campaign.funded_percent", pct),
		Pledged: loc.Money(pledged),
		OfGoal:  loc.T("campaign.of_goal", loc.Money(c.Goal)),
		Backers: loc.Plural("campaign.backers", c.BackersCount),
	}
	if c.Status == campaign.StatusLive {
		pr.TimeLeft = loc.TimeLeft(now, c.Deadline)
	}
	return pr
}

// home lists live campaigns, newest first, with the few closest to their deadline on top, and
// the latest that succeeded.
func (p *Pages) home(ctx context.Context, loc locale.Locale, _ string) (view, string, []string, error) {
	page, err := p.campaigns.List(ctx, campaign.Actor{}, campaign.ListQuery{Scope: campaign.ListPublic, Limit: homeLimit})
	if err != nil {
		return view{}, "", nil, err
	}
	succeeded, err := p.campaigns.List(ctx, campaign.Actor{}, campaign.ListQuery{Scope: campaign.ListPublic, Status: campaign.StatusSucceeded, Limit: recentlySucceeded})
	if err != nil {
		return view{}, "", nil, err
	}
	now := p.now()
	names := &designers{ctx: ctx, accounts: p.accounts, names: map[string]string{}}
	cards := 0
	toCard := func(c campaign.Campaign) (card, error) {
		name, err := names.name(c.DesignerID)
		if err != nil {
			return card{}, err
		}
		// The first card's picture is at the top of the page; the others below the fold load lazily.
		cards++
		return card{Title: c.Title, Href: campaignHref(c.Slug), Designer: loc.T("campaign.by", name), Blurb: c.Blurb,
			Progress: p.progress(loc, c, now), Cover: pictureOf(c.Cover, imaging.CardWidth, cards > 1)}, nil
	}
	var soon []campaign.Campaign
	for _, c := range page.Campaigns {
		if left := c.Deadline.Sub(now); left > 0 && left <= endingSoon {
			soon = append(soon, c)
		}
	}
	sortByDeadline(soon)
	soon = soon[:min(len(soon), endingSoonMax)]
	v := homeView{base: cachedBase(loc)}
	v.Title = loc.T("home.title")
	shown := map[string]bool{}
	for _, c := range soon {
		cd, err := toCard(c)
		if err != nil {
			return view{}, "", nil, err
		}
		v.EndingSoon, shown[c.ID] = append(v.EndingSoon, cd), true
	}
	for _, c := range page.Campaigns {
		if shown[c.ID] {
			continue
		}
		cd, err := toCard(c)
		if err != nil {
			return view{}, "", nil, err
		}
		v.Live = append(v.Live, cd)
	}
	for _, c := range succeeded.Campaigns {
		cd, err := toCard(c)
		if err != nil {
			return view{}, "", nil, err
		}
		v.Succeeded = append(v.Succeeded, cd)
	}
	return view{name: "home", data: v}, "", []string{pubcache.TagLists}, nil
}

// outcome is how a campaign that is no longer live ended.
type outcome struct {
	Kind  string
	Lines []string
}

type tierView struct {
	ID, Title, Price, Delivery, Remaining, BackHref string
	Description                                     [][]string
	SoldOut                                         bool
	// Options are the choices a backer makes ("Size: S, M, L"); Rates what shipping costs where.
	Options          []string
	Rates            []rate
	ShippingIncluded bool
	Image            *picture
}

// rate is what shipping costs to one zone.
type rate struct{ Zone, Price string }

type campaignView struct {
	base
	Designer, Blurb, Deadline, Funding string
	// DeadlineISO is the deadline as an RFC 3339 UTC instant, Zone the campaign's time zone: the
	// script shows the deadline in the visitor's zone when it differs, and counts down (Live).
	DeadlineISO, Zone string
	Live              bool
	Progress          progress
	Outcome           *outcome
	// Story is the designer's Markdown, rendered safe (see internal/markdown).
	Story      template.HTML
	Tiers      []tierView
	ShareLinks []shareLink
	// ShareURL is the page's canonical address, which the copy button copies.
	ShareURL string
	Cover    *picture
	// Updates are the designer's public updates, newest first; Feed their Atom feed.
	Updates []updateView
	Feed    string
	// About is what the designer tells backers about herself, nil when her profile is empty.
	About *aboutView
}

// aboutView is the "about the designer" box: her profile as she wrote it, shown as text.
type aboutView struct {
	Name, Location, Website, WebsiteText, Instagram, InstagramHref string
	Bio                                                            [][]string
}

// aboutOf shows d's profile; a designer who wrote none gets no box.
func aboutOf(d account.Designer) *aboutView {
	p := d.Profile
	if p == (account.Profile{}) {
		return nil
	}
	a := &aboutView{Name: d.Name, Location: p.Location, Website: p.Website, Bio: paragraphs(p.Bio)}
	if p.Website != "" {
		a.WebsiteText = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(p.Website, "https://"), "http://"), "/")
	}
	if p.Instagram != "" {
		// The handle is checked at save ([A-Za-z0-9._]): it cannot leave the path.
		a.Instagram, a.InstagramHref = "@"+p.Instagram, "https://www.instagram.com/"+p.Instagram+"/"
	}
	return a
}

// campaign is a campaign's page; succeeded, failed and cancelled campaigns keep theirs and say how
// they ended.
func (p *Pages) campaign(ctx context.Context, loc locale.Locale, slug string) (view, string, []string, error) {
	d, err := p.campaigns.Show(ctx, campaign.Actor{}, slug)
	if err != nil {
		return view{}, "", nil, err
	}
	c := d.Campaign
	if slug != c.Slug {
		// Found by id: the page has one address, its slug's.
		return view{}, "", nil, &movedError{href: campaignHref(c.Slug)}
	}
	designer, err := p.accounts.PublicDesigner(ctx, c.DesignerID)
	if err != nil {
		return view{}, "", nil, err
	}
	now, zone := p.now(), p.zone(c.Timezone)
	v := campaignView{base: cachedBase(loc), Designer: loc.T("campaign.by", designer.Name), Blurb: c.Blurb, About: aboutOf(designer),
		Progress: p.progress(loc, c, now), Story: markdown.Render(c.Story),
		DeadlineISO: c.Deadline.UTC().Format(time.RFC3339), Zone: c.Timezone, Live: c.Status == campaign.StatusLive}
	v.Cover = pictureOf(c.Cover, imaging.PageWidth, false)
	v.Title = c.Title
	v.ShareURL = p.publicURL + campaignHref(c.Slug)
	v.Share = &shareMeta{Title: c.Title, Description: c.Blurb, URL: v.ShareURL, Image: v.ShareURL + "/share.png"}
	v.ShareLinks = shareLinks(loc, c.Title, v.ShareURL)
	deadline := loc.DateTime(c.Deadline, zone)
	if c.Status == campaign.StatusLive {
		v.Deadline = loc.T("campaign.ends", deadline)
	} else {
		v.Deadline = loc.T("campaign.ended", deadline)
	}
	if c.FundingModel == campaign.AllOrNothing {
		v.Funding = loc.T("funding.all_or_nothing", loc.Date(c.Deadline, zone))
	} else {
		v.Funding = loc.T("funding.flexible")
	}
	v.Outcome = p.outcome(loc, c, zone)
	for _, t := range d.Tiers {
		v.Tiers = append(v.Tiers, p.tier(loc, c, t))
	}
	// Posting a public update drops this page's cached copies (update.Service tells the cache).
	if v.Updates, err = p.publicUpdates(ctx, loc, c); err != nil {
		return view{}, "", nil, err
	}
	v.Feed = feedHref(c.Slug)
	return view{name: "campaign", data: v}, c.ID, []string{c.ID}, nil
}

// shareLink is one "share on …" link: a plain address of the network's own share page, no script
// of theirs on ours.
type shareLink struct{ Name, Href string }

// shareLinks are the page's share links, each carrying ?ref= so visits and pledges they bring are
// counted under that network.
func shareLinks(loc locale.Locale, title, pageURL string) []shareLink {
	with := func(ref string) string { return pageURL + "?" + url.Values{"ref": {ref}}.Encode() }
	q := url.QueryEscape
	return []shareLink{
		{loc.T("share.email"), "mailto:?subject=" + url.PathEscape(title) + "&body=" + url.PathEscape(with("email"))},
		{"WhatsApp", "https://wa.me/?text=" + q(title+" "+with("whatsapp"))},
		{"Facebook", "https://www.facebook.com/sharer/sharer.php?u=" + q(with("facebook"))},
		{"X", "https://x.com/intent/post?text=" + q(title) + "&url=" + q(with("x"))},
		{"LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?url=" + q(with("linkedin"))},
	}
}

func (p *Pages) outcome(loc locale.Locale, c campaign.Campaign, zone *time.Location) *outcome {
	switch c.Status {
	case campaign.StatusSucceeded:
		pledged := c.Pledged
		if c.Settlement != nil {
			pledged = c.Settlement.PledgedAtDeadline
		}
		return &outcome{Kind: "succeeded", Lines: []string{loc.T("outcome.succeeded",
			loc.Money(money.Money{Amount: pledged, Currency: c.Goal.Currency}), loc.Money(c.Goal))}}
	case campaign.StatusFailed:
		return &outcome{Kind: "failed", Lines: []string{loc.T("outcome.failed")}}
	case campaign.StatusCancelled:
		o := &outcome{Kind: "cancelled"}
		if cc := c.Cancellation; cc != nil {
			o.Lines = append(o.Lines, loc.T("outcome.cancelled", loc.Date(cc.At, zone)))
			if cc.Reason != "" {
				o.Lines = append(o.Lines, loc.T("outcome.cancelled_reason", cc.Reason))
			}
		} else {
			o.Lines = append(o.Lines, loc.T("outcome.cancelled", loc.Date(c.UpdatedAt, zone)))
		}
		o.Lines = append(o.Lines, loc.T("outcome.cancelled_refunds"))
		return o
	}
	return nil
}

func (p *Pages) tier(loc locale.Locale, c campaign.Campaign, t campaign.Tier) tierView {
	v := tierView{ID: t.ID, Title: t.Title, Price: loc.Money(t.Price), Description: paragraphs(t.Description),
		Image: pictureOf(t.Image, imaging.CardWidth, true)}
	switch {
	case t.Kind == campaign.KindExperience:
		v.Delivery = loc.T("tier.experience")
	case t.Kind == campaign.KindDigital:
		v.Delivery = loc.T("tier.digital")
	case !t.Ships:
		v.Delivery = loc.T("tier.pickup")
	case t.EstimatedDelivery != "":
		v.Delivery = loc.T("tier.ships", loc.Month(t.EstimatedDelivery))
	default:
		v.Delivery = loc.T("tier.ships_undated")
	}
	for _, o := range t.Options {
		v.Options = append(v.Options, loc.T("tier.option", o.Name, strings.Join(o.Values, ", ")))
	}
	if t.Ships {
		for _, r := range t.ShippingRates {
			v.Rates = append(v.Rates, rate{Zone: loc.Zone(r.Zone), Price: loc.Money(r.Price)})
		}
		v.ShippingIncluded = len(v.Rates) == 0
	}
	if t.Remaining != nil {
		v.SoldOut = *t.Remaining <= 0
		v.Remaining = loc.Plural("tier.left", *t.Remaining) + " " + loc.T("tier.of", *t.Limit)
	}
	if c.Status == campaign.StatusLive && !v.SoldOut {
		v.BackHref = campaignHref(c.Slug) + "/pledge?" + url.Values{"tier": {t.ID}}.Encode()
	}
	return v
}

// paragraphs splits user-written text into paragraphs at blank lines, each a list of its lines;
// the template escapes every line and joins them with <br>, so no markup a designer types is
// ever HTML.
func paragraphs(text string) [][]string {
	var out [][]string
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(para), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if lines != nil {
			out = append(out, lines)
		}
	}
	return out
}
