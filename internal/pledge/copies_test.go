package pledge

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
)

// A pledge may use a copy only while it is younger than CopyTTL, only of a live campaign (one
// that goes live is pledgeable at once, not a second later), and never after its campaign
// changed on this instance (nor a copy read before that change).
func TestCopiesAreLiveYoungAndDroppedOnChange(t *testing.T) {
	var k copies
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	live := campaign.Campaign{ID: "cam_1", Slug: "coat", Status: campaign.StatusLive}
	k.putCampaign(campaign.Campaign{ID: "cam_2", Slug: "draft", Status: campaign.StatusApproved}, at, k.changed())
	if _, ok := k.campaign("cam_2", at); ok {
		t.Fatal("a campaign not live was kept")
	}
	k.putCampaign(live, at, k.changed())
	k.putTier(campaign.Tier{ID: "tier_1", CampaignID: "cam_1"}, at, k.changed())
	k.putTier(campaign.Tier{ID: "tier_2", CampaignID: "cam_3"}, at, k.changed())
	for _, ref := range []string{"cam_1", "coat"} {
		if _, ok := k.campaign(ref, at.Add(CopyTTL-time.Millisecond)); !ok {
			t.Fatalf("copy of %s gone before CopyTTL", ref)
		}
		if _, ok := k.campaign(ref, at.Add(CopyTTL)); ok {
			t.Fatalf("copy of %s used at CopyTTL", ref)
		}
	}
	if _, ok := k.tier("tier_1", at.Add(CopyTTL)); ok {
		t.Fatal("tier copy used at CopyTTL")
	}
	k.forget("cam_1")
	if _, ok := k.campaign("coat", at); ok {
		t.Fatal("copy by slug kept after its campaign changed")
	}
	if _, ok := k.tier("tier_1", at); ok {
		t.Fatal("tier copy kept after its campaign changed")
	}
	if _, ok := k.tier("tier_2", at); !ok {
		t.Fatal("another campaign's tier was dropped")
	}
	// A read that began before a change keeps nothing: it may hold the campaign as it was.
	before := k.changed()
	k.forget("cam_1")
	k.putCampaign(live, at, before)
	if _, ok := k.campaign("cam_1", at); ok {
		t.Fatal("a read that began before a change kept its copy")
	}
}

// slowStore answers FindCampaignBySlug once released, counting the reads.
type slowStore struct {
	Store
	c       campaign.Campaign
	reads   atomic.Int64
	release chan struct{}
}

func (s *slowStore) FindCampaignBySlug(ctx context.Context, slug string) (campaign.Campaign, error) {
	s.reads.Add(1)
	<-s.release
	return s.c, nil
}

// A copy that runs out under load is read once by the requests in flight, not once each: they
// would queue their reads on the embedded store's one connection.
func TestCampaignCopyIsReadOnceByRequestsInFlight(t *testing.T) {
	st := &slowStore{c: campaign.Campaign{ID: "cam_1", Slug: "coat", Status: campaign.StatusLive}, release: make(chan struct{})}
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	s := NewService(st, nil, func() time.Time { return at }, time.Minute, Dunning{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if c, err := s.CampaignCopy(context.Background(), "coat"); err != nil || c.ID != "cam_1" {
				t.Errorf("copy: %+v %v", c.ID, err)
			}
		})
	}
	for st.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others arrive while the first read is under way
	close(st.release)
	wg.Wait()
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("%d reads of the campaign by 8 requests, want 1", n)
	}
}
