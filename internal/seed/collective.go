package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Collective is the Geneva collective's campaign after the seed: twenty rewards of five kinds
// (sized pieces that ship, dated workshops and guided tours, online coaching slots, meetings),
// backed in CHF from Switzerland and abroad.
type Collective struct {
	Campaign
	Owner, Admin string
	// Sessions are each experience tier's dates, by tier title.
	Sessions map[string][]string
	Pledges  []Backing
}

// Backing is one pledge the seed made, with what its backer holds to manage it.
type Backing struct {
	ID, ManageToken, Tier, Country string
	Amount, Shipping               int64
	Email                          string
}

// collectiveShipping prices shipping from Geneva: Switzerland, the EU, anywhere else.
var collectiveShipping = []map[string]any{{"zone": "CH", "price": chf(900)}, {"zone": "EU", "price": chf(1800)}, {"zone": "WORLD", "price": chf(3500)}}

// shippingFrom is what collectiveShipping charges to a country the seed uses.
func shippingFrom(country string) int64 {
	switch country {
	case "CH":
		return 900
	case "FR", "DE", "PT", "IT":
		return 1800
	}
	return 3500
}

type collectiveTier struct {
	title, kind string
	price       int64
	sizes       []string
	// sessions: how many dates, and places in each; online ones are coaching slots.
	sessions, capacity int
	online             bool
}

var collectiveTiers = []collectiveTier{
	{title: "Deadstock linen coat", kind: "physical", price: 32000, sizes: []string{"XS", "S", "M", "L", "XL"}},
	{title: "Boiled wool jacket", kind: "physical", price: 28000, sizes: []string{"S", "M", "L"}},
	{title: "Hemp wide trousers", kind: "physical", price: 16000, sizes: []string{"S", "M", "L", "XL"}},
	{title: "Organic cotton shirt", kind: "physical", price: 9500, sizes: []string{"S", "M", "L"}},
	{title: "Upcycled denim skirt", kind: "physical", price: 12000, sizes: []string{"34", "36", "38", "40"}},
	{title: "Hand-knit merino sweater", kind: "physical", price: 24000, sizes: []string{"S", "M", "L"}},
	{title: "Linen tote", kind: "physical", price: 4000},
	{title: "Pieced silk scarf", kind: "physical", price: 8500},
	{title: "Natural-dye socks", kind: "physical", price: 2500},
	{title: "Zero-waste pattern-cutting workshop", kind: "experience", price: 9000, sessions: 2, capacity: 12},
	{title: "Natural dyeing workshop", kind: "experience", price: 11000, sessions: 2, capacity: 10},
	{title: "Visible mending workshop", kind: "experience", price: 6000, sessions: 1, capacity: 15},
	{title: "Sashiko evening", kind: "experience", price: 5500, sessions: 1, capacity: 8},
	{title: "Guided tour of the Pâquis ateliers", kind: "experience", price: 4500, sessions: 2, capacity: 20},
	{title: "Flea-market fabric hunt", kind: "experience", price: 3500, sessions: 1, capacity: 12},
	{title: "Visit to a Swiss linen mill", kind: "experience", price: 7500, sessions: 1, capacity: 25},
	{title: "Online coaching: your first collection", kind: "experience", price: 15000, sessions: 3, capacity: 1, online: true},
	{title: "Online coaching: sourcing deadstock", kind: "experience", price: 12000, sessions: 3, capacity: 1, online: true},
	{title: "Studio coffee with the designers", kind: "experience", price: 5000, sessions: 1, capacity: 8},
	{title: "Dinner with the collective", kind: "experience", price: 18000, sessions: 1, capacity: 10},
}

// GenevaCollective seeds the collective's campaign (all or nothing, CHF, ending in 24 days) with its
// twenty rewards and their dates, and backs it: sized pieces shipped to Switzerland, France,
// Portugal and the United States, workshops, tours, coaching slots and meetings booked, and a
// patron without reward. Every backing is confirmed with Stripe's test Visa card.
func GenevaCollective(ctx context.Context, c *Client, store UserStore, now time.Time) (Collective, error) {
	var out Collective
	var err error
	if out.Admin, err = c.Admin(ctx, store, now); err != nil {
		return out, err
	}
	if out.Owner, err = c.Designer(ctx, "Collectif Léman"); err != nil {
		return out, err
	}
	var tiers []map[string]any
	for _, t := range collectiveTiers {
		body := map[string]any{"title": t.title, "kind": t.kind, "price": chf(t.price), "description": "A reward of the Geneva collective."}
		if t.kind == "physical" {
			body["shipping_rates"] = collectiveShipping
			body["estimated_delivery"] = now.AddDate(0, 4, 0).Format("2006-01")
		}
		if len(t.sizes) > 0 {
			body["options"] = []map[string]any{{"name": "size", "values": t.sizes}}
		}
		tiers = append(tiers, body)
	}
	// Tiers and sessions are added before launch (the admin approves what backers will see).
	made, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns", out.Owner, map[string]any{
		"title": "Geneva collective: twenty ways to wear and make it slower",
		"blurb": "Six designers, one atelier: pieces cut from deadstock, and afternoons to learn how.",
		"story": "We are six designers sharing an atelier in the Pâquis.\n\nBack a piece, or come and learn to make your own.",
		"goal":  chf(300_000), "funding_model": "all_or_nothing", "timezone": "Europe/Zurich",
		"deadline": now.AddDate(0, 0, 24).Format(time.DateOnly),
	})
	if err != nil {
		return out, err
	}
	out.Campaign = Campaign{ID: made["id"].(string), Slug: made["slug"].(string), Tiers: map[string]string{}}
	out.Sessions = map[string][]string{}
	for i, body := range tiers {
		tier, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+out.ID+"/tiers", out.Owner, body)
		if err != nil {
			return out, err
		}
		t := collectiveTiers[i]
		out.Tiers[t.title] = tier["id"].(string)
		for n := range t.sessions {
			start := time.Date(now.Year(), now.Month(), now.Day(), 14, 0, 0, 0, time.UTC).AddDate(0, 0, 45+7*n+i)
			se := map[string]any{"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(3 * time.Hour).Format(time.RFC3339),
				"timezone": "Europe/Zurich", "capacity": t.capacity}
			if t.online {
				se["online"], se["link"] = true, fmt.Sprintf("https://meet.example/collectif-%d-%d", i, n)
			} else {
				se["place"] = "Atelier du Collectif, Rue de Berne 10, 1201 Genève"
			}
			made, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+out.ID+"/tiers/"+out.Tiers[t.title]+"/sessions", out.Owner, se,
				"Idempotency-Key", backstitch.NewID("seed"))
			if err != nil {
				return out, err
			}
			out.Sessions[t.title] = append(out.Sessions[t.title], made["id"].(string))
		}
	}
	for _, step := range []struct{ path, token string }{
		{"/api/v1/campaigns/" + out.ID + "/submit", out.Owner},
		{"/api/v1/admin/campaigns/" + out.ID + "/approve", out.Admin},
		{"/api/v1/campaigns/" + out.ID + "/launch", out.Owner},
	} {
		if _, err := c.Call(ctx, 200, "POST", step.path, step.token, nil); err != nil {
			return out, err
		}
	}
	type backing struct {
		tier, size, country, name string
		extra                     int64
	}
	backings := []backing{
		{"Deadstock linen coat", "M", "CH", "Camille Rochat", 0},
		{"Deadstock linen coat", "S", "PT", "Inês Duarte", 500},
		{"Boiled wool jacket", "L", "FR", "Hugo Martin", 0},
		{"Hemp wide trousers", "XL", "US", "Maya Brooks", 0},
		{"Organic cotton shirt", "S", "CH", "Lukas Meier", 0},
		{"Upcycled denim skirt", "38", "DE", "Lena Vogel", 0},
		{"Hand-knit merino sweater", "M", "CH", "Aïcha Benali", 1000},
		{"Linen tote", "", "CH", "Noah Favre", 0},
		{"Pieced silk scarf", "", "IT", "Giulia Conti", 0},
		{"Natural-dye socks", "", "CH", "Elif Kaya", 0},
		{"Zero-waste pattern-cutting workshop", "", "", "Marco Rossi", 0},
		{"Zero-waste pattern-cutting workshop", "", "", "Sofia Keller", 0},
		{"Natural dyeing workshop", "", "", "Jonas Weber", 0},
		{"Guided tour of the Pâquis ateliers", "", "", "Chloé Dubois", 0},
		{"Visit to a Swiss linen mill", "", "", "Tom Baker", 0},
		{"Online coaching: your first collection", "", "", "Ana Lima", 0},
		{"Studio coffee with the designers", "", "", "Yuki Sato", 0},
		{"Dinner with the collective", "", "", "Paul Girard", 0},
		{"", "", "", "A patron", 150_000},
	}
	for i, b := range backings {
		email := fmt.Sprintf("backer%02d.%s@example.com", i, backstitch.NewID("seed"))
		body := map[string]any{"backer": map[string]any{"email": email, "name": b.name}}
		var price, shipping int64
		if b.tier != "" {
			body["tier_id"] = out.Tiers[b.tier]
			for _, t := range collectiveTiers {
				if t.title == b.tier {
					price = t.price
				}
			}
			if b.size != "" {
				body["options"] = map[string]string{"size": b.size}
			}
			if s := out.Sessions[b.tier]; len(s) > 0 {
				body["session_id"] = s[0]
			}
		}
		if b.country != "" {
			shipping = shippingFrom(b.country)
			body["shipping_address"] = map[string]any{"name": b.name, "line1": "Somewhere Street 1", "postal_code": "1000", "city": "Somewhere", "country": b.country}
		}
		amount := price + shipping + b.extra
		body["amount"] = chf(amount)
		p, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+out.Slug+"/pledges", "", body, "Idempotency-Key", backstitch.NewID("seed"))
		if err != nil {
			return out, err
		}
		if _, err := c.Call(ctx, 200, "POST", "/api/v1/pledges/"+p["id"].(string)+"/confirm", "",
			map[string]any{"payment_method": "pm_card_visa"}, "X-Manage-Token", p["manage_token"].(string)); err != nil {
			return out, err
		}
		out.Pledges = append(out.Pledges, Backing{ID: p["id"].(string), ManageToken: p["manage_token"].(string), Tier: b.tier,
			Country: b.country, Amount: amount, Shipping: shipping, Email: email})
	}
	return out, nil
}
