package mongostore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var rules = campaign.Rules{MinDuration: time.Hour, MaxDuration: 60 * 24 * time.Hour}

func newCampaign(t *testing.T, title string) campaign.Campaign {
	t.Helper()
	deadline := "2030-01-10"
	tz := "Europe/Zurich"
	goal := money.Money{Amount: 500000, Currency: "CHF"}
	c, err := campaign.New(campaign.Fields{Title: &title, Goal: &goal, Deadline: &deadline, Timezone: &tz},
		"usr_a", time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC), rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSlugsStayUniqueUnderConcurrency(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	const n = 12
	slugs := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := s.CreateCampaign(ctx, newCampaign(t, "Linen Coat"))
			if err != nil {
				t.Error(err)
				return
			}
			slugs <- c.Slug
		})
	}
	wg.Wait()
	close(slugs)
	seen := map[string]bool{}
	for slug := range slugs {
		if seen[slug] {
			t.Fatalf("slug %q given twice", slug)
		}
		seen[slug] = true
		if _, err := s.FindCampaignBySlug(ctx, slug); err != nil {
			t.Fatalf("slug %q not stored: %v", slug, err)
		}
	}
	if len(seen) != n || !seen["linen-coat"] || !seen["linen-coat-2"] {
		t.Fatalf("slugs = %v", seen)
	}
}

func TestReplaceCampaignIsCompareAndSet(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	c, err := s.CreateCampaign(ctx, newCampaign(t, "Wool"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
	a, _ := c.Do(campaign.ActionSubmit, "usr_a", "", now, rules)
	b, _ := c.Do(campaign.ActionCancel, "usr_a", "", now, rules)
	if _, err := s.ReplaceCampaign(ctx, c, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceCampaign(ctx, c, b); backstitch.ErrorCode(err) != backstitch.CodeConflict {
		t.Fatalf("second writer from the same read: err %v, want conflict", err)
	}
	got, err := s.FindCampaign(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.StatusInReview || len(got.History) != 1 || got.Version != 1 {
		t.Fatalf("stored %s v%d with %d history entries", got.Status, got.Version, len(got.History))
	}
}

func TestRateLimitCountsAcrossCalls(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := s.HitRateLimit(ctx, "login:a", time.Minute, now); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, end, err := s.HitRateLimit(ctx, "login:a", time.Minute, now)
	if err != nil || n != 21 || !end.Equal(now.Add(time.Minute)) {
		t.Fatalf("count %d end %v err %v; want 21 at %v", n, end, err, now.Add(time.Minute))
	}
	if n, _, _ := s.HitRateLimit(ctx, "login:a", time.Minute, now.Add(time.Minute)); n != 1 {
		t.Fatalf("next window starts at %d, want 1", n)
	}
}

func TestSessionsExpireAndPurge(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	_, sess := account.NewSession(account.User{ID: "usr_a", Role: account.RoleDesigner}, now, time.Hour)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindSession(ctx, sess.ID, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("live session not found: %v", err)
	}
	if _, err := s.FindSession(ctx, sess.ID, now.Add(time.Hour)); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("expired session: err %v, want not_found", err)
	}
	n, err := s.PurgeExpired(ctx, now.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d, err %v; want 1", n, err)
	}
}
