package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/pledge"
)

// CreatePledge inserts a new pledge; an existing id is a conflict (the caller resumes it instead).
func (s *Store) CreatePledge(ctx context.Context, p pledge.Pledge) error {
	if _, err := s.db.Collection("pledges").InsertOne(ctx, p); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return backstitch.Errorf(backstitch.CodeConflict, "This pledge already exists.")
		}
		return storeError("insert pledge: %w", err)
	}
	return nil
}

// FindPledge looks a pledge up by id.
func (s *Store) FindPledge(ctx context.Context, id string) (pledge.Pledge, error) {
	if s.scanner != nil {
		return s.scannedPledge(ctx, id)
	}
	var p pledge.Pledge
	err := s.db.Collection("pledges").FindOne(ctx, bson.M{"_id": id}).Decode(&p)
	return p, notFound(err, "Pledge")
}

// scannedPledge is FindPledge on the embedded store: one read of the store's files
// (embedded.Server.ScanDocs) instead of a FerretDB command that waits its turn for the store's
// one connection behind every other request's (bench/pledges: each pledge's replay read was one
// of its four commands). It sees every write acknowledged before it starts, as a FerretDB find
// does: FerretDB commits each write before it answers, the files are in WAL mode, and each read
// is a transaction of its own that begins at the latest commit (the Scanner keeps no read
// transaction open between reads). Callers that read after their own write rely on that.
func (s *Store) scannedPledge(ctx context.Context, id string) (pledge.Pledge, error) {
	read, err := s.indexedPledges(ctx, []string{id})
	if err != nil {
		return pledge.Pledge{}, err
	}
	p, found := read[id]
	if !found {
		return pledge.Pledge{}, backstitch.Errorf(backstitch.CodeNotFound, "Pledge not found.")
	}
	return p, nil
}

// FindPledgeByIntent finds the pledge a SetupIntent or PaymentIntent belongs to.
func (s *Store) FindPledgeByIntent(ctx context.Context, intentID string) (pledge.Pledge, error) {
	var p pledge.Pledge
	err := s.db.Collection("pledges").FindOne(ctx, bson.M{"$or": bson.A{
		bson.M{"setup_intent_id": intentID}, bson.M{"payment_intent_id": intentID},
	}}).Decode(&p)
	return p, notFound(err, "Pledge")
}

// ReplacePledge writes next if the pledge is still as prev was read (compare-and-set on version
// and status), so two paths applying the same Stripe outcome (the response and the webhook) apply
// it once.
func (s *Store) ReplacePledge(ctx context.Context, prev, next pledge.Pledge) (pledge.Pledge, error) {
	next.Version = prev.Version + 1
	ok, err := s.casPledge(ctx, prev, next, func(cur pledge.Pledge) bool { return true },
		bson.M{"_id": prev.ID, "version": prev.Version, "status": prev.Status})
	if err != nil {
		return prev, err
	}
	if !ok {
		return prev, backstitch.Errorf(backstitch.CodeConflict, "The pledge changed while this request ran; fetch it and try again.")
	}
	return next, nil
}

// lock takes a document's lock on a store with Locks (every write to a pledge must, or a
// read-compare-write could overwrite it), and does nothing otherwise.
func (s *Store) lock(key string) (unlock func()) {
	if s.locks == nil {
		return func() {}
	}
	return s.locks.Lock(key)
}

// underLock is the context for the commands of a caller that now holds documents' locks. For a
// caller still there, that is its context no longer cancelled with it, so that every command
// sent under the locks has its answer before they are let go: FerretDB goes on with a command
// whose caller gave up, and one that read a document before the lock was let go and wrote it
// after would write what it read over the next holder's write. The driver's own timeout still
// bounds each command. A caller gone by then (a settler that lost its lease) keeps its cancelled
// context: nothing is sent for it. Without Locks there is no lock to outlive.
func (s *Store) underLock(ctx context.Context) context.Context {
	if s.locks == nil || ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// casPledge writes next if the stored pledge still has prev's version and status and passes
// extra: with one conditional replace on MongoDB, or, on a store with Locks, by reading, checking
// and writing by _id under the pledge's lock (see Options.Locks).
func (s *Store) casPledge(ctx context.Context, prev, next pledge.Pledge, extra func(pledge.Pledge) bool, filter bson.M) (bool, error) {
	coll := s.db.Collection("pledges")
	attempt := func() (bool, error) {
		res, err := coll.ReplaceOne(ctx, filter, next)
		if err != nil {
			return false, storeError("update pledge %s: %w", prev.ID, err)
		}
		return res.MatchedCount == 1, nil
	}
	if s.locks != nil {
		defer s.lock("pledges/" + prev.ID)()
		ctx = s.underLock(ctx)
		attempt = func() (bool, error) {
			stamps, err := s.pledgeStamps(ctx, []string{prev.ID})
			if err != nil {
				return false, err
			}
			cur, ok := stamps[prev.ID]
			if !ok {
				return false, storeError("update pledge %s: %w", prev.ID, notFound(mongo.ErrNoDocuments, "Pledge"))
			}
			if cur.Version != prev.Version || cur.Status != prev.Status || !extra(cur) {
				return false, nil
			}
			if err := s.replacePledgesByID(ctx, []pledge.Pledge{next}); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	return retryCAS(ctx, attempt, func() (bool, error) { return s.pledgeIs(ctx, next) })
}

// pledgeIs reports whether the stored pledge is exactly want, as a write of want stores it: how a
// compare-and-set whose answer was lost tells that its write was applied. The version alone would
// not do, since a concurrent writer from the same version writes the same number.
func (s *Store) pledgeIs(ctx context.Context, want pledge.Pledge) (bool, error) {
	var stored pledge.Pledge
	if err := s.db.Collection("pledges").FindOne(ctx, bson.M{"_id": want.ID}).Decode(&stored); err != nil {
		return false, storeError("read back pledge %s: %w", want.ID, notFound(err, "Pledge"))
	}
	return storedAs(stored, want)
}

// CountConfirmAttempt numbers a new confirmation of a pledge atomically and returns the pledge.
func (s *Store) CountConfirmAttempt(ctx context.Context, id string) (pledge.Pledge, error) {
	defer s.lock("pledges/" + id)()
	ctx = s.underLock(ctx)
	var p pledge.Pledge
	err := s.db.Collection("pledges").FindOneAndUpdate(ctx, bson.M{"_id": id},
		bson.M{"$inc": bson.M{"confirm_attempts": 1, "version": int64(1)}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&p)
	return p, notFound(err, "Pledge")
}

// FindPledgesToSweep lists pending pledges whose hold has run out and pledges whose last
// transition left counters or messages owed since staleBefore: in one query on MongoDB, from
// indexes on the embedded store's files (see findDuePledges).
func (s *Store) FindPledgesToSweep(ctx context.Context, now, staleBefore time.Time, limit int) ([]pledge.Pledge, error) {
	if s.scanner != nil {
		return s.findDuePledges(ctx, []dueTerm{
			{equal: map[string]string{"status": string(pledge.StatusPending)}, path: "hold_expires_at", before: now},
			{path: "pending.since", before: staleBefore},
			{path: "owed_since", before: staleBefore},
		}, func(p pledge.Pledge) bool {
			return p.Status == pledge.StatusPending && atOrBefore(&p.HoldExpiresAt, now) ||
				p.Pending != nil && atOrBefore(&p.Pending.Since, staleBefore) ||
				atOrBefore(p.OwedSince, staleBefore)
		}, limit)
	}
	cur, err := s.db.Collection("pledges").Find(ctx, bson.M{"$or": bson.A{
		bson.M{"status": pledge.StatusPending, "hold_expires_at": bson.M{"$lte": now}},
		bson.M{"pending.since": bson.M{"$lte": staleBefore}},
		bson.M{"owed_since": bson.M{"$lte": staleBefore}},
	}}, options.Find().SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("find pledges to sweep: %w", err)
	}
	out := []pledge.Pledge{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find pledges to sweep: %w", err)
	}
	return out, nil
}

// ClearPending removes a pledge's record of owed counter changes once they are applied, if it is
// still the record of that transition (seq). It leaves the version alone: clearing is not a
// change of the pledge, and must not make a concurrent writer's compare-and-set fail.
func (s *Store) ClearPending(ctx context.Context, pledgeID, seq string) error {
	coll := s.db.Collection("pledges")
	unset := bson.M{"$unset": bson.M{"pending": ""}}
	if s.locks == nil {
		// Clearing twice is clearing once: repeated after a transient failure.
		_, err := retryCAS(ctx, func() (bool, error) {
			if _, err := coll.UpdateOne(ctx, bson.M{"_id": pledgeID, "pending.seq": seq}, unset); err != nil {
				return false, storeError("clear pending of %s: %w", pledgeID, err)
			}
			return true, nil
		}, func() (bool, error) { return false, nil })
		return err
	}
	defer s.lock("pledges/" + pledgeID)()
	ctx = s.underLock(ctx)
	var cur pledge.Pledge
	if err := coll.FindOne(ctx, bson.M{"_id": pledgeID}, options.FindOne().SetProjection(bson.M{"pending": 1})).Decode(&cur); err != nil {
		return storeError("clear pending of %s: %w", pledgeID, notFound(err, "Pledge"))
	}
	if cur.Pending == nil || cur.Pending.Seq != seq {
		return nil
	}
	_, err := retryCAS(ctx, func() (bool, error) {
		if _, err := coll.UpdateOne(ctx, bson.M{"_id": pledgeID}, unset); err != nil {
			return false, storeError("clear pending of %s: %w", pledgeID, err)
		}
		return true, nil
	}, func() (bool, error) { return false, nil })
	return err
}

// ClearOwed removes a pledge's owed notices once the outbox holds them, with the seal of the
// manage token its confirmation carried, if the pledge is still at version: a change written
// meanwhile carried them on and delivers them itself. Like ClearPending it leaves the version
// alone.
func (s *Store) ClearOwed(ctx context.Context, pledgeID string, version int64) error {
	coll := s.db.Collection("pledges")
	unset := bson.M{"$unset": bson.M{"owed": "", "owed_since": "", "manage_seal": ""}}
	filter := bson.M{"_id": pledgeID, "version": version}
	if s.locks != nil {
		// The embedded FerretDB pushes only a bare _id filter down (any other filter scans the
		// collection), so the version is checked under the pledge's lock instead.
		defer s.lock("pledges/" + pledgeID)()
		ctx = s.underLock(ctx)
		var cur pledge.Pledge
		if err := coll.FindOne(ctx, bson.M{"_id": pledgeID}, options.FindOne().SetProjection(bson.M{"version": 1})).Decode(&cur); err != nil {
			return storeError("clear owed notices of %s: %w", pledgeID, notFound(err, "Pledge"))
		}
		if cur.Version != version {
			return nil
		}
		filter = bson.M{"_id": pledgeID}
	}
	_, err := retryCAS(ctx, func() (bool, error) {
		if _, err := coll.UpdateOne(ctx, filter, unset); err != nil {
			return false, storeError("clear owed notices of %s: %w", pledgeID, err)
		}
		return true, nil
	}, func() (bool, error) { return false, nil })
	return err
}

// ReleaseTierUnit gives back a unit a pledge held. Callers release only after winning the
// pledge's own state change, so each unit comes back exactly once.
func (s *Store) ReleaseTierUnit(ctx context.Context, tierID string, now time.Time, slots ...string) error {
	tiers := s.db.Collection("tiers")
	filter, update := withSlots(bson.M{"_id": tierID, "claimed": bson.M{"$gt": 0}, "limit": bson.M{"$ne": nil}},
		bson.M{"claimed": int64(-1), "remaining": int64(1), "counter_rev": int64(1)}, slots, -1, now)
	res, err := tiers.UpdateOne(ctx, filter, update)
	if err != nil {
		return storeError("release unit of tier %s: %w", tierID, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	filter, update = withSlots(bson.M{"_id": tierID, "claimed": bson.M{"$gt": 0}, "limit": nil},
		bson.M{"claimed": int64(-1), "counter_rev": int64(1)}, slots, -1, now)
	if _, err := tiers.UpdateOne(ctx, filter, update); err != nil {
		return storeError("release unit of tier %s: %w", tierID, err)
	}
	return nil
}

// AddToTotals moves a campaign's pledged total and backer count by the given amounts, atomically.
func (s *Store) AddToTotals(ctx context.Context, campaignID string, amount, backers int64) error {
	_, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": campaignID},
		bson.M{"$inc": bson.M{"pledged": amount, "backers_count": backers, "counter_rev": int64(1)}})
	if err != nil {
		return storeError("update totals of %s: %w", campaignID, err)
	}
	return nil
}

// SetTotals writes recounted totals if no pledge moved them since they were read at revision rev.
func (s *Store) SetTotals(ctx context.Context, campaignID string, rev, pledged, backers int64) (bool, error) {
	res, err := s.db.Collection("campaigns").UpdateOne(ctx, bson.M{"_id": campaignID, "counter_rev": rev},
		bson.M{"$set": bson.M{"pledged": pledged, "backers_count": backers}, "$inc": bson.M{"counter_rev": int64(1)}})
	if err != nil {
		return false, storeError("recount totals of %s: %w", campaignID, err)
	}
	return res.MatchedCount == 1, nil
}

// CampaignIDs lists every campaign id, for repairs over the whole store.
func (s *Store) CampaignIDs(ctx context.Context) ([]string, error) {
	return s.findIDs(ctx, "campaigns", bson.M{})
}

// StripeEventSeen reports whether an event with this id was already applied and stored.
func (s *Store) StripeEventSeen(ctx context.Context, id string) (bool, error) {
	err := s.db.Collection("stripe_events").FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	}
	return false, storeError("look up stripe event %s: %w", id, err)
}

// RecordStripeEvent stores an applied event once under its id. A concurrent delivery of the same
// event that stored it first is not an error: applying is idempotent, storing happens once.
// (Stored after applying, in one insert, rather than inserted and then marked: on the embedded
// FerretDB every update costs time in proportion to the collection's size.)
func (s *Store) RecordStripeEvent(ctx context.Context, e backstitch.StripeEvent) error {
	if _, err := s.db.Collection("stripe_events").InsertOne(ctx, e); err != nil && !mongo.IsDuplicateKeyError(err) {
		return storeError("store stripe event %s: %w", e.ID, err)
	}
	return nil
}

// CountPledges counts every pledge, whatever its state.
func (s *Store) CountPledges(ctx context.Context) (int64, error) {
	n, err := s.db.Collection("pledges").CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, storeError("count pledges: %w", err)
	}
	return n, nil
}

// CountStripeEvents counts the webhook events received.
func (s *Store) CountStripeEvents(ctx context.Context) (int64, error) {
	n, err := s.db.Collection("stripe_events").CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, storeError("count stripe events: %w", err)
	}
	return n, nil
}

// FindPledgesByStatus pages through a campaign's pledges in the given states, by id: at most
// limit of them (all, for a limit of 0), fewer only at the end. On the embedded store from an
// index on its files (see findPledgesByStatusFromIndex).
func (s *Store) FindPledgesByStatus(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error) {
	if s.scanner != nil && limit > 0 {
		return s.findPledgesByStatusFromIndex(ctx, campaignID, statuses, afterID, limit)
	}
	q := bson.M{"campaign_id": campaignID, "status": bson.M{"$in": statuses}}
	if afterID != "" {
		q["_id"] = bson.M{"$gt": afterID}
	}
	cur, err := s.db.Collection("pledges").Find(ctx, q, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("find pledges of %s: %w", campaignID, err)
	}
	out := []pledge.Pledge{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find pledges of %s: %w", campaignID, err)
	}
	return out, nil
}

// FindPledgesForDunning lists failed deadline charges whose next automatic retry is due or
// whose dunning window has closed, and charges left "charging" since before chargingBefore:
// in one query on MongoDB, from indexes on the embedded store's files (see findDuePledges).
func (s *Store) FindPledgesForDunning(ctx context.Context, now, failedBefore, chargingBefore time.Time, limit int) ([]pledge.Pledge, error) {
	if s.scanner != nil {
		failed := map[string]string{"status": string(pledge.StatusPaymentFailed)}
		return s.findDuePledges(ctx, []dueTerm{
			{equal: failed, path: "next_retry_at", before: now},
			{equal: failed, path: "first_failed_at", before: failedBefore},
			{equal: map[string]string{"status": string(pledge.StatusCharging)}, path: "updated_at", before: chargingBefore},
		}, func(p pledge.Pledge) bool {
			return p.Status == pledge.StatusPaymentFailed && (atOrBefore(p.NextRetryAt, now) || atOrBefore(p.FirstFailedAt, failedBefore)) ||
				p.Status == pledge.StatusCharging && atOrBefore(&p.UpdatedAt, chargingBefore)
		}, limit)
	}
	cur, err := s.db.Collection("pledges").Find(ctx, bson.M{"$or": bson.A{
		bson.M{"status": pledge.StatusPaymentFailed, "$or": bson.A{
			bson.M{"next_retry_at": bson.M{"$lte": now}},
			bson.M{"first_failed_at": bson.M{"$lte": failedBefore}},
		}},
		bson.M{"status": pledge.StatusCharging, "updated_at": bson.M{"$lte": chargingBefore}},
	}}, options.Find().SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("find pledges for dunning: %w", err)
	}
	out := []pledge.Pledge{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find pledges for dunning: %w", err)
	}
	return out, nil
}

// FencedReplacePledge is ReplacePledge for a settler holding a lease: the write also carries the
// lease's fencing token and is refused if a later holder already wrote the pledge.
func (s *Store) FencedReplacePledge(ctx context.Context, prev, next pledge.Pledge, token int64) (pledge.Pledge, error) {
	next.Version = prev.Version + 1
	next.Fence = token
	ok, err := s.casPledge(ctx, prev, next, func(cur pledge.Pledge) bool { return cur.Fence <= token },
		bson.M{"_id": prev.ID, "version": prev.Version, "status": prev.Status, "fence": bson.M{"$lte": token}})
	if err != nil {
		return prev, err
	}
	if !ok {
		return prev, backstitch.Errorf(backstitch.CodeConflict, "The pledge changed meanwhile, or a newer settler holds it.")
	}
	return next, nil
}

// FencedReplacePledges is FencedReplacePledge for a batch, sent as one command: the settler
// claims its deadline charges this way (issue 16), so a batch costs one round trip instead of one
// per pledge. Each pledge is still its own compare-and-set (version, status, fence); the ones
// that lost it (a pledge cancelled or otherwise changed since it was read, a newer settler) are
// left as they are. It answers the pledges it wrote, as written. An error may leave some written
// and some not: every write is a complete step on its own, so the caller can resume from the
// stored state.
func (s *Store) FencedReplacePledges(ctx context.Context, prevs, nexts []pledge.Pledge, token int64) ([]pledge.Pledge, error) {
	if len(prevs) != len(nexts) {
		return nil, storeError("replace pledges: %w", errors.New("as many previous states as next ones are needed"))
	}
	if len(prevs) == 0 {
		return nil, nil
	}
	written := make([]pledge.Pledge, len(nexts))
	for i, next := range nexts {
		next.Version, next.Fence = prevs[i].Version+1, token
		written[i] = next
	}
	coll := s.db.Collection("pledges")
	if s.locks != nil {
		return s.fencedReplaceLocked(ctx, prevs, written, token)
	}
	models := make([]mongo.WriteModel, len(prevs))
	ids := make([]string, len(prevs))
	for i, prev := range prevs {
		ids[i] = prev.ID
		models[i] = mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": prev.ID, "version": prev.Version, "status": prev.Status,
			"fence": bson.M{"$lte": token}}).SetReplacement(written[i])
	}
	res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err != nil {
		return nil, storeError("replace %d pledges: %w", len(prevs), err)
	}
	if int(res.MatchedCount) == len(prevs) {
		return written, nil
	}
	// Some lost their compare-and-set: the ones written are those stored exactly as written.
	cur, err := coll.Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, storeError("read back %d pledges: %w", len(ids), err)
	}
	var stored []pledge.Pledge
	if err := cur.All(ctx, &stored); err != nil {
		return nil, storeError("read back %d pledges: %w", len(ids), err)
	}
	byID := make(map[string]pledge.Pledge, len(stored))
	for _, p := range stored {
		byID[p.ID] = p
	}
	var out []pledge.Pledge
	for _, want := range written {
		if same, err := storedAs(byID[want.ID], want); err != nil {
			return nil, err
		} else if same {
			out = append(out, want)
		}
	}
	return out, nil
}

// fencedReplaceLocked is FencedReplacePledges on a store with Locks: under the locks of the
// whole batch (taken in id order, so two batches never wait on each other in a cycle), each
// pledge is read by _id and compared, and those that pass are replaced by _id in one command.
func (s *Store) fencedReplaceLocked(ctx context.Context, prevs, written []pledge.Pledge, token int64) ([]pledge.Pledge, error) {
	order := make([]int, len(prevs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(prevs[a].ID, prevs[b].ID) })
	for i, j := range order {
		if i > 0 && prevs[order[i-1]].ID == prevs[j].ID {
			return nil, storeError("replace pledges: %w", errors.New("a pledge twice in one batch"))
		}
		defer s.lock("pledges/" + prevs[j].ID)()
	}
	ctx = s.underLock(ctx)
	ids := make([]string, len(prevs))
	for i, prev := range prevs {
		ids[i] = prev.ID
	}
	stamps, err := s.pledgeStamps(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []pledge.Pledge
	for i, prev := range prevs {
		cur, ok := stamps[prev.ID]
		if !ok || cur.Version != prev.Version || cur.Status != prev.Status || cur.Fence > token {
			continue
		}
		out = append(out, written[i])
	}
	if err := s.replacePledgesByID(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// replacePledgesByID replaces the stored pledges by these, by _id alone, for a caller that holds
// their locks and has compared them: through the Writer when the store has one, in one
// transaction, else in one command to the server (each replacement its own transaction there).
func (s *Store) replacePledgesByID(ctx context.Context, ps []pledge.Pledge) error {
	if len(ps) == 0 {
		return nil
	}
	if s.writer != nil {
		docs := make([]bson.Raw, len(ps))
		for i, p := range ps {
			raw, err := bson.Marshal(p)
			if err != nil {
				return storeError("encode pledge %s: %w", p.ID, err)
			}
			docs[i] = raw
		}
		if err := s.writer.ReplaceDocs(ctx, s.db.Name(), "pledges", docs); err != nil {
			return storeError("replace %d pledges: %w", len(ps), err)
		}
		return nil
	}
	models := make([]mongo.WriteModel, len(ps))
	for i, p := range ps {
		models[i] = mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": p.ID}).SetReplacement(p)
	}
	if _, err := s.db.Collection("pledges").BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true)); err != nil {
		return storeError("replace %d pledges: %w", len(ps), err)
	}
	return nil
}

// pledgeStamps reads what a compare-and-set of pledges compares (version, status, fence) on a
// store with Locks, by id; a pledge that does not exist is left out. With a Scanner, all of them
// come in one read of those fields from the store's files: FerretDB would parse and send each
// whole pledge, one command each, for the same three fields (bench/settle: a FerretDB find by _id
// was one of the four commands of each charge). Called under the pledges' locks, after the last
// write to them returned, so it reads their latest state.
func (s *Store) pledgeStamps(ctx context.Context, ids []string) (map[string]pledge.Pledge, error) {
	out := make(map[string]pledge.Pledge, len(ids))
	if s.scanner == nil {
		for _, id := range ids {
			p, found, err := s.indexedPledge(ctx, id)
			if err != nil {
				return nil, err
			}
			if found {
				out[id] = p
			}
		}
		return out, nil
	}
	err := s.scanner.ScanIDs(ctx, s.db.Name(), "pledges", ids, []string{"_id", "version", "status", "fence"}, func(v []any) error {
		id, _ := v[0].(string)
		version, vok := v[1].(int64)
		status, sok := v[2].(string)
		fence, fok := v[3].(int64)
		if id == "" || !vok || !sok || !fok && v[3] != nil {
			return fmt.Errorf("pledge %q: unexpected version %v, status %v or fence %v", v[0], v[1], v[2], v[3])
		}
		out[id] = pledge.Pledge{ID: id, Version: version, Status: pledge.Status(status), Fence: fence}
		return nil
	})
	if err != nil {
		return nil, storeError("read pledges: %w", err)
	}
	return out, nil
}

// storedAs reports whether stored is want as a write of want stores it (see pledgeIs).
func storedAs(stored, want pledge.Pledge) (bool, error) {
	raw, err := bson.Marshal(want)
	if err != nil {
		return false, storeError("encode pledge %s: %w", want.ID, err)
	}
	var written pledge.Pledge
	if err := bson.Unmarshal(raw, &written); err != nil {
		return false, storeError("decode pledge %s: %w", want.ID, err)
	}
	return reflect.DeepEqual(stored, written), nil
}

// PledgeTotals sums a campaign's counted pledges (see pledge.Status.Counted), computed here
// rather than with $group (FerretDB v1 answers 0 for a second accumulator).
func (s *Store) PledgeTotals(ctx context.Context, campaignID string) (amount, backers int64, err error) {
	cur, err := s.db.Collection("pledges").Find(ctx, bson.M{"campaign_id": campaignID, "status": bson.M{"$in": pledge.CountedStatuses}},
		options.Find().SetProjection(bson.M{"amount": 1}))
	if err != nil {
		return 0, 0, storeError("sum pledges of %s: %w", campaignID, err)
	}
	for cur.Next(ctx) {
		var p pledge.Pledge
		if err := cur.Decode(&p); err != nil {
			return 0, 0, storeError("sum pledges of %s: %w", campaignID, err)
		}
		amount += p.Amount.Amount
		backers++
	}
	return amount, backers, classify(cur.Err())
}

// FindCampaignPledges streams every pledge of a campaign to fn, for reports.
func (s *Store) FindCampaignPledges(ctx context.Context, campaignID string, fn func(pledge.Pledge) error) error {
	cur, err := s.db.Collection("pledges").Find(ctx, bson.M{"campaign_id": campaignID})
	if err != nil {
		return storeError("read pledges of %s: %w", campaignID, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var p pledge.Pledge
		if err := cur.Decode(&p); err != nil {
			return storeError("read pledges of %s: %w", campaignID, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return classify(cur.Err())
}

// CountRefundRequest numbers a new refund request of a pledge atomically and returns the pledge.
func (s *Store) CountRefundRequest(ctx context.Context, id string) (pledge.Pledge, error) {
	defer s.lock("pledges/" + id)()
	ctx = s.underLock(ctx)
	if _, err := s.db.Collection("pledges").UpdateOne(ctx, bson.M{"_id": id},
		bson.M{"$inc": bson.M{"refund_requests": 1, "version": int64(1)}}); err != nil {
		return pledge.Pledge{}, storeError("count refund request of %s: %w", id, err)
	}
	return s.FindPledge(ctx, id)
}

// SearchPledges finds the pledges an admin's search names, newest first, at most limit. A Stripe
// id is matched on the one field its prefix says it is (Stripe's prefixes are stable), so every
// search reads one index.
func (s *Store) SearchPledges(ctx context.Context, q pledge.Search, limit int) ([]pledge.Pledge, error) {
	var filter bson.M
	switch id := strings.TrimSpace(q.StripeID); {
	case q.ID != "":
		filter = bson.M{"_id": strings.TrimSpace(q.ID)}
	case q.Email != "":
		email, err := account.NormalizeEmail(q.Email)
		if err != nil {
			return []pledge.Pledge{}, nil // no pledge has an address that is not one
		}
		filter = bson.M{"backer.email": email}
	case strings.HasPrefix(id, "pi_"):
		filter = bson.M{"payment_intent_id": id}
	case strings.HasPrefix(id, "seti_"):
		filter = bson.M{"setup_intent_id": id}
	case id != "":
		filter = bson.M{"charge_id": id}
	case q.CampaignID != "":
		filter = bson.M{"campaign_id": q.CampaignID}
	default:
		return []pledge.Pledge{}, nil
	}
	cur, err := s.db.Collection("pledges").Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("search pledges: %w", err)
	}
	out := []pledge.Pledge{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("search pledges: %w", err)
	}
	return out, nil
}
