package pledge

import (
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/campaign"
)

// A pledge may use a copy only while it is younger than CopyTTL, only of a live campaign (one
// that goes live is pledgeable at once, not a second later), and never after its campaign
// changed on this instance.
func TestCopiesAreLiveYoungAndDroppedOnChange(t *testing.T) {
	var k copies
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	live := campaign.Campaign{ID: "cam_1", Slug: "coat", Status: campaign.StatusLive}
	k.putCampaign(campaign.Campaign{ID: "cam_2", Slug: "draft", Status: campaign.StatusApproved}, at)
	if _, ok := k.campaign("cam_2", at); ok {
		t.Fatal("a campaign not live was kept")
	}
	k.putCampaign(live, at)
	k.putTier(campaign.Tier{ID: "tier_1", CampaignID: "cam_1"}, at)
	k.putTier(campaign.Tier{ID: "tier_2", CampaignID: "cam_3"}, at)
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
}
