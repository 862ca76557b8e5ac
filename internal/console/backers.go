package console

import (
	"net/url"
	"strings"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
)

// backersPage is how many backers one page of the table shows.
const backersPage = 50

// backerRow is one pledge as the table shows it.
type backerRow struct {
	Name, Email, Tier, Amount, Status, StatusKind, Source, Note string
	// Address is the shipping address, line by line, when the reward ships.
	Address []string
}

type backersView struct {
	base
	CampaignTitle, Back, CSV string
	Pager                    pager
	// Fulfilment is the page where rewards are marked sent, once the campaign has launched.
	Fulfilment string
	Count      string
	Rows       []backerRow
}

// backers lists the campaign's backers, a page at a time in a stable order (pledge id); only
// its designer sees it (the same check as the API's exports).
func (k *Console) backers(r *request) (view, error) {
	ctx := r.c.UserContext()
	c, err := k.campaigns.FindForOwnerOrAdmin(ctx, r.actor(), r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	// The position is a pledge id of this campaign's; whatever else is sent only moves the
	// start within the designer's own campaign, since the query is bound to it.
	after := r.c.Query("after")
	if len(after) > 64 {
		after = ""
	}
	d, err := k.campaigns.Show(ctx, r.actor(), c.ID)
	if err != nil {
		return view{}, err
	}
	tiers := map[string]campaign.Tier{}
	for _, t := range d.Tiers {
		tiers[t.ID] = t
	}
	list, err := k.reports.FindPledgesByStatus(ctx, c.ID, pledge.BackerStatuses, after, backersPage+1)
	if err != nil {
		return view{}, err
	}
	href := editorHref(c.ID) + "/backers"
	v := backersView{base: r.base, CampaignTitle: c.Title, Back: editorHref(c.ID), CSV: href + ".csv",
		Count: r.loc.Plural("campaign.backers", c.BackersCount)}
	v.Title = r.loc.T("console.backers.title", c.Title)
	if c.LaunchedAt != nil {
		v.Fulfilment = editorHref(c.ID) + "/fulfilment"
	}
	var first, next string
	if after != "" {
		first = href
	}
	if len(list) > backersPage {
		list = list[:backersPage]
		next = href + "?" + url.Values{"after": {list[len(list)-1].ID}}.Encode()
	}
	v.Pager = newPager(r.loc, backersPager, first, next)
	for _, p := range list {
		v.Rows = append(v.Rows, backerRowOf(r, p, tiers))
	}
	return view{name: "designer_backers", data: v}, nil
}

func backerRowOf(r *request, p pledge.Pledge, tiers map[string]campaign.Tier) backerRow {
	row := backerRow{Name: p.Backer.Name, Email: p.Backer.Email, Amount: r.loc.Money(p.Amount), Note: p.Note,
		Status: r.loc.T("pledge.status." + string(p.Status)), StatusKind: string(p.Status), Source: sourceText(p.Source)}
	row.Tier = r.loc.T("email.no_reward")
	if t, ok := tiers[p.TierID]; ok {
		row.Tier = t.Title
		if a := p.ShippingAddress; t.Ships && a != nil {
			for _, line := range []string{a.Name, a.Line1, a.Line2, strings.TrimSpace(a.PostalCode + " " + a.City), a.Region, a.Country} {
				if line != "" {
					row.Address = append(row.Address, line)
				}
			}
		}
	}
	return row
}

// sourceText is where a pledge came from as a designer wrote it in her link: its ref, or its
// UTM source, medium and campaign ("instagram / story / launch").
func sourceText(s pledge.Source) string {
	if s.Ref != "" {
		return s.Ref
	}
	var parts []string
	for _, p := range []string{s.UTMSource, s.UTMMedium, s.UTMCampaign} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " / ")
}
