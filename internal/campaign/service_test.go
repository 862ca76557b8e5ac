package campaign_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	ana   = campaign.Actor{UserID: "usr_ana", Role: account.RoleDesigner}
	bo    = campaign.Actor{UserID: "usr_bo", Role: account.RoleDesigner}
	admin = campaign.Actor{UserID: "usr_admin", Role: account.RoleAdmin}
	guest = campaign.Actor{}
)

func ptr[T any](v T) *T { return &v }

type fixture struct {
	svc   *campaign.Service
	store *mongostore.Store
	clock *testenv.Clock
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	store := testenv.MustStore(t)
	clock := testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	rules := campaign.Rules{MinDuration: 24 * time.Hour, MaxDuration: 60 * 24 * time.Hour}
	return fixture{svc: campaign.NewService(store, clock.Now, rules), store: store, clock: clock}
}

func (f fixture) draft(t *testing.T, by campaign.Actor, title string) campaign.Campaign {
	t.Helper()
	c, err := f.svc.Create(context.Background(), by, campaign.Fields{Title: &title, Goal: &money.Money{Amount: 500_000, Currency: "CHF"},
		Deadline: ptr(f.clock.Now().Add(30 * 24 * time.Hour).Format(time.DateOnly)), Timezone: ptr("Europe/Zurich")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tierFields(title string) campaign.TierFields {
	return campaign.TierFields{Title: &title, Kind: ptr(campaign.KindDigital), Price: &money.Money{Amount: 2000, Currency: "CHF"}}
}

// Designer A never reaches designer B's campaign: hidden ones do not exist for her, public ones
// are forbidden; anonymous visitors and admins see what they should.
func TestOwnership(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Create(ctx, admin, campaign.Fields{}); backstitch.ErrorCode(err) != backstitch.CodeForbidden {
		t.Fatalf("admin created a campaign: %v", err)
	}
	c := f.draft(t, ana, "Indigo")
	tier, err := f.svc.AddTier(ctx, ana, c.ID, tierFields("Pattern"))
	if err != nil {
		t.Fatal(err)
	}
	attempts := func(by campaign.Actor) map[string]error {
		_, show := f.svc.Show(ctx, by, c.ID)
		_, edit := f.svc.Edit(ctx, by, c.ID, campaign.Fields{Title: ptr("Mine now")})
		_, add := f.svc.AddTier(ctx, by, c.ID, tierFields("Mine"))
		_, editTier := f.svc.EditTier(ctx, by, c.ID, tier.ID, campaign.TierFields{Title: ptr("Mine")})
		_, submit := f.svc.Submit(ctx, by, c.ID, "")
		_, launch := f.svc.Launch(ctx, by, c.ID, "")
		_, cancel := f.svc.Cancel(ctx, by, c.ID, "")
		_, settlement := f.svc.FindForOwnerOrAdmin(ctx, by, c.ID)
		return map[string]error{"show": show, "edit": edit, "add tier": add, "edit tier": editTier, "delete tier": f.svc.DeleteTier(ctx, by, c.ID, tier.ID),
			"submit": submit, "launch": launch, "cancel": cancel, "settlement": settlement}
	}
	for what, err := range attempts(bo) {
		if backstitch.ErrorCode(err) != backstitch.CodeNotFound {
			t.Errorf("another designer's draft, %s: %v; want not_found", what, err)
		}
	}
	if _, err := f.svc.Approve(ctx, ana, c.ID, ""); backstitch.ErrorCode(err) != backstitch.CodeForbidden {
		t.Errorf("designer approved: %v", err)
	}
	for _, step := range []func() (campaign.Detail, error){
		func() (campaign.Detail, error) { return f.svc.Submit(ctx, ana, c.ID, "") },
		func() (campaign.Detail, error) { return f.svc.Approve(ctx, admin, c.ID, "Looks right.") },
		func() (campaign.Detail, error) { return f.svc.Launch(ctx, ana, c.ID, "") },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	for what, err := range attempts(bo) {
		want := backstitch.CodeForbidden
		if what == "show" {
			want = "" // a live campaign is public: no error
		}
		if backstitch.ErrorCode(err) != want {
			t.Errorf("another designer's live campaign, %s: %v; want %s", what, err, want)
		}
	}
	if d, err := f.svc.Show(ctx, guest, c.Slug); err != nil || d.Private || len(d.Tiers) != 1 {
		t.Fatalf("guest sees a live campaign: %+v %v", d, err)
	}
	got, err := f.store.FindCampaign(ctx, c.ID)
	if err != nil || got.Title != "Indigo" || got.Status != campaign.StatusLive {
		t.Fatalf("someone else changed the campaign: %+v %v", got, err)
	}
}

// Review steps run in order; admins' steps are audited with who, what, before and after, and a
// tier change after approval sends the campaign back to review.
func TestReviewStepsAndAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.draft(t, ana, "Hemp")
	if _, err := f.svc.Launch(ctx, ana, c.ID, ""); backstitch.ErrorCode(err) != backstitch.CodeInvalidState {
		t.Fatalf("launched a draft: %v", err)
	}
	if _, err := f.svc.Submit(ctx, ana, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reject(ctx, admin, c.ID, " "); backstitch.ErrorCode(err) != backstitch.CodeValidation {
		t.Fatalf("rejected without a reason: %v", err)
	}
	f.clock.Advance(time.Minute)
	d, err := f.svc.Reject(ctx, admin, c.ID, "Show the label.")
	if err != nil || d.Campaign.Status != campaign.StatusDraft || d.Campaign.RejectionReason != "Show the label." {
		t.Fatalf("reject: %+v %v", d.Campaign, err)
	}
	if _, err := f.svc.Submit(ctx, ana, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.Approve(ctx, admin, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddTier(ctx, ana, c.ID, tierFields("Scarf")); err != nil {
		t.Fatal(err)
	}
	d, err = f.svc.Show(ctx, ana, c.ID)
	if err != nil || d.Campaign.Status != campaign.StatusDraft || !d.Private {
		t.Fatalf("a tier added after approval: %+v %v", d.Campaign.Status, err)
	}
	entries, err := f.store.FindAudit(ctx, backstitch.AuditFilter{Target: c.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s %s %s→%s %q", e.Actor, e.Action, e.Before["status"], e.After["status"], e.Reason))
	}
	want := `[usr_admin campaign.approve in_review→approved "" usr_admin campaign.reject in_review→draft "Show the label."]`
	if fmt.Sprint(got) != want {
		t.Fatalf("audit log\n got %v\nwant %s", got, want)
	}
}

// The tier limit holds when the service is called concurrently, a failed add gives its slot
// back, and deleting a tier frees one.
func TestTierLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.draft(t, ana, "Fifty")
	if _, err := f.svc.AddTier(ctx, ana, c.ID, campaign.TierFields{Title: ptr("No price")}); backstitch.ErrorCode(err) != backstitch.CodeValidation {
		t.Fatalf("invalid tier: %v", err)
	}
	var wg sync.WaitGroup
	for i := range campaign.MaxTiers + 10 {
		wg.Go(func() {
			if _, err := f.svc.AddTier(ctx, ana, c.ID, tierFields(fmt.Sprint("Tier ", i))); err != nil && backstitch.ErrorCode(err) != backstitch.CodeValidation {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tiers, err := f.store.FindTiers(ctx, c.ID)
	if err != nil || len(tiers) != campaign.MaxTiers {
		t.Fatalf("%d tiers after racing adds, want %d (%v)", len(tiers), campaign.MaxTiers, err)
	}
	seen := map[int]bool{}
	for _, tier := range tiers {
		if seen[tier.Position] {
			t.Fatalf("two tiers at position %d", tier.Position)
		}
		seen[tier.Position] = true
	}
	if err := f.svc.DeleteTier(ctx, ana, c.ID, tiers[3].ID); err != nil {
		t.Fatal(err)
	}
	last, err := f.svc.AddTier(ctx, ana, c.ID, tierFields("Last"))
	if err != nil {
		t.Fatalf("add after a delete: %v", err)
	}
	if seen[last.Position] {
		t.Fatalf("new tier reuses position %d", last.Position)
	}
}
