package mongostore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
)

var _ campaign.Store = (*Store)(nil)

// CreateCampaign inserts a new campaign. Its slug is made unique by the unique index: on a clash
// the next free suffix ("-2", "-3", …) is tried, so two designers naming a campaign alike both succeed.
func (s *Store) CreateCampaign(ctx context.Context, c campaign.Campaign) (campaign.Campaign, error) {
	base := c.Slug
	for n := 2; ; n++ {
		_, err := s.db.Collection("campaigns").InsertOne(ctx, c)
		if err == nil {
			return c, nil
		}
		if !mongo.IsDuplicateKeyError(err) || n > 50 {
			return c, storeError("insert campaign: %w", err)
		}
		c.Slug = fmt.Sprintf("%s-%d", base, n)
		if n > 10 {
			// Many campaigns share this title: stop probing one by one.
			c.Slug = base + "-" + backstitch.NewID("x")[2:8]
		}
	}
}

// FindCampaign looks a campaign up by id.
func (s *Store) FindCampaign(ctx context.Context, id string) (campaign.Campaign, error) {
	var c campaign.Campaign
	err := s.db.Collection("campaigns").FindOne(ctx, bson.M{"_id": id}).Decode(&c)
	return c, notFound(err, "Campaign")
}

// FindCampaignBySlug looks a campaign up by slug. A slug this store resolved before is read by
// _id, which on the embedded store reads one document where a filter on slug reads them all.
// The id remembered is only a hint: the campaign read by it must still carry the slug, or the
// slug is looked up again, so a deleted campaign whose slug went to another is never served.
func (s *Store) FindCampaignBySlug(ctx context.Context, slug string) (campaign.Campaign, error) {
	var c campaign.Campaign
	if id, ok := s.slugs.get(slug); ok {
		c, err := s.FindCampaign(ctx, id)
		if err == nil && c.Slug == slug {
			return c, nil
		}
		if err != nil && backstitch.ErrorCode(err) != backstitch.CodeNotFound {
			return c, err
		}
		s.slugs.forget(slug)
	}
	err := s.db.Collection("campaigns").FindOne(ctx, bson.M{"slug": slug}).Decode(&c)
	if err == nil {
		s.slugs.put(slug, c.ID)
	}
	return c, notFound(err, "Campaign")
}

// slugIDs remembers which campaign id a slug resolved to. A campaign's slug is set when it is
// created and never changes, so the hint rarely misses; it is bounded, and starts over when full.
type slugIDs struct {
	mu  sync.Mutex
	ids map[string]string
}

const maxSlugIDs = 10000

func (m *slugIDs) get(slug string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.ids[slug]
	return id, ok
}

func (m *slugIDs) put(slug, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids == nil || len(m.ids) >= maxSlugIDs {
		m.ids = map[string]string{}
	}
	m.ids[slug] = id
}

func (m *slugIDs) forget(slug string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ids, slug)
}

// ReplaceCampaign writes next over prev if nobody changed the campaign since prev was read
// (compare-and-set on version). A lost race is a conflict the caller may retry.
func (s *Store) ReplaceCampaign(ctx context.Context, prev, next campaign.Campaign) (campaign.Campaign, error) {
	next.Version = prev.Version + 1
	// Totals are owned by pledging, not by whoever edits the campaign: never overwrite them here.
	update := bson.M{"$set": bson.M{
		"title": next.Title, "blurb": next.Blurb, "story": next.Story, "goal": next.Goal,
		"funding_model": next.FundingModel, "deadline": next.Deadline, "timezone": next.Timezone,
		"status": next.Status, "rejection_reason": next.RejectionReason, "launched_at": next.LaunchedAt,
		"updated_at": next.UpdatedAt, "version": next.Version, "history": next.History,
		"settlement": next.Settlement, "cancellation": next.Cancellation, "survey_days": next.SurveyDays,
		"owed": next.Owed, "owed_since": next.OwedSince, "reviewed": next.Reviewed,
	}}
	res, err := s.db.Collection("campaigns").UpdateOne(ctx,
		bson.M{"_id": prev.ID, "version": prev.Version, "status": prev.Status}, update)
	if err != nil {
		return prev, storeError("update campaign %s: %w", prev.ID, err)
	}
	if res.MatchedCount == 0 {
		return prev, backstitch.Errorf(backstitch.CodeConflict, "The campaign changed while this request ran; fetch it and try again.")
	}
	return next, nil
}

// ClearCampaignOwed removes a campaign's owed notices once the outbox holds them, if no step was
// written meanwhile (that step carried them on and delivers them itself). The version stays.
func (s *Store) ClearCampaignOwed(ctx context.Context, id string, version int64) error {
	_, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": id, "version": version},
		bson.M{"$unset": bson.M{"owed": "", "owed_since": ""}})
	if err != nil {
		return storeError("clear owed notices of %s: %w", id, err)
	}
	return nil
}

// FindCampaignsOwing lists campaigns whose owed notices were recorded at or before before.
func (s *Store) FindCampaignsOwing(ctx context.Context, before time.Time, limit int) ([]campaign.Campaign, error) {
	cur, err := s.db.Collection("campaigns").Find(ctx, bson.M{"owed_since": bson.M{"$lte": before}},
		options.Find().SetLimit(int64(limit)).SetProjection(bson.M{"history": 0, "story": 0}))
	if err != nil {
		return nil, storeError("find campaigns owing messages: %w", err)
	}
	var out []campaign.Campaign
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find campaigns owing messages: %w", err)
	}
	return out, nil
}

// ListCampaigns returns campaigns newest first: by launch time when every status asked for is a
// public (launched) one, else by creation time. It returns up to Limit+1 so the caller knows whether there is a next page.
func (s *Store) ListCampaigns(ctx context.Context, f campaign.ListFilter) ([]campaign.Campaign, error) {
	q := bson.M{}
	if len(f.Statuses) > 0 {
		q["status"] = bson.M{"$in": f.Statuses}
	}
	key := "launched_at"
	for _, st := range f.Statuses {
		if !st.Public() {
			key = "created_at"
		}
	}
	if f.DesignerID != "" {
		q["designer_id"] = f.DesignerID
		key = "created_at"
	}
	if len(f.Statuses) == 0 {
		key = "created_at"
	}
	if f.After != nil {
		at := f.After.CreatedAt
		if key == "launched_at" && f.After.LaunchedAt != nil {
			at = *f.After.LaunchedAt
		}
		q["$or"] = bson.A{
			bson.M{key: bson.M{"$lt": at}},
			bson.M{key: at, "_id": bson.M{"$lt": f.After.ID}},
		}
	}
	cur, err := s.db.Collection("campaigns").Find(ctx, q, options.Find().
		SetSort(bson.D{{Key: key, Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(f.Limit+1)).
		SetProjection(bson.M{"history": 0, "story": 0}))
	if err != nil {
		return nil, storeError("list campaigns: %w", err)
	}
	out := []campaign.Campaign{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("list campaigns: %w", err)
	}
	return out, nil
}

// CreateTier inserts a tier. The campaign's tier limit is not checked here: the campaign service
// takes a slot with ReserveTierSlot first.
func (s *Store) CreateTier(ctx context.Context, t campaign.Tier) error {
	if _, err := s.db.Collection("tiers").InsertOne(ctx, t); err != nil {
		return storeError("insert tier: %w", err)
	}
	return nil
}

// ReserveTierSlot takes one of a campaign's max tier slots: one conditional update of the campaign
// document (tier_count < max → +1), so racing creates can never pass the limit, as counting the
// tiers and then inserting could. It also hands out the next position (tier_seq), which deleting a
// tier never gives back, so positions stay unique. Neither field is part of campaign.Campaign:
// ReplaceCampaign sets named fields only and never touches them.
func (s *Store) ReserveTierSlot(ctx context.Context, campaignID string, max int) (int, error) {
	campaigns := s.db.Collection("campaigns")
	for range 2 {
		var doc struct {
			Seq int `bson:"tier_seq"`
		}
		err := campaigns.FindOneAndUpdate(ctx,
			bson.M{"_id": campaignID, "tier_count": bson.M{"$lt": max}},
			bson.M{"$inc": bson.M{"tier_count": 1, "tier_seq": 1}},
			// No projection: FerretDB's findAndModify does not implement one.
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
		if err == nil {
			return doc.Seq - 1, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return 0, storeError("reserve tier slot of %s: %w", campaignID, err)
		}
		counted, err := s.countTiersOnce(ctx, campaignID)
		if err != nil {
			return 0, err
		}
		if counted {
			continue
		}
		return 0, backstitch.Errorf(backstitch.CodeValidation, "A campaign can have at most %d tiers.", max)
	}
	return 0, backstitch.Errorf(backstitch.CodeValidation, "A campaign can have at most %d tiers.", max)
}

// countTiersOnce starts the tier counters of a campaign written before they existed, from its
// tiers, and reports whether they were missing (false: they exist, so the campaign is full).
// A missing campaign is not_found.
func (s *Store) countTiersOnce(ctx context.Context, campaignID string) (bool, error) {
	var doc struct {
		Count *int `bson:"tier_count"`
	}
	err := s.db.Collection("campaigns").FindOne(ctx, bson.M{"_id": campaignID},
		options.FindOne().SetProjection(bson.M{"tier_count": 1})).Decode(&doc)
	if err != nil {
		return false, notFound(err, "Campaign")
	}
	if doc.Count != nil {
		return false, nil
	}
	tiers, err := s.FindTiers(ctx, campaignID)
	if err != nil {
		return false, err
	}
	seq := 0
	for _, t := range tiers {
		seq = max(seq, t.Position+1)
	}
	// Only where the counters are still missing: a racing request may have started them already.
	if _, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": campaignID, "tier_count": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"tier_count": len(tiers), "tier_seq": seq}}); err != nil {
		return false, storeError("count tiers of %s: %w", campaignID, err)
	}
	return true, nil
}

// ReleaseTierSlot gives back a slot ReserveTierSlot took.
func (s *Store) ReleaseTierSlot(ctx context.Context, campaignID string) error {
	if _, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": campaignID, "tier_count": bson.M{"$gt": 0}},
		bson.M{"$inc": bson.M{"tier_count": -1}}); err != nil {
		return storeError("release tier slot of %s: %w", campaignID, err)
	}
	return nil
}

// FindTiers lists a campaign's tiers in the order they were added.
func (s *Store) FindTiers(ctx context.Context, campaignID string) ([]campaign.Tier, error) {
	cur, err := s.db.Collection("tiers").Find(ctx, bson.M{"campaign_id": campaignID},
		options.Find().SetSort(bson.D{{Key: "position", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, storeError("find tiers of %s: %w", campaignID, err)
	}
	out := []campaign.Tier{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find tiers of %s: %w", campaignID, err)
	}
	return out, nil
}

// FindTier looks up one tier of one campaign (a tier id of another campaign is not found).
func (s *Store) FindTier(ctx context.Context, campaignID, tierID string) (campaign.Tier, error) {
	// By _id alone, then the campaign checked here: the embedded FerretDB reads the whole
	// collection for any other filter, and every pledge request reads its tier.
	var t campaign.Tier
	err := s.db.Collection("tiers").FindOne(ctx, bson.M{"_id": tierID}).Decode(&t)
	if err == nil && t.CampaignID != campaignID {
		return campaign.Tier{}, notFound(mongo.ErrNoDocuments, "Tier")
	}
	return t, notFound(err, "Tier")
}

// ReplaceTier writes next if the tier's counters are still what prev saw: price, remaining and
// each session's and combination's places left were computed from them, so a pledge landing in
// between makes this a conflict rather than a lost unit or a repriced tier with backers. The
// counter revision is in the filter, not only the claimed count: a backer moving from one date
// to another claims and releases, leaving the count as it was and the dates' places not. The
// updated_at is in it too: two edits that read the same version must not both land, the second
// over the first with the same updated_at (Tier.touched gives both the same in one millisecond),
// since a copy of the tier proves itself current by its updated_at (ClaimTierUnitAsRead).
func (s *Store) ReplaceTier(ctx context.Context, prev, next campaign.Tier) error {
	res, err := s.db.Collection("tiers").UpdateOne(ctx,
		bson.M{"_id": prev.ID, "claimed": prev.Claimed, "remaining": prev.Remaining, "counter_rev": prev.CounterRev, "updated_at": prev.UpdatedAt},
		bson.M{"$set": bson.M{
			"title": next.Title, "description": next.Description, "kind": next.Kind, "price": next.Price,
			"options": next.Options, "stock": next.Stock, "stock_left": next.StockLeft, "stock_claimed": next.StockClaimed,
			"shipping_rates": next.ShippingRates, "sessions": next.Sessions, "session_change_cutoff_hours": next.SessionChangeCutoffHours,
			"limit": next.Limit, "remaining": next.Remaining, "ships": next.Ships,
			"estimated_delivery": next.EstimatedDelivery, "updated_at": next.UpdatedAt,
		}})
	if err != nil {
		return storeError("update tier %s: %w", prev.ID, err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeConflict, "The tier changed while this request ran; fetch it and try again.")
	}
	return nil
}

// DeleteTier removes a tier only while nobody holds a unit of it.
func (s *Store) DeleteTier(ctx context.Context, t campaign.Tier) error {
	res, err := s.db.Collection("tiers").DeleteOne(ctx, bson.M{"_id": t.ID, "claimed": 0})
	if err != nil {
		return storeError("delete tier %s: %w", t.ID, err)
	}
	if res.DeletedCount == 0 {
		return backstitch.Errorf(backstitch.CodeTierHasBackers, "This tier has backers and cannot be deleted.")
	}
	return nil
}

// BeginTierWrite records a tier write under way on its campaign and bumps the version, if the
// campaign is still in status: one conditional update, so a review decision that read the
// campaign before it fails its own compare-and-set, and one that reads it after sees the record.
func (s *Store) BeginTierWrite(ctx context.Context, campaignID string, status campaign.Status, id string, until time.Time, stale []string) error {
	update := bson.M{"$set": bson.M{"tier_writes." + id: until}, "$inc": bson.M{"version": int64(1)}}
	if len(stale) > 0 {
		drop := bson.M{}
		for _, old := range stale {
			drop["tier_writes."+old] = ""
		}
		update["$unset"] = drop
	}
	res, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": campaignID, "status": status}, update)
	if err != nil {
		return storeError("begin tier write on %s: %w", campaignID, err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeConflict, "The campaign changed while this request ran; fetch it and try again.")
	}
	return nil
}

// EndTierWrite removes the record BeginTierWrite made; the version stays, as for owed notices.
func (s *Store) EndTierWrite(ctx context.Context, campaignID, id string) error {
	if _, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": campaignID},
		bson.M{"$unset": bson.M{"tier_writes." + id: ""}}); err != nil {
		return storeError("end tier write on %s: %w", campaignID, err)
	}
	return nil
}

// ClaimTierUnit takes one unit of a tier for a pledge. For a limited tier it is one conditional
// update (remaining > 0 → remaining-1, claimed+1), never read-check-write, so the tier cannot be
// oversold however many pledges race for the last unit.
func (s *Store) ClaimTierUnit(ctx context.Context, tierID string, now time.Time, slots ...string) error {
	tiers := s.db.Collection("tiers")
	// A stocked combination (size M) or a session's place is claimed in the same update as the
	// tier's unit: all or none.
	filter, update := withSlots(bson.M{"_id": tierID, "remaining": bson.M{"$gt": 0}},
		bson.M{"claimed": int64(1), "remaining": int64(-1), "counter_rev": int64(1)}, slots, 1, now)
	res, err := tiers.UpdateOne(ctx, filter, update)
	if err != nil {
		return storeError("claim unit of tier %s: %w", tierID, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	// Unlimited tiers have no remaining count; they only count their backers.
	filter, update = withSlots(bson.M{"_id": tierID, "limit": nil}, bson.M{"claimed": int64(1), "counter_rev": int64(1)}, slots, 1, now)
	if res, err = tiers.UpdateOne(ctx, filter, update); err != nil {
		return storeError("claim unit of tier %s: %w", tierID, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	if len(slots) > 0 {
		if t, err := s.findTier(ctx, tierID); err == nil && (t.Remaining == nil || *t.Remaining > 0) {
			return slotSoldOut(t, slots)
		}
	}
	return backstitch.Errorf(backstitch.CodeSoldOut, "This reward is sold out.")
}

// ClaimTierUnitAsRead is ClaimTierUnit for a pledge validated against t, a copy of the tier that
// may be up to a second old (pledge.Service keeps such copies): the claim also requires the
// tier's updated_at to be t's, which every designer's write of a tier (ReplaceTier) sets, so
// the unit is taken only if t's price, options and limit are still the tier's. Knowing the
// limit, it sends one update for a limited tier and one for an unlimited one. When nothing
// matched, the tier is read (only then) to tell pledge.ErrTierChanged from sold out.
func (s *Store) ClaimTierUnitAsRead(ctx context.Context, t campaign.Tier, now time.Time, slots ...string) error {
	filter := bson.M{"_id": t.ID, "updated_at": t.UpdatedAt}
	inc := bson.M{"claimed": int64(1), "counter_rev": int64(1)}
	if t.Limit != nil {
		filter["remaining"], inc["remaining"] = bson.M{"$gt": 0}, int64(-1)
	} else {
		filter["limit"] = nil
	}
	filter, update := withSlots(filter, inc, slots, 1, now)
	res, err := s.db.Collection("tiers").UpdateOne(ctx, filter, update)
	if err != nil {
		return storeError("claim unit of tier %s: %w", t.ID, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	fresh, err := s.findTier(ctx, t.ID)
	switch {
	case err != nil:
		return err
	case !fresh.UpdatedAt.Equal(t.UpdatedAt) || (fresh.Limit == nil) != (t.Limit == nil):
		return fmt.Errorf("claim unit of tier %s: %w", t.ID, pledge.ErrTierChanged)
	case len(slots) > 0 && (fresh.Remaining == nil || *fresh.Remaining > 0):
		return slotSoldOut(fresh, slots)
	}
	return backstitch.Errorf(backstitch.CodeSoldOut, "This reward is sold out.")
}

// slotSoldOut says which of slots had no place left: the session when it is full, else the
// combination of options.
func slotSoldOut(t campaign.Tier, slots []string) error {
	field, what := "options", "no unit of this combination is left"
	for _, slot := range slots {
		if _, ok := t.SessionByID(slot); ok && t.StockLeft[slot] <= 0 {
			field, what = "session_id", "this session is full"
		}
	}
	return &backstitch.Error{Code: backstitch.CodeSoldOut, Message: "This choice is sold out; another may not be.",
		Fields: []backstitch.FieldError{{Field: field, Code: "sold_out", Message: what}}}
}

// ClaimTierSlots takes a place in each slot (a stocked combination, a session) of a tier whose
// unit the pledge already holds: a backer moving to another date or size within her tier. The
// tier's own count is left alone, so a sold-out tier does not refuse those already in it; the
// slots are claimed in one conditional update, all or none, never below zero.
func (s *Store) ClaimTierSlots(ctx context.Context, tierID string, now time.Time, slots ...string) error {
	filter, update := withSlots(bson.M{"_id": tierID}, bson.M{"counter_rev": int64(1)}, slots, 1, now)
	res, err := s.db.Collection("tiers").UpdateOne(ctx, filter, update)
	if err != nil {
		return storeError("claim places in tier %s: %w", tierID, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	t, err := s.findTier(ctx, tierID)
	if err != nil {
		return err
	}
	return slotSoldOut(t, slots)
}

// ReleaseTierSlots gives back places ClaimTierSlots took (or a moving pledge held), leaving the
// tier's unit with the pledge.
func (s *Store) ReleaseTierSlots(ctx context.Context, tierID string, now time.Time, slots ...string) error {
	filter, update := withSlots(bson.M{"_id": tierID}, bson.M{"counter_rev": int64(1)}, slots, -1, now)
	if _, err := s.db.Collection("tiers").UpdateOne(ctx, filter, update); err != nil {
		return storeError("release places in tier %s: %w", tierID, err)
	}
	return nil
}

// withSlots completes a tier's claim (delta 1) or release (delta -1) with its slots (stocked
// combinations, sessions): each guarded so it cannot go below zero, moved in the same update,
// and the time of the move recorded for recounts.
func withSlots(filter, inc bson.M, slots []string, delta int64, now time.Time) (bson.M, bson.M) {
	guard := "stock_left."
	if delta < 0 {
		guard = "stock_claimed."
	}
	for _, slot := range slots {
		filter[guard+slot] = bson.M{"$gt": 0}
		inc["stock_left."+slot], inc["stock_claimed."+slot] = -delta, delta
	}
	return filter, bson.M{"$inc": inc, "$set": bson.M{"counted_at": now}}
}

func (s *Store) findTier(ctx context.Context, id string) (campaign.Tier, error) {
	var t campaign.Tier
	err := s.db.Collection("tiers").FindOne(ctx, bson.M{"_id": id}).Decode(&t)
	return t, notFound(err, "Tier")
}

// SetTierClaimed writes a recounted number of claimed units (and what remains of the limit) if
// the tier's counters and limit are still as t was read: a claim, a release or a designer's edit
// landing meanwhile makes it a no-op that answers false.
func (s *Store) SetTierClaimed(ctx context.Context, t campaign.Tier, claimed int64, stockClaimed map[string]int64) (bool, error) {
	set := bson.M{"claimed": claimed}
	if t.Limit != nil {
		set["remaining"] = max(0, *t.Limit-claimed)
	}
	for id, n := range stockClaimed {
		set["stock_claimed."+id] = n
		set["stock_left."+id] = t.SlotLeft(id, n)
	}
	res, err := s.db.Collection("tiers").UpdateOne(ctx,
		bson.M{"_id": t.ID, "counter_rev": t.CounterRev, "claimed": t.Claimed, "limit": t.Limit},
		bson.M{"$set": set, "$inc": bson.M{"counter_rev": int64(1)}})
	if err != nil {
		return false, storeError("recount tier %s: %w", t.ID, err)
	}
	return res.MatchedCount == 1, nil
}

// FindCampaignsToSettle lists live campaigns whose deadline has passed, succeeded all-or-nothing
// ones whose deadline charges are not all done, failed and succeeded flexible ones whose
// pledges are not all swept (a settler died or is still at work), and cancelled ones winding
// down: settlement.Due is the same rule.
func (s *Store) FindCampaignsToSettle(ctx context.Context, now time.Time) ([]string, error) {
	return s.findIDs(ctx, "campaigns", bson.M{"$or": bson.A{
		bson.M{"status": campaign.StatusLive, "deadline": bson.M{"$lte": now}},
		bson.M{"status": campaign.StatusSucceeded, "funding_model": campaign.AllOrNothing, "settlement.charged_at": nil},
		bson.M{"status": campaign.StatusSucceeded, "funding_model": campaign.Flexible, "settlement.swept_at": nil},
		bson.M{"status": campaign.StatusFailed, "settlement.swept_at": nil},
		bson.M{"status": campaign.StatusCancelled, "cancellation.winding_down": true},
	}})
}

// findIDs lists the ids of a collection's documents matching filter.
func (s *Store) findIDs(ctx context.Context, coll string, filter bson.M) ([]string, error) {
	cur, err := s.db.Collection(coll).Find(ctx, filter, options.Find().SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return nil, storeError("find %s ids: %w", coll, err)
	}
	var ids []string
	for cur.Next(ctx) {
		var doc struct {
			ID string `bson:"_id"`
		}
		if err := cur.Decode(&doc); err != nil {
			return nil, storeError("find %s ids: %w", coll, err)
		}
		ids = append(ids, doc.ID)
	}
	return ids, classify(cur.Err())
}

// FindCampaignsToPayOut lists succeeded campaigns decided before the given instant whose
// designer has not yet received everything owed.
func (s *Store) FindCampaignsToPayOut(ctx context.Context, decidedBefore time.Time) ([]campaign.Campaign, error) {
	cur, err := s.db.Collection("campaigns").Find(ctx, bson.M{"status": campaign.StatusSucceeded,
		"settlement.decided_at": bson.M{"$lte": decidedBefore}, "settlement.paid_out_at": nil},
		options.Find().SetProjection(bson.M{"history": 0, "story": 0}))
	if err != nil {
		return nil, storeError("find campaigns to pay out: %w", err)
	}
	out := []campaign.Campaign{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find campaigns to pay out: %w", err)
	}
	return out, nil
}
