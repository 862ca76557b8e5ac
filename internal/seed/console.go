package seed

import (
	"context"
	"time"
)

// ConsoleDemo is a designer's console as Console made it: her session token (the console's
// cookie) and the console's addresses worth looking at.
type ConsoleDemo struct {
	Token string
	// Editor is a draft the reviewer sent back with a reason; LiveEditor a live campaign; Tier a
	// reward of the draft.
	Editor, LiveEditor, Tier string
}

// Console seeds a designer with a live campaign and a draft that an admin rejected, for the
// console's screenshots.
func Console(ctx context.Context, c *Client, store UserStore, now time.Time) (ConsoleDemo, error) {
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
	}, []map[string]any{{"title": "A wool cape", "kind": "physical", "price": chf(42000), "limit": 25, "estimated_delivery": now.AddDate(0, 4, 0).Format("2006-01")}})
	if err != nil {
		return ConsoleDemo{}, err
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
		Tier: "/designer/campaigns/" + id + "/tiers/" + tier}, nil
}
