package backstitch

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a random identifier with a readable type prefix ("cam_…", "tier_…"), 80 bits of
// randomness: unguessable enough that an id leaks nothing, and short enough for URLs.
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// IsID reports whether s looks like an id made by NewID with the given prefix.
func IsID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}

// Clock tells the time. Production uses time.Now; tests move a fake one to test deadlines,
// expiry and schedules without sleeping.
type Clock func() time.Time
