package pledge

import (
	"strings"
	"unicode"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Source is where a backer came from: the ?ref= of a share link, or the utm_ fields of a
// designer's own campaign links. It is kept on the pledge so a designer sees which posts bring
// pledges, not only visits.
type Source struct {
	Ref         string `json:"ref,omitempty" bson:"ref,omitempty"`
	UTMSource   string `json:"utm_source,omitempty" bson:"utm_source,omitempty"`
	UTMMedium   string `json:"utm_medium,omitempty" bson:"utm_medium,omitempty"`
	UTMCampaign string `json:"utm_campaign,omitempty" bson:"utm_campaign,omitempty"`
}

// MaxSourceField bounds each field of a source, in characters.
const MaxSourceField = 64

// CleanSourceValue is a source field as we keep it: letters and digits of any script, '-', '_'
// and '.', lower-cased, at most MaxSourceField characters. A link anyone can craft reaches the
// designer's dashboard and reports through it, so nothing else (markup, spaces, control or
// bidirectional characters) survives.
func CleanSourceValue(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToLower(s) {
		if n == MaxSourceField {
			break
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
			n++
		}
	}
	return b.String()
}

// Clean is s with every field cleaned (see CleanSourceValue).
func (s Source) Clean() Source {
	return Source{Ref: CleanSourceValue(s.Ref), UTMSource: CleanSourceValue(s.UTMSource),
		UTMMedium: CleanSourceValue(s.UTMMedium), UTMCampaign: CleanSourceValue(s.UTMCampaign)}
}

// Empty reports whether s names no source (a direct visit).
func (s Source) Empty() bool { return s == Source{} }

// check refuses, field by field, a source an API client sent that cleaning would change: a client
// hears what is wrong rather than having its value altered silently.
func (s Source) check(errs *backstitch.FieldErrors) {
	for field, v := range map[string]string{"source.ref": s.Ref, "source.utm_source": s.UTMSource,
		"source.utm_medium": s.UTMMedium, "source.utm_campaign": s.UTMCampaign} {
		if CleanSourceValue(v) != v {
			errs.Add(field, "invalid", "at most 64 lower-case letters, digits, '-', '_' or '.'")
		}
	}
}
