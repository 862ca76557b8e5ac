package update

import (
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// Every field is checked, and only the fields a designer sends can be set.
func TestNewChecksEveryField(t *testing.T) {
	c := campaign.Campaign{ID: "cam_1"}
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	u, err := New(Fields{Title: "  Buttons sewn ", Body: "Line one\r\nline two", Visibility: "backers"}, c, "usr_1", now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Title != "Buttons sewn" || u.Body != "Line one\nline two" || u.Visibility != Backers || u.FanOut.Done || !u.FanOut.ClaimUntil.Equal(now) {
		t.Errorf("update %+v", u)
	}
	for _, tc := range []struct {
		f     Fields
		field string
	}{
		{Fields{Title: "", Body: "B", Visibility: "public"}, "title"},
		{Fields{Title: strings.Repeat("t", MaxTitle+1), Body: "B", Visibility: "public"}, "title"},
		{Fields{Title: "T\nT", Body: "B", Visibility: "public"}, "title"},
		{Fields{Title: "T", Body: "\u200b", Visibility: "public"}, "body"},
		{Fields{Title: "T", Body: strings.Repeat("b", MaxBody+1), Visibility: "public"}, "body"},
		{Fields{Title: "T", Body: "B", Visibility: ""}, "visibility"},
		{Fields{Title: "T", Body: "B", Visibility: "PUBLIC"}, "visibility"},
	} {
		_, err := New(tc.f, c, "usr_1", now)
		e, ok := err.(*backstitch.Error)
		if !ok || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("%+.40v: %v, want one error on %s", tc.f, err, tc.field)
		}
	}
}
