package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/backstitch/backstitch/internal/pledge"
)

// dueTerm is one branch of a background job's $or: pledges whose date at path is at or before
// before, among those whose fields in equal hold those strings.
type dueTerm struct {
	equal  map[string]string
	path   string
	before time.Time
}

// findDuePledges answers such an $or on the embedded store, where FerretDB would parse every
// pledge ever made for it (the sweep took 2.9 s after 15 minutes of soak, holding the store's
// one connection; dunning the same): the Scanner lists each term's ids from an index on its
// files, then the pledges are read by _id (see indexedPledges) and kept if match, the same
// filter in Go, still holds for each. So the caller acts on whole documents, matching when they
// were read, as from the driver's query.
func (s *Store) findDuePledges(ctx context.Context, terms []dueTerm, match func(pledge.Pledge) bool, limit int) ([]pledge.Pledge, error) {
	seen := map[string]bool{}
	var ids []string
	for _, t := range terms {
		found, err := s.scanner.DueIDs(ctx, s.db.Name(), "pledges", t.equal, t.path, t.before, limit)
		if err != nil {
			return nil, storeError("find due pledges: %w", err)
		}
		for _, id := range found {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	out := []pledge.Pledge{}
	read, err := s.indexedPledges(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		if p, found := read[id]; found && match(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// atOrBefore is a stored date's $lte: BSON keeps milliseconds, so comparing the stored time
// with before itself gives what the server's comparison with before's milliseconds gives.
func atOrBefore(t *time.Time, before time.Time) bool {
	return t != nil && !t.After(before)
}

// findPledgesByStatusFromIndex is FindPledgesByStatus on the embedded store, where FerretDB
// would parse every pledge ever made for each page (settling 10,000 pledges, in pages of 1,000,
// ran at 146/s against 209/s for 1,000). The Scanner lists the page's ids from an index, then
// the pledges are read by _id (see indexedPledges) and each kept if it is still the campaign's, in one of
// the states and after afterID; one that changed state since the index was read is left out,
// as the server's query would have left it out a moment later. Callers take a page shorter
// than limit for the end of the list (the backers' pages ask for limit+1 to know whether there
// is a next one), so while pledges are left out, the index is asked for more after the last id
// it gave, until the page is full or the index has no more.
func (s *Store) findPledgesByStatusFromIndex(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error) {
	values := make([]string, 0, len(statuses))
	for _, st := range statuses {
		values = append(values, string(st))
	}
	out := []pledge.Pledge{}
	for after := afterID; len(out) < limit; {
		want := limit - len(out)
		ids, err := s.scanner.PageIDs(ctx, s.db.Name(), "pledges", map[string]string{"campaign_id": campaignID}, "status", values, after, want)
		if err != nil {
			return nil, storeError("find pledges of %s: %w", campaignID, err)
		}
		read, err := s.indexedPledges(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			p, found := read[id]
			if !found {
				continue
			}
			// The _id check guards the page's order: it holds unless SQLite's string order
			// ever differed from the server's.
			if p.CampaignID == campaignID && slices.Contains(statuses, p.Status) && p.ID > afterID {
				out = append(out, p)
			}
		}
		if len(ids) < want {
			break // the index has no more
		}
		after = ids[len(ids)-1]
	}
	return out, nil
}

// indexedPledges reads by _id the pledges whose ids came from an index on the embedded store's
// files (or a caller's single id, see scannedPledge); one deleted since is left out. All of them
// in one read from those files (see embedded.Server.ScanDocs): through FerretDB each would be a
// command of its own, one per pledge the settler charges, waiting its turn for the store's one
// connection.
func (s *Store) indexedPledges(ctx context.Context, ids []string) (map[string]pledge.Pledge, error) {
	out := make(map[string]pledge.Pledge, len(ids))
	err := s.scanner.ScanDocs(ctx, s.db.Name(), "pledges", ids, func(doc bson.Raw) error {
		var p pledge.Pledge
		if err := bson.Unmarshal(doc, &p); err != nil {
			return fmt.Errorf("pledge %s: %w", doc.Lookup("_id"), err)
		}
		out[p.ID] = p
		return nil
	})
	if err != nil {
		return nil, storeError("read %d pledges: %w", len(ids), err)
	}
	return out, nil
}

// indexedPledge reads by _id a pledge whose id came from elsewhere (an index on the embedded
// store's files, a batch to compare); found is false when there is none, deleted since.
func (s *Store) indexedPledge(ctx context.Context, id string) (p pledge.Pledge, found bool, err error) {
	err = s.db.Collection("pledges").FindOne(ctx, bson.M{"_id": id}).Decode(&p)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return p, false, nil
	case err != nil:
		return p, false, storeError("read pledge %s: %w", id, err)
	}
	return p, true, nil
}
