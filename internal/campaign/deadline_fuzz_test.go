package campaign

import (
	"errors"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// FuzzDeadline sends any deadline and time zone through the zone check, ParseDeadline and a
// campaign edit. It never panics; an accepted zone is the name asked for; a date deadline is the
// last second of that day in the zone; an accepted edit stores a whole-second UTC deadline within
// the allowed duration; a refused one names the deadline or timezone field.
func FuzzDeadline(f *testing.F) {
	for _, seed := range [][2]string{
		{"2026-12-07", "Europe/Zurich"}, {"2027-03-28", "Europe/Zurich"}, {"2026-10-25", "Europe/Zurich"},
		{"2026-12-07T18:00:00+01:00", "UTC"}, {"2026-12-01T12:00:00.5Z", "UTC"},
		{"2026-12-01T12:00:00.000000001+01:00", "Asia/Tokyo"}, {"2026-02-30", "Pacific/Auckland"},
		{"2026-12-01", "Europe/../Europe/Zurich"}, {"2026-12-01", "posixrules"}, {"2026-12-01", "Etc/GMT+5"},
		{"2026-12-01", "America/Argentina/Buenos_Aires"}, {"2026-12-01", "Asia/Calcutta"}, {"9999-12-31", "Pacific/Kiritimati"},
		{"0000-01-01", "UTC"}, {"2026-12-01T24:00:00Z", "UTC"}, {"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, deadline, zone string) {
		if loc, err := loadZone(zone); err == nil {
			if loc.String() != zone {
				t.Fatalf("zone %q loaded as %q", zone, loc.String())
			}
			if d, err := ParseDeadline(deadline, loc); err == nil {
				if d.Location() != time.UTC {
					t.Fatalf("ParseDeadline(%q, %s) = %v, not in UTC", deadline, zone, d)
				}
				if day, err := time.ParseInLocation(time.DateOnly, deadline, loc); err == nil {
					local := d.In(loc)
					if local.Format(time.DateOnly) != day.Format(time.DateOnly) || local.Format("15:04:05") != "23:59:59" {
						t.Fatalf("ParseDeadline(%q, %s) = %v, want the day's last second there", deadline, zone, local)
					}
				}
			}
		}
		edited, err := newDraft(t, now).Edit(Fields{Deadline: ptr(deadline), Timezone: ptr(zone)}, "usr_a", now, rules)
		if err != nil {
			e, ok := errors.AsType[*backstitch.Error](err)
			if !ok || e.Code != backstitch.CodeValidation || len(e.Fields) == 0 {
				t.Fatalf("edit to %q in %q: %v, want validation_failed", deadline, zone, err)
			}
			for _, fe := range e.Fields {
				if fe.Field != "deadline" && fe.Field != "timezone" {
					t.Fatalf("edit to %q in %q: error on %s", deadline, zone, fe.Field)
				}
			}
			return
		}
		d := edited.Deadline
		if d.Location() != time.UTC || d.Nanosecond() != 0 {
			t.Fatalf("edit to %q in %q stored %v", deadline, zone, d)
		}
		if d.Before(now.Add(rules.MinDuration)) || d.After(now.Add(rules.MaxDuration)) {
			t.Fatalf("edit to %q in %q stored %v, outside the allowed duration from %v", deadline, zone, d, now)
		}
	})
}
