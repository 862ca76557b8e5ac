// Package seed fills a running service with demonstration campaigns through its public API, as
// designers, an admin and backers would: the screenshot command and the browser tests show the
// pages on the same data, made by the same rules as real data.
package seed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// UserStore creates the admin who approves campaigns (admins are not made through the API).
type UserStore interface {
	CreateUser(ctx context.Context, u account.User) error
}

// Client calls the service's JSON API.
type Client struct {
	Base string
	HTTP *http.Client
}

// Call sends a JSON request and decodes a JSON answer; a status other than want is an error.
func (c *Client) Call(ctx context.Context, want int, method, path, token string, body any, headers ...string) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return out, nil
}

// Admin creates an admin account in the store and signs in.
func (c *Client) Admin(ctx context.Context, store UserStore, now time.Time) (string, error) {
	email, pw := "admin."+backstitch.NewID("seed")+"@backstitch.example", "review carefully, always"
	u, err := account.NewUser(account.SignupFields{Email: email, Password: pw, Name: "Admin"}, account.RoleAdmin, now)
	if err != nil {
		return "", err
	}
	if err := store.CreateUser(ctx, u); err != nil {
		return "", err
	}
	return c.login(ctx, email, pw)
}

// Designer signs up a designer and signs in.
func (c *Client) Designer(ctx context.Context, name string) (string, error) {
	email, pw := "designer."+backstitch.NewID("seed")+"@atelier.example", "linen and wool, always"
	if _, err := c.Call(ctx, 201, "POST", "/api/v1/designers", "", map[string]string{"email": email, "password": pw, "name": name}); err != nil {
		return "", err
	}
	return c.login(ctx, email, pw)
}

func (c *Client) login(ctx context.Context, email, pw string) (string, error) {
	s, err := c.Call(ctx, 201, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": pw})
	if err != nil {
		return "", err
	}
	return s["token"].(string), nil
}

// Campaign is a campaign as the seed made it.
type Campaign struct {
	ID, Slug string
	// Tiers are the tiers' ids by title.
	Tiers map[string]string
}

// Launch creates a campaign with its tiers and takes it live (submitted, approved, launched).
func (c *Client) Launch(ctx context.Context, owner, admin string, fields map[string]any, tiers []map[string]any) (Campaign, error) {
	made, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns", owner, fields)
	if err != nil {
		return Campaign{}, err
	}
	out := Campaign{ID: made["id"].(string), Slug: made["slug"].(string), Tiers: map[string]string{}}
	for _, t := range tiers {
		tier, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+out.ID+"/tiers", owner, t)
		if err != nil {
			return Campaign{}, err
		}
		out.Tiers[t["title"].(string)] = tier["id"].(string)
	}
	for _, step := range []struct{ path, token string }{
		{"/api/v1/campaigns/" + out.ID + "/submit", owner},
		{"/api/v1/admin/campaigns/" + out.ID + "/approve", admin},
		{"/api/v1/campaigns/" + out.ID + "/launch", owner},
	} {
		if _, err := c.Call(ctx, 200, "POST", step.path, step.token, nil); err != nil {
			return Campaign{}, err
		}
	}
	return out, nil
}

// Pledge backs a tier (with a choice of its options, if it has any) and confirms it with Stripe's
// test Visa card. A reward that ships goes to Geneva: amount includes shipping there.
func (c *Client) Pledge(ctx context.Context, cam Campaign, tier string, options map[string]string, amount int64, currency, name string, ships bool) error {
	_, err := c.PledgeLink(ctx, cam, tier, options, amount, currency, name, ships)
	return err
}

// PledgeLink pledges as Pledge does and answers the pledge's magic link, the address (path only)
// a backer opens to manage it.
func (c *Client) PledgeLink(ctx context.Context, cam Campaign, tier string, options map[string]string, amount int64, currency, name string, ships bool) (string, error) {
	return c.pledge(ctx, cam, tier, options, amount, currency, name, ships, "", "pm_card_visa")
}

// PledgeLinkWithCard is PledgeLink with the card saved on the pledge given as a Stripe test
// payment method ("pm_card_chargeCustomerFail" saves fine and is declined at the deadline).
func (c *Client) PledgeLinkWithCard(ctx context.Context, cam Campaign, tier string, options map[string]string, amount int64, currency, name string, ships bool, card string) (string, error) {
	return c.pledge(ctx, cam, tier, options, amount, currency, name, ships, "", card)
}

// PledgeFrom pledges as Pledge does, as a backer who came from a link carrying ref (an
// Instagram post, a newsletter), which the designer's insights count.
func (c *Client) PledgeFrom(ctx context.Context, cam Campaign, tier string, amount int64, currency, name string, ships bool, ref string) error {
	_, err := c.pledge(ctx, cam, tier, nil, amount, currency, name, ships, ref, "pm_card_visa")
	return err
}

func (c *Client) pledge(ctx context.Context, cam Campaign, tier string, options map[string]string, amount int64, currency, name string, ships bool, ref, card string) (string, error) {
	body := map[string]any{"tier_id": cam.Tiers[tier], "amount": map[string]any{"amount": amount, "currency": currency},
		"backer": map[string]any{"email": "backer." + backstitch.NewID("seed") + "@example.com", "name": name}}
	if ref != "" {
		body["source"] = map[string]any{"ref": ref}
	}
	if options != nil {
		body["options"] = options
	}
	if ships {
		body["shipping_address"] = map[string]any{"name": name, "line1": "Rue des Bains 12", "postal_code": "1205", "city": "Genève", "country": "CH"}
	}
	p, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+cam.Slug+"/pledges", "", body, "Idempotency-Key", backstitch.NewID("seed"))
	if err != nil {
		return "", err
	}
	id, token := p["id"].(string), p["manage_token"].(string)
	if _, err = c.Call(ctx, 200, "POST", "/api/v1/pledges/"+id+"/confirm", "",
		map[string]any{"payment_method": card}, "X-Manage-Token", token); err != nil {
		return "", err
	}
	return "/pledges/" + id + "/manage?" + url.Values{"token": {token}}.Encode(), nil
}

// Demo is what Geneva made: the campaigns' slugs, for links.
type Demo struct {
	Geneva, Carouge, Kyoto Campaign
}

func chf(n int64) map[string]any { return map[string]any{"amount": n, "currency": "CHF"} }

// Geneva seeds three live campaigns: a Geneva sustainable-fashion campaign (all or nothing, CHF)
// with a coat that ships, a pattern-cutting workshop, a guided tour of ateliers and a thank-you,
// several of them backed; a flexible Carouge scarf campaign that ends within the week; and a JPY
// campaign in Tokyo's time zone.
func Geneva(ctx context.Context, c *Client, store UserStore, now time.Time) (Demo, error) {
	admin, err := c.Admin(ctx, store, now)
	if err != nil {
		return Demo{}, err
	}
	lea, err := c.Designer(ctx, "Léa Favre, Atelier Pâquis")
	if err != nil {
		return Demo{}, err
	}
	if _, err := c.Call(ctx, 200, "PUT", "/api/v1/me/profile", lea, map[string]any{"name": "Léa Favre, Atelier Pâquis",
		"bio":     "I cut coats from Swiss linen in a workshop by the lake, with patterns that leave no offcuts.\n\nEvery piece is made to order and mended for free.",
		"website": "atelier-paquis.example", "instagram": "@atelier.paquis", "location": "Geneva, Switzerland"}); err != nil {
		return Demo{}, err
	}
	var d Demo
	delivery := now.AddDate(0, 5, 0).Format("2006-01")
	d.Geneva, err = c.Launch(ctx, lea, admin, map[string]any{
		"title": "Lake Léman linen: zero-waste coats cut in Geneva",
		"blurb": "A long coat cut from deadstock Swiss linen, sewn ten minutes from the lake, with nothing thrown away.",
		"story": "Every year, Swiss mills store thousands of metres of perfectly good linen they will never sell.\n\n" +
			"I cut each coat from that deadstock with a zero-waste pattern: the offcuts become the pockets, the collar and the lining of the sleeves.\n" +
			"Nothing leaves the atelier as waste.\n\n" +
			"Your pledge pays for the first production run of 40 coats, sewn in our atelier in the Pâquis by two tailors paid a living wage.",
		"goal": chf(1_500_000), "funding_model": "all_or_nothing", "timezone": "Europe/Zurich",
		"deadline": now.AddDate(0, 0, 24).Format(time.DateOnly),
	}, []map[string]any{
		{"title": "The Pâquis linen coat", "kind": "physical", "price": chf(32000), "limit": 40, "ships": true, "estimated_delivery": delivery,
			"description":    "One long linen coat in oat, moss or lake blue, made to your size.",
			"options":        []map[string]any{{"name": "Colour", "values": []string{"Oat", "Moss", "Lake blue"}}, {"name": "Size", "values": []string{"XS", "S", "M", "L", "XL"}}},
			"shipping_rates": []map[string]any{{"zone": "CH", "price": chf(1200)}, {"zone": "EU", "price": chf(2500)}, {"zone": "WORLD", "price": chf(4000)}}},
		{"title": "Zero-waste pattern-cutting workshop", "kind": "experience", "price": chf(9000), "limit": 12,
			"description": "A Saturday afternoon in the atelier: learn to cut a shirt with no offcuts. Fabric and tea included."},
		{"title": "Guided tour of Geneva's ateliers", "kind": "experience", "price": chf(4500), "limit": 20,
			"description": "Two hours on foot from the Pâquis to Carouge, meeting three designers at work."},
		{"title": "Thank you, in print", "kind": "digital", "price": chf(2500),
			"description": "Your name on our website's list of first backers, and the coat's pattern as a PDF."},
	})
	if err != nil {
		return Demo{}, err
	}
	oat, lake := color.NRGBA{0xd9, 0xcc, 0xb0, 255}, color.NRGBA{0x4a, 0x78, 0x9c, 255}
	if err := c.Upload(ctx, lea, "/api/v1/campaigns/"+d.Geneva.ID+"/cover", woven(1600, 900, oat, lake),
		"Close-up of oat linen woven with lake-blue thread"); err != nil {
		return Demo{}, err
	}
	if err := c.Upload(ctx, lea, "/api/v1/campaigns/"+d.Geneva.ID+"/tiers/"+d.Geneva.Tiers["The Pâquis linen coat"]+"/image",
		woven(800, 600, oat, oat), "Swatch of the coat's undyed oat linen"); err != nil {
		return Demo{}, err
	}
	coat := func(colour, size string) map[string]string { return map[string]string{"Colour": colour, "Size": size} }
	for _, p := range []struct {
		tier    string
		options map[string]string
		amount  int64
		name    string
		ships   bool
	}{
		{"The Pâquis linen coat", coat("Oat", "M"), 33200, "Camille", true}, // CHF 320 and CHF 12 shipping in Switzerland
		{"The Pâquis linen coat", coat("Lake blue", "S"), 36200, "Jonas", true},
		{"The Pâquis linen coat", coat("Moss", "L"), 33200, "Aïcha", true},
		{"Zero-waste pattern-cutting workshop", nil, 9000, "Marco", false},
		{"Zero-waste pattern-cutting workshop", nil, 9000, "Inès", false},
		{"Zero-waste pattern-cutting workshop", nil, 12000, "Noah", false},
		{"Guided tour of Geneva's ateliers", nil, 4500, "Sofia", false},
		{"Thank you, in print", nil, 2500, "Lukas", false},
	} {
		if err := c.Pledge(ctx, d.Geneva, p.tier, p.options, p.amount, "CHF", p.name, p.ships); err != nil {
			return Demo{}, err
		}
	}

	noe, err := c.Designer(ctx, "Noé Rochat")
	if err != nil {
		return Demo{}, err
	}
	d.Carouge, err = c.Launch(ctx, noe, admin, map[string]any{
		"title": "Carouge silk: scarves from upcycled ties", "blurb": "Old silk ties, unpicked and pieced into scarves by hand.",
		"story": "Ties from Geneva's flea markets, washed, unpicked and pieced together.",
		"goal":  chf(400_000), "funding_model": "flexible", "timezone": "Europe/Zurich",
		"deadline": now.AddDate(0, 0, 5).Format(time.DateOnly),
	}, []map[string]any{{"title": "A pieced silk scarf", "kind": "physical", "price": chf(8500), "ships": true, "estimated_delivery": now.AddDate(0, 2, 0).Format("2006-01")}})
	if err != nil {
		return Demo{}, err
	}
	if err := c.Pledge(ctx, d.Carouge, "A pieced silk scarf", nil, 8500, "CHF", "Elif", true); err != nil {
		return Demo{}, err
	}
	if err := c.Upload(ctx, noe, "/api/v1/campaigns/"+d.Carouge.ID+"/cover", woven(1200, 800, color.NRGBA{0x9b, 0x2d, 0x4f, 255}, color.NRGBA{0xe8, 0xb9, 0x4a, 255}),
		"Burgundy and saffron silk threads woven together"); err != nil {
		return Demo{}, err
	}

	aya, err := c.Designer(ctx, "Aya Tanaka")
	if err != nil {
		return Demo{}, err
	}
	d.Kyoto, err = c.Launch(ctx, aya, admin, map[string]any{
		"title": "Boro indigo jackets, mended by hand", "blurb": "Jackets patched from a century of indigo cotton.",
		"story": "Each jacket is pieced from old indigo cloth and stitched in sashiko.",
		"goal":  map[string]any{"amount": 1_500_000, "currency": "JPY"}, "funding_model": "all_or_nothing", "timezone": "Asia/Tokyo",
		"deadline": now.AddDate(0, 0, 40).Format(time.DateOnly),
	}, []map[string]any{{"title": "A boro jacket", "kind": "physical", "price": map[string]any{"amount": 48000, "currency": "JPY"}, "limit": 15, "ships": true}})
	return d, err
}

// Visit opens a public page as a browser would, so the page counts the visit (and where it came
// from, with a ref in its query).
func (c *Client) Visit(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+path, nil)
	if err != nil {
		return err
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", path, res.StatusCode)
	}
	return nil
}
