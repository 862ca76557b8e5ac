package pledge

import (
	"context"
	"sync"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// CopyTTL is how long a pledge request may use a copy of a live campaign or of a tier instead of
// reading it: the public pages already show campaigns up to a second and a half old. A copy only
// ever admits a pledge that the store then proves right: the tier's claim requires the tier to be
// unchanged since the copy (ClaimTierUnitAsRead), the campaign's gate is read after the insert
// (Create), and a refusal on a copy is checked against a fresh read. Every write of a campaign
// or tier on this instance drops its copies at once (CampaignChanged); on other instances they
// die of age.
const CopyTTL = time.Second

// maxCopies bounds each map of copies; a full map starts over (as the store's slug hints do).
const maxCopies = 4096

// copies are short-lived copies of live campaigns (by id and by slug) and of their tiers.
type copies struct {
	mu        sync.Mutex
	campaigns map[string]campaignCopy
	tiers     map[string]tierCopy
	// reads are the store reads under way for a copy, by key: a copy that runs out under load
	// is read once, not by every request in flight (they queue on the embedded store's one
	// connection, each read a command).
	reads map[string]chan struct{}
	// changes counts forget calls: a read that began before a change keeps no copy, which
	// would show the campaign as it was before the change for up to CopyTTL.
	changes uint64
}

// changed is the count of changes so far, taken before a read whose copy is to be kept.
func (k *copies) changed() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.changes
}

// share runs read if no read of key is under way, and reports led; otherwise it waits for
// that read to end (the caller then looks at the copies again: the read may have kept none).
func (k *copies) share(ctx context.Context, key string, read func()) (led bool, err error) {
	k.mu.Lock()
	if under, ok := k.reads[key]; ok {
		k.mu.Unlock()
		select {
		case <-under:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	done := make(chan struct{})
	if k.reads == nil {
		k.reads = map[string]chan struct{}{}
	}
	k.reads[key] = done
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.reads, key)
		k.mu.Unlock()
		close(done)
	}()
	read()
	return true, nil
}

type campaignCopy struct {
	c  campaign.Campaign
	at time.Time
}

type tierCopy struct {
	t  campaign.Tier
	at time.Time
}

func fresh(at, now time.Time) bool { return !now.Before(at) && now.Sub(at) < CopyTTL }

func (k *copies) campaign(ref string, now time.Time) (campaign.Campaign, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.campaigns[ref]
	return c.c, ok && fresh(c.at, now)
}

// putCampaign keeps a copy of c if it is live: other campaigns are read each time, so one that
// goes live is pledgeable at once.
func (k *copies) putCampaign(c campaign.Campaign, now time.Time, since uint64) {
	if c.Status != campaign.StatusLive {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.changes != since {
		return
	}
	if k.campaigns == nil || len(k.campaigns) >= maxCopies {
		k.campaigns = map[string]campaignCopy{}
	}
	k.campaigns[c.ID] = campaignCopy{c, now}
	k.campaigns[c.Slug] = campaignCopy{c, now}
}

func (k *copies) tier(id string, now time.Time) (campaign.Tier, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.tiers[id]
	return t.t, ok && fresh(t.at, now)
}

func (k *copies) putTier(t campaign.Tier, now time.Time, since uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.changes != since {
		return
	}
	if k.tiers == nil || len(k.tiers) >= maxCopies {
		k.tiers = map[string]tierCopy{}
	}
	k.tiers[t.ID] = tierCopy{t, now}
}

// forget drops the copies of a campaign and of its tiers.
func (k *copies) forget(campaignID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.changes++
	if c, ok := k.campaigns[campaignID]; ok {
		delete(k.campaigns, c.c.Slug)
		delete(k.campaigns, campaignID)
	}
	for id, t := range k.tiers {
		if t.t.CampaignID == campaignID {
			delete(k.tiers, id)
		}
	}
}

// CampaignChanged drops this instance's copies of a campaign and its tiers: the campaign and
// settlement services call it after each write of them (its status, its tiers), so a pledge on
// the instance that made the change never sees the campaign as it was.
func (s *Service) CampaignChanged(campaignID string) { s.copies.forget(campaignID) }

// CampaignCopy is the campaign with this id or slug as a pledge request may use it: a copy at
// most CopyTTL old if one is kept, else read (and kept if live). Callers that need the campaign
// as it is now read the store.
func (s *Service) CampaignCopy(ctx context.Context, ref string) (campaign.Campaign, error) {
	return copied(ctx, s, "campaign\x00"+ref,
		func() (campaign.Campaign, bool) { return s.copies.campaign(ref, s.now()) },
		func() (campaign.Campaign, error) { return s.readCampaign(ctx, ref) })
}

// copied answers the copy kept finds, else reads it: one read for all the requests in flight
// that miss the same copy (share), each of the others then taking the copy that read kept, or
// reading for itself if it kept none.
func copied[T any](ctx context.Context, s *Service, key string, kept func() (T, bool), read func() (T, error)) (T, error) {
	if v, ok := kept(); ok {
		return v, nil
	}
	var v T
	var err error
	led, werr := s.copies.share(ctx, key, func() { v, err = read() })
	switch {
	case werr != nil:
		return v, werr
	case led:
		return v, err
	}
	if v, ok := kept(); ok {
		return v, nil
	}
	return read()
}

// readCampaign reads the campaign with this id or slug, and keeps a copy if it is live.
func (s *Service) readCampaign(ctx context.Context, ref string) (campaign.Campaign, error) {
	now, since := s.now(), s.copies.changed()
	var c campaign.Campaign
	var err error
	if backstitch.IsID("cam", ref) {
		c, err = s.store.FindCampaign(ctx, ref)
	} else {
		c, err = s.store.FindCampaignBySlug(ctx, ref)
	}
	if err == nil {
		s.copies.putCampaign(c, now, since)
	}
	return c, err
}

// tierCopy is a campaign's tier as a new pledge may be validated against (see CopyTTL); asRead
// reads it from the store.
func (s *Service) tierCopy(ctx context.Context, campaignID, tierID string, asRead bool) (campaign.Tier, error) {
	if asRead {
		return s.readTier(ctx, campaignID, tierID)
	}
	return copied(ctx, s, "tier\x00"+tierID,
		func() (campaign.Tier, bool) {
			t, ok := s.copies.tier(tierID, s.now())
			return t, ok && t.CampaignID == campaignID
		},
		func() (campaign.Tier, error) { return s.readTier(ctx, campaignID, tierID) })
}

// readTier reads a campaign's tier and keeps a copy.
func (s *Service) readTier(ctx context.Context, campaignID, tierID string) (campaign.Tier, error) {
	now, since := s.now(), s.copies.changed()
	t, err := s.store.FindTier(ctx, campaignID, tierID)
	if err == nil {
		s.copies.putTier(t, now, since)
	}
	return t, err
}
