package pledge

import (
	"context"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
)

// closedGateStore is a campaign whose gate closed while a pledge was being made, and a pledge
// that another writer moves (to moved) while the gate's void is under way: the void's
// compare-and-set loses, and the pledge read again is as that writer left it.
type closedGateStore struct {
	Store
	c        campaign.Campaign
	moved    Status
	stored   *Pledge
	replaces []Status
}

func (s *closedGateStore) FindCampaignBySlug(context.Context, string) (campaign.Campaign, error) {
	return s.c, nil
}

func (s *closedGateStore) FindPledge(context.Context, string) (Pledge, error) {
	if s.stored == nil {
		return Pledge{}, backstitch.Errorf(backstitch.CodeNotFound, "Pledge not found.")
	}
	return *s.stored, nil
}

func (s *closedGateStore) CreatePledge(_ context.Context, p Pledge) error {
	s.stored = &p
	return nil
}

func (s *closedGateStore) CampaignGateClosed(context.Context, string) (bool, error) {
	return true, nil
}

// ReplacePledge is a compare-and-set on the status. The first write loses to the other writer,
// which moved the pledge just before (its card saved, say).
func (s *closedGateStore) ReplacePledge(_ context.Context, prev, next Pledge) (Pledge, error) {
	s.replaces = append(s.replaces, next.Status)
	if len(s.replaces) == 1 {
		moved := *s.stored
		moved.Status, moved.PaymentMethodID = s.moved, "pm_card"
		s.stored = &moved
	}
	if prev.Status != s.stored.Status {
		return Pledge{}, backstitch.Errorf(backstitch.CodeConflict, "Pledge changed meanwhile.")
	}
	s.stored = &next
	return next, nil
}

// The counters a void that went through would move (a pre-fix run of the test gets this far).
func (s *closedGateStore) AddToTotals(context.Context, string, int64, int64) error { return nil }

func (s *closedGateStore) ClearPending(context.Context, string, string) error { return nil }

// closedGateGateway is Stripe for a card pledge whose SetupIntent is cancelled by the void.
type closedGateGateway struct {
	Gateway
	detached []string
}

func (g *closedGateGateway) CreateCustomer(context.Context, CustomerRequest) (string, error) {
	return "cus_1", nil
}

func (g *closedGateGateway) CreateSetupIntent(context.Context, SetupRequest) (Intent, error) {
	return Intent{ID: "seti_1", Status: IntentRequiresPaymentMethod, ClientSecret: "seti_1_secret", Setup: true}, nil
}

func (g *closedGateGateway) CancelSetupIntent(_ context.Context, id, _ string) (Intent, error) {
	return Intent{ID: id, Status: IntentCanceled, Setup: true}, nil
}

func (g *closedGateGateway) DetachPaymentMethod(_ context.Context, pm, _ string) error {
	g.detached = append(g.detached, pm)
	return nil
}

// A pledge that another writer moved on while the closed gate's void was being written (its
// card saved: its request had answered, so the settler's sweep counts it; or the backer's
// cancel) is left as it is now, and the request answers it so: the gate's void must not end a
// pledge the settler is about to charge, nor detach its card, nor answer a pending pledge (and
// its client secret) that is no longer pending.
func TestPassGateLeavesAPledgeThatMovedOnMeanwhile(t *testing.T) {
	for _, moved := range []Status{StatusActive, StatusCollected, StatusCancelled, StatusExpired} {
		t.Run(string(moved), func(t *testing.T) {
			at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			st := &closedGateStore{moved: moved, c: campaign.Campaign{ID: "cam_1", Slug: "coat", Status: campaign.StatusLive,
				Deadline: at.Add(24 * time.Hour), FundingModel: campaign.AllOrNothing, Goal: money.Money{Amount: 100000, Currency: "CHF"}}}
			gw := &closedGateGateway{}
			s := NewService(st, gw, func() time.Time { return at }, time.Hour, Dunning{})
			created, err := s.Create(context.Background(), Origin{Scope: "k"}, "coat", Request{
				Amount: &money.Money{Amount: 5000, Currency: "CHF"}, Backer: &Backer{Email: "ada@example.com", Name: "Ada"}})
			if len(st.replaces) != 1 || st.stored.Status != moved {
				t.Fatalf("writes %v, pledge now %s: want the one lost void and the pledge left %s", st.replaces, st.stored.Status, moved)
			}
			if len(gw.detached) != 0 {
				t.Fatalf("card detached from a %s pledge: %v", moved, gw.detached)
			}
			if err != nil {
				t.Fatalf("pledge moved to %s while its void was written: %v, want it answered as it is", moved, err)
			}
			if created.Pledge.Status != moved {
				t.Fatalf("answered a %s pledge, want it as it is now (%s)", created.Pledge.Status, moved)
			}
		})
	}
}
