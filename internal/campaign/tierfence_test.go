package campaign_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/testenv"
)

// pausingStore stops the first tier write that reaches it (a tier inserted, replaced or
// deleted) until the test lets it go, as a slow request would: the test decides meanwhile.
type pausingStore struct {
	*mongostore.Store
	armed          bool
	once           sync.Once
	paused, resume chan struct{}
}

func (p *pausingStore) pause() {
	if p.armed {
		p.once.Do(func() { close(p.paused); <-p.resume })
	}
}

func (p *pausingStore) CreateTier(ctx context.Context, t campaign.Tier) error {
	p.pause()
	return p.Store.CreateTier(ctx, t)
}

func (p *pausingStore) ReplaceTier(ctx context.Context, prev, next campaign.Tier) error {
	p.pause()
	return p.Store.ReplaceTier(ctx, prev, next)
}

func (p *pausingStore) DeleteTier(ctx context.Context, t campaign.Tier) error {
	p.pause()
	return p.Store.DeleteTier(ctx, t)
}

func sessionFields(at time.Time) campaign.SessionFields {
	end := at.Add(2 * time.Hour)
	return campaign.SessionFields{StartsAt: &at, EndsAt: &end, Timezone: ptr("Europe/Zurich"), Place: ptr("Atelier, Rue du Rhône 1"), Capacity: ptr(int64(8))}
}

// A tier write racing a review decision never leaves a campaign approved with tiers its admin
// did not see: each kind of tier write is held in the store, after everything it checked and
// before its tier lands, while the designer submits (when the campaign was a draft) and an admin
// reads the campaign and approves what she read. Either the decision or the write is refused,
// or the campaign ends in draft; an approved campaign's tiers are always those it judged.
func TestTierWriteRacingApprovalIsNeverApprovedUnseen(t *testing.T) {
	ctx := context.Background()
	writes := map[string]func(f fixture, c campaign.Campaign, tier campaign.Tier, session string) error{
		"add tier": func(f fixture, c campaign.Campaign, _ campaign.Tier, _ string) error {
			_, err := f.svc.AddTier(ctx, ana, c.ID, tierFields("Late addition"))
			return err
		},
		"edit tier": func(f fixture, c campaign.Campaign, tier campaign.Tier, _ string) error {
			_, err := f.svc.EditTier(ctx, ana, c.ID, tier.ID, campaign.TierFields{Title: ptr("Renamed unseen")})
			return err
		},
		"delete tier": func(f fixture, c campaign.Campaign, tier campaign.Tier, _ string) error {
			return f.svc.DeleteTier(ctx, ana, c.ID, tier.ID)
		},
		"add session": func(f fixture, c campaign.Campaign, tier campaign.Tier, _ string) error {
			_, _, err := f.svc.AddSession(ctx, ana, c.ID, tier.ID, sessionFields(f.clock.Now().Add(20*24*time.Hour)))
			return err
		},
		"edit session": func(f fixture, c campaign.Campaign, tier campaign.Tier, session string) error {
			_, _, err := f.svc.EditSession(ctx, ana, c.ID, tier.ID, session, campaign.SessionFields{Place: ptr("Another room")})
			return err
		},
		"cancel session": func(f fixture, c campaign.Campaign, tier campaign.Tier, session string) error {
			_, err := f.svc.CancelSession(ctx, ana, c.ID, tier.ID, session)
			return err
		},
	}
	for name, write := range writes {
		for _, start := range []campaign.Status{campaign.StatusDraft, campaign.StatusInReview, campaign.StatusApproved} {
			t.Run(name+" from "+string(start), func(t *testing.T) {
				store := &pausingStore{Store: testenv.MustStore(t), paused: make(chan struct{}), resume: make(chan struct{})}
				clock := testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
				rules := campaign.Rules{MinDuration: 24 * time.Hour, MaxDuration: 60 * 24 * time.Hour}
				f := fixture{svc: campaign.NewService(store, clock.Now, rules), store: store.Store, clock: clock}
				c := f.draft(t, ana, "Workshops")
				tier, err := f.svc.AddTier(ctx, ana, c.ID, campaign.TierFields{Title: ptr("Dyeing workshop"), Kind: ptr(campaign.KindExperience),
					Price: &money.Money{Amount: 9000, Currency: "CHF"}})
				if err != nil {
					t.Fatal(err)
				}
				tier, session, err := f.svc.AddSession(ctx, ana, c.ID, tier.ID, sessionFields(clock.Now().Add(10*24*time.Hour)))
				if err != nil {
					t.Fatal(err)
				}
				if start != campaign.StatusDraft {
					if _, err := f.svc.Submit(ctx, ana, c.ID, ""); err != nil {
						t.Fatal(err)
					}
				}
				if start == campaign.StatusApproved {
					if _, err := f.svc.Approve(ctx, admin, c.ID, "First look."); err != nil {
						t.Fatal(err)
					}
				}
				store.armed = true
				done := make(chan error, 1)
				go func() { done <- write(f, c, tier, session.ID) }()
				var writeErr error
				finished := false
				select {
				case <-store.paused:
				case writeErr = <-done:
					finished = true // refused before reaching the tiers: nothing to race
				case <-time.After(20 * time.Second):
					t.Fatal("the tier write neither reached the store nor ended")
				}
				// Meanwhile: the designer submits if she can, and an admin decides on what she reads.
				_, _ = f.svc.Submit(ctx, ana, c.ID, "")
				read, err := f.svc.Show(ctx, admin, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				_, approveErr := f.svc.ApproveAsSeen(ctx, admin, c.ID, "Looks right.", campaign.ReviewHashes(read.Campaign, read.Tiers))
				close(store.resume)
				if !finished {
					writeErr = <-done
				}

				got, err := f.store.FindCampaign(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				tiers, err := f.store.FindTiers(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("write: %v; approval: %v; campaign %s", writeErr, approveErr, got.Status)
				if got.Status == campaign.StatusApproved && campaign.ReviewHashes(got, tiers)["tiers"] != got.Reviewed.Fields["tiers"] {
					t.Fatalf("approved with tiers its admin never saw (write: %v, approval: %v)", writeErr, approveErr)
				}
				if writeErr == nil && approveErr == nil {
					t.Fatalf("both the tier write and the approval went through; campaign %s", got.Status)
				}
				if writeErr == nil && got.Status != campaign.StatusDraft && got.Status != campaign.StatusInReview {
					t.Fatalf("a tier write went through and left the campaign %s", got.Status)
				}
				if len(got.TierWrites) != 0 {
					t.Fatalf("tier writes still recorded after they ended: %v", got.TierWrites)
				}
			})
		}
	}
}

// A tier write whose request died between announcing itself and ending holds review decisions
// only until it can no longer land; the next tier write drops its record.
func TestDeadTierWriteHoldsDecisionsUntilItExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.draft(t, ana, "Dead writer")
	tier, err := f.svc.AddTier(ctx, ana, c.ID, tierFields("Pattern"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Submit(ctx, ana, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.store.BeginTierWrite(ctx, c.ID, campaign.StatusInReview, "tw_dead", f.clock.Now().Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, admin, c.ID, ""); !errors.Is(err, campaign.ErrChangedSinceSeen) {
		t.Fatalf("approval while a tier write may land: %v", err)
	}
	f.clock.Advance(time.Minute + time.Second)
	if _, err := f.svc.Approve(ctx, admin, c.ID, "Fine."); err != nil {
		t.Fatalf("approval after the dead write expired: %v", err)
	}
	if _, err := f.svc.EditTier(ctx, ana, c.ID, tier.ID, campaign.TierFields{Title: ptr("Pattern, v2")}); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.FindCampaign(ctx, c.ID)
	if err != nil || got.Status != campaign.StatusDraft || len(got.TierWrites) != 0 {
		t.Fatalf("after a tier edit of the approved campaign: %s, writes %v (%v); want draft and none", got.Status, got.TierWrites, err)
	}
}
