package campaign

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// ReviewFields are the parts of a campaign a reviewer judges, in the order a review page lists
// what changed among them.
var ReviewFields = []string{"title", "blurb", "story", "goal", "deadline", "tiers"}

// ReviewSnapshot is what the last reviewer saw, as a hash per field of ReviewFields, written by
// the approval or rejection itself; a campaign back in review after a rejection is compared
// with it, so the next reviewer reads only what changed.
type ReviewSnapshot struct {
	At     time.Time         `bson:"at"`
	Fields map[string]string `bson:"fields"`
}

// reviewedTier is what of a tier a reviewer judges: not its counters.
type reviewedTier struct {
	ID, Title, Description, EstimatedDelivery string
	Kind                                      TierKind
	Price                                     [2]any
	Limit, SessionChangeCutoffHours           *int64
	Ships                                     bool
	Position                                  int
	Options                                   []Option
	Stock                                     []Stock
	Sessions                                  []Session
	ShippingRates                             []ShippingRate
}

// ReviewHashes hashes each of ReviewFields of c with its tiers.
func ReviewHashes(c Campaign, tiers []Tier) map[string]string {
	tiers = slices.Clone(tiers)
	slices.SortFunc(tiers, func(a, b Tier) int { return cmp.Or(cmp.Compare(a.Position, b.Position), cmp.Compare(a.ID, b.ID)) })
	seen := make([]reviewedTier, 0, len(tiers))
	for _, t := range tiers {
		seen = append(seen, reviewedTier{ID: t.ID, Title: t.Title, Description: t.Description, EstimatedDelivery: t.EstimatedDelivery,
			Kind: t.Kind, Price: [2]any{t.Price.Amount, t.Price.Currency}, Limit: t.Limit, SessionChangeCutoffHours: t.SessionChangeCutoffHours,
			Ships: t.Ships, Position: t.Position, Options: t.Options, Stock: t.Stock, Sessions: t.Sessions, ShippingRates: t.ShippingRates})
	}
	return map[string]string{
		"title": hashOf(c.Title), "blurb": hashOf(c.Blurb), "story": hashOf(c.Story),
		"goal":     hashOf([2]any{c.Goal.Amount, c.Goal.Currency}),
		"deadline": hashOf([2]any{c.Deadline.UTC().Format(time.RFC3339), c.Timezone}),
		"tiers":    hashOf(seen),
	}
}

// hashOf is a short hash of v's JSON: enough to tell one version from another.
func hashOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value hashed here is plain data; a failure would be a programming error, and
		// an empty hash then reads as "changed", the safe side for a reviewer.
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// ChangedSinceReview lists the fields of ReviewFields that differ from what the last reviewer
// saw; ok is false when the campaign was never reviewed.
func (c Campaign) ChangedSinceReview(tiers []Tier) (changed []string, ok bool) {
	if c.Reviewed == nil {
		return nil, false
	}
	now := ReviewHashes(c, tiers)
	for _, f := range ReviewFields {
		if now[f] == "" || now[f] != c.Reviewed.Fields[f] {
			changed = append(changed, f)
		}
	}
	return changed, true
}
