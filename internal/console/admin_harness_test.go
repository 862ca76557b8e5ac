package console_test

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/seed"
)

const adminPassword = "review carefully, always"

// newAdmin makes an admin account (admins are not signed up; they are made in the store) and
// answers its email.
func (s *site) newAdmin(name string) string {
	s.t.Helper()
	email := "admin." + backstitch.NewID("t") + "@backstitch.example"
	u, err := account.NewUser(account.SignupFields{Email: email, Password: adminPassword, Name: name}, account.RoleAdmin, s.clock.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.store.CreateUser(context.Background(), u); err != nil {
		s.t.Fatal(err)
	}
	return email
}

// inReview is a new designer, Ana, with a draft called title and one tier (a coat at 320),
// submitted for review; it returns her browser and the draft's editor path.
func (s *site) inReview(title string) (*visitor, string) {
	s.t.Helper()
	designer := s.visitor("en")
	designer.signUp("Ana")
	editor := designer.createDraft(title)
	designer.addTier(editor, "Coat", "physical", "320")
	designer.post(editor, editor+"/submit", nil)
	return designer, editor
}

// adminVisitor is a browser signed in as a new admin through the log-in form.
func (s *site) adminVisitor(lang string) *visitor {
	s.t.Helper()
	v, _ := s.signedInAdmin(lang)
	return v
}

// signedInAdmin is adminVisitor, and its admin.
func (s *site) signedInAdmin(lang string) (*visitor, account.User) {
	s.t.Helper()
	v := s.visitor(lang)
	email := s.newAdmin("Rita Reviewer")
	p := v.post("/designer/login", "/designer/login", url.Values{"email": {email}, "password": {adminPassword}})
	if p.status != 303 || p.location() != "/admin" {
		s.t.Fatalf("admin log-in: %d %q", p.status, p.location())
	}
	u, err := s.store.FindUserByEmail(context.Background(), email)
	if err != nil {
		s.t.Fatal(err)
	}
	return v, u
}

// flexible launches a flexible campaign (charged at pledge time) of a new designer's, titled
// title, with one tier; pledges make collected pledges in it.
func (s *site) flexible(title string) (seed.Campaign, string) {
	s.t.Helper()
	ctx := context.Background()
	owner, err := s.api.Designer(ctx, "Ana")
	if err != nil {
		s.t.Fatal(err)
	}
	c, err := s.api.Launch(ctx, owner, s.admin, map[string]any{
		"title": title, "story": "Scarves.", "goal": map[string]any{"amount": 100000, "currency": "CHF"}, "funding_model": "flexible",
		"timezone": "Europe/Zurich", "deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{{"title": "Scarf", "kind": "digital", "price": map[string]any{"amount": 8000, "currency": "CHF"}}})
	if err != nil {
		s.t.Fatal(err)
	}
	return c, owner
}

// collected pledges 100.00 CHF to c and answers the pledge, collected.
func (s *site) collected(c seed.Campaign, name string) pledge.Pledge {
	s.t.Helper()
	ctx := context.Background()
	link, err := s.api.PledgeLink(ctx, c, "Scarf", nil, 10000, "CHF", name, false)
	if err != nil {
		s.t.Fatal(err)
	}
	id := strings.TrimPrefix(link[:strings.Index(link, "/manage")], "/pledges/")
	p, err := s.store.FindPledge(ctx, id)
	if err != nil {
		s.t.Fatal(err)
	}
	if p.Status != pledge.StatusCollected {
		s.t.Fatalf("pledge %s is %s", id, p.Status)
	}
	return p
}

// pledge reads a pledge from the store.
func (s *site) pledge(id string) pledge.Pledge {
	s.t.Helper()
	p, err := s.store.FindPledge(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}
