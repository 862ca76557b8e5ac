package seed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/backstitch/backstitch/internal/account"
)

// AdminDemo is what AdminConsole made: an admin's session and the pages worth showing.
type AdminDemo struct {
	// Token is the admin's session, for the console's cookie.
	Token string
	// Review is a campaign waiting for review; Pledge a partly refunded pledge; Run a completed
	// reconciliation with one open finding, and Finding that finding's page; Disable the page that
	// asks her to confirm disabling a second admin.
	Review, Pledge, Run, Finding, Disable string
}

// AdminConsole seeds what the admins' console shows: a campaign waiting for review, a flexible
// campaign with three collected pledges, one of them partly refunded, and a charge that someone
// took by hand in Stripe's dashboard for that campaign, which a reconciliation run finds.
// dashboard is a client of the service's Stripe (the double, offline), standing in for Stripe's
// dashboard.
func AdminConsole(ctx context.Context, c *Client, store UserStore, dashboard *client.API, now time.Time) (AdminDemo, error) {
	email, pw := "rita.reviewer@backstitch.example", "review carefully, always"
	u, err := account.NewUser(account.SignupFields{Email: email, Password: pw, Name: "Rita Reviewer"}, account.RoleAdmin, now)
	if err != nil {
		return AdminDemo{}, err
	}
	if err := store.CreateUser(ctx, u); err != nil {
		return AdminDemo{}, err
	}
	admin, err := c.login(ctx, email, pw)
	if err != nil {
		return AdminDemo{}, err
	}
	// A second admin, whom the roster lists and Disable offers to disable.
	second, err := account.NewUser(account.SignupFields{Email: "sami.second@backstitch.example", Password: "second pair of eyes", Name: "Sami Second"}, account.RoleAdmin, now)
	if err == nil {
		err = store.CreateUser(ctx, second)
	}
	if err != nil {
		return AdminDemo{}, err
	}
	owner, err := c.Designer(ctx, "Léa Favre")
	if err != nil {
		return AdminDemo{}, err
	}
	deadline := now.AddDate(0, 0, 25).Format(time.DateOnly)
	draft, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns", owner, map[string]any{
		"title": "Jura wool blankets", "blurb": "Blankets woven from the wool of Jura sheep.",
		"story": "## From the fold to the loom\n\nShorn in **Saint-Ursanne**, spun in Bern, woven in Geneva.",
		"goal":  chf(900000), "funding_model": "all_or_nothing", "timezone": "Europe/Zurich", "deadline": deadline,
	})
	if err != nil {
		return AdminDemo{}, err
	}
	review := draft["id"].(string)
	for _, t := range []map[string]any{
		{"title": "A wool blanket", "kind": "physical", "price": chf(29000), "limit": 40},
		{"title": "A day at the loom", "kind": "experience", "price": chf(15000), "limit": 6, "description": "Weave your own with the designer."},
	} {
		if _, err := c.Call(ctx, 201, "POST", "/api/v1/campaigns/"+review+"/tiers", owner, t); err != nil {
			return AdminDemo{}, err
		}
	}
	if _, err := c.Call(ctx, 200, "POST", "/api/v1/campaigns/"+review+"/submit", owner, nil); err != nil {
		return AdminDemo{}, err
	}
	totes, err := c.Launch(ctx, owner, admin, map[string]any{
		"title": "Plainpalais market totes", "blurb": "Totes cut from old sails.", "story": "Sewn from sails of the lake.",
		"goal": chf(300000), "funding_model": "flexible", "timezone": "Europe/Zurich", "deadline": deadline,
	}, []map[string]any{{"title": "A tote", "kind": "digital", "price": chf(4500)}})
	if err != nil {
		return AdminDemo{}, err
	}
	var pledges []string
	for _, name := range []string{"Camille Rochat", "Noé Dubois", "Inès Keller"} {
		link, err := c.PledgeLink(ctx, totes, "A tote", nil, 6500, "CHF", name, false)
		if err != nil {
			return AdminDemo{}, err
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(link, "/pledges/"), "/")
		pledges = append(pledges, id)
	}
	if _, err := c.Call(ctx, 201, "POST", "/api/v1/admin/pledges/"+pledges[0]+"/refunds", admin,
		map[string]any{"amount": chf(2000), "reason": "The strap frayed within a week."}); err != nil {
		return AdminDemo{}, err
	}
	if _, err := dashboard.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(12000), Currency: stripe.String("chf"),
		PaymentMethod: stripe.String("pm_card_visa"), Confirm: stripe.Bool(true), TransferGroup: stripe.String(totes.ID),
		Description: stripe.String("Sold at the market stall, charged by hand")}); err != nil {
		return AdminDemo{}, fmt.Errorf("a charge by hand: %w", err)
	}
	run, err := c.Call(ctx, 201, "POST", "/api/v1/admin/reconciliations", admin, map[string]any{"campaign_id": totes.ID})
	if err != nil {
		return AdminDemo{}, err
	}
	runID := run["id"].(string)
	for deadline := time.Now().Add(30 * time.Second); run["status"] != "completed"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return AdminDemo{}, fmt.Errorf("reconciliation %s did not complete: %v", runID, run["status"])
		}
		if run, err = c.Call(ctx, 200, "GET", "/api/v1/admin/reconciliations/"+runID, admin, nil); err != nil {
			return AdminDemo{}, err
		}
	}
	findings := run["findings"].([]any)
	if len(findings) == 0 {
		return AdminDemo{}, fmt.Errorf("reconciliation %s found nothing", runID)
	}
	finding := findings[0].(map[string]any)["id"].(string)
	return AdminDemo{Token: admin, Disable: "/admin/users/" + second.ID + "/disable", Review: "/admin/campaigns/" + review, Pledge: "/admin/pledges/" + pledges[0],
		Run: "/admin/reconciliations/" + runID, Finding: "/admin/reconciliations/" + runID + "/findings/" + finding}, nil
}
