package seed

import (
	"context"
	"image/color"
	"time"
)

// ConsoleDemo is a designer's console as Console made it: her session token (the console's
// cookie) and the console's addresses worth looking at.
type ConsoleDemo struct {
	Token string
	// Editor is a draft the reviewer sent back with a reason; LiveEditor a live campaign; Tier a
	// reward of the draft.
	Editor, LiveEditor, Tier string
	// Insights and Backers are the live campaign's.
	Insights, Backers string
}

// Console seeds a designer with a live campaign and a draft that an admin rejected, for the
// console's screenshots. The live campaign has a cover and a week of backers who came from an
// Instagram post, a newsletter or nowhere in particular: later moves the service's clock on by
// a day between them, so its insights have a week to draw.
func Console(ctx context.Context, c *Client, store UserStore, now time.Time, later func(time.Duration)) (ConsoleDemo, error) {
	admin, err := c.Admin(ctx, store, now)
	if err != nil {
		return ConsoleDemo{}, err
	}
	owner, err := c.Designer(ctx, "Ana Muster")
	if err != nil {
		return ConsoleDemo{}, err
	}
	deadline := now.AddDate(0, 0, 30).Format(time.DateOnly)
	live, err := c.Launch(ctx, owner, admin, map[string]any{
		"title": "Carouge wool capes", "blurb": "Capes felted from Jura wool.", "story": "Felted by hand in **Carouge**.",
		"goal": chf(800000), "timezone": "Europe/Zurich", "deadline": deadline,
	}, []map[string]any{
		{"title": "A wool cape", "kind": "physical", "ships": true, "price": chf(42000), "limit": 25, "estimated_delivery": now.AddDate(0, 4, 0).Format("2006-01")},
		{"title": "Felting afternoon", "kind": "experience", "price": chf(9500), "limit": 10},
	})
	if err != nil {
		return ConsoleDemo{}, err
	}
	if err := c.Upload(ctx, owner, "/api/v1/campaigns/"+live.ID+"/cover", woven(1600, 1000, color.NRGBA{0x6b, 0x4f, 0x3a, 255}, color.NRGBA{0xc9, 0xb8, 0x9a, 255}),
		"Brown and cream Jura wool felted into a cape's cloth"); err != nil {
		return ConsoleDemo{}, err
	}
	// A week of backers: each day's visits (through the public page, as browsers count them)
	// and pledges, by where they came from.
	days := []struct {
		visits map[string]int
		backs  []struct{ tier, name, ref string }
	}{
		{map[string]int{"instagram-launch": 60, "": 12}, []struct{ tier, name, ref string }{{"A wool cape", "Léa Favre", "instagram-launch"}, {"Felting afternoon", "Marc Dupont", "instagram-launch"}, {"A wool cape", "Zoé Bernard", ""}}},
		{map[string]int{"instagram-launch": 25, "": 6}, []struct{ tier, name, ref string }{{"Felting afternoon", "Sami Keller", "instagram-launch"}}},
		{map[string]int{"": 4}, nil},
		{map[string]int{"newsletter-nov": 40, "": 5}, []struct{ tier, name, ref string }{{"A wool cape", "Nina Rossi", "newsletter-nov"}, {"A wool cape", "Jonas Weber", "newsletter-nov"}, {"Felting afternoon", "Chloé Martin", "newsletter-nov"}}},
		{map[string]int{"newsletter-nov": 10, "instagram-story": 30}, []struct{ tier, name, ref string }{{"A wool cape", "Élodie Roux", "instagram-story"}}},
		{map[string]int{"": 8}, []struct{ tier, name, ref string }{{"A wool cape", "Paul Meier", ""}}},
	}
	for i, d := range days {
		if i > 0 {
			later(24 * time.Hour)
		}
		for ref, n := range d.visits {
			path := "/campaigns/" + live.Slug
			if ref != "" {
				path += "?ref=" + ref
			}
			for range n {
				if err := c.Visit(ctx, path); err != nil {
					return ConsoleDemo{}, err
				}
			}
		}
		for _, b := range d.backs {
			price := map[string]int64{"A wool cape": 42000, "Felting afternoon": 9500}[b.tier]
			if err := c.PledgeFrom(ctx, live, b.tier, price, "CHF", b.name, b.tier == "A wool cape", b.ref); err != nil {
				return ConsoleDemo{}, err
			}
		}
	}
	draft, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns", owner, map[string]any{
		"title": "Rhône silk scarves", "blurb": "Scarves printed with the river's colours.",
		"story": "## Why silk\n\nEach scarf is printed in **Geneva** from the Rhône's colours, season by season.\n\n- 90 × 90 cm\n- hand-rolled hems\n\nSee [the studio](https://example.com/studio).",
		"goal":  chf(1200000), "funding_model": "all_or_nothing", "timezone": "Europe/Zurich", "deadline": deadline,
	})
	if err != nil {
		return ConsoleDemo{}, err
	}
	id := draft["id"].(string)
	var tier string
	for _, t := range []map[string]any{
		{"title": "A silk scarf", "kind": "physical", "price": chf(18000), "limit": 60},
		{"title": "Printing workshop", "kind": "experience", "price": chf(12000), "limit": 8, "description": "An afternoon at the print table."},
	} {
		made, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, t)
		if err != nil {
			return ConsoleDemo{}, err
		}
		if tier == "" {
			tier = made["id"].(string)
		}
	}
	if _, err := c.Call(ctx, 200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil); err != nil {
		return ConsoleDemo{}, err
	}
	if _, err := c.Call(ctx, 200, "POST", "/api/v1/admin/campaigns/"+id+"/reject", admin, map[string]any{"reason": "Please add the scarves' care instructions to the story."}); err != nil {
		return ConsoleDemo{}, err
	}
	return ConsoleDemo{Token: owner, Editor: "/designer/campaigns/" + id, LiveEditor: "/designer/campaigns/" + live.ID,
		Tier: "/designer/campaigns/" + id + "/tiers/" + tier, Insights: "/designer/campaigns/" + live.ID + "/insights",
		Backers: "/designer/campaigns/" + live.ID + "/backers"}, nil
}
