package mongostore

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// On MongoDB the expiring collections get TTL indexes on expires_at, and only they: a TTL index on
// leases would delete an expired lease and restart its fencing token at 1.
func TestTTLIndexesOnlyWhereDocumentsExpire(t *testing.T) {
	for _, ttl := range []bool{false, true} {
		var got []string
		for coll, models := range indexes(ttl) {
			for _, m := range models {
				if m.Options != nil && m.Options.ExpireAfterSeconds != nil {
					if *m.Options.ExpireAfterSeconds != 0 || m.Keys.(bson.D)[0].Key != "expires_at" || len(m.Keys.(bson.D)) != 1 {
						t.Errorf("%s: TTL index %v after %d s, want expires_at alone after 0 s", coll, m.Keys, *m.Options.ExpireAfterSeconds)
					}
					got = append(got, coll)
				}
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(expiring))
		if !ttl {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("ttl=%v: TTL indexes on %v, want %v", ttl, got, want)
		}
	}
	if slices.Contains(expiring, "leases") {
		t.Error("leases must not expire by deletion")
	}
}
