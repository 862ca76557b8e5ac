package campaign

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
)

func ptr[T any](v T) *T { return &v }

var rules = Rules{MinDuration: 24 * time.Hour, MaxDuration: 60 * 24 * time.Hour}

func TestParseDeadlineEndsTheDayInTheCampaignZone(t *testing.T) {
	for _, tc := range []struct {
		in, zone string
		want     string
	}{
		// Winter (CET, +01:00) and summer (CEST, +02:00) in Zurich.
		{"2026-11-07", "Europe/Zurich", "2026-11-07T22:59:59Z"},
		{"2026-07-07", "Europe/Zurich", "2026-07-07T21:59:59Z"},
		// The nights clocks change: 29 March 2026 (spring forward) and 25 October 2026 (fall back).
		{"2026-03-29", "Europe/Zurich", "2026-03-29T21:59:59Z"},
		{"2026-10-25", "Europe/Zurich", "2026-10-25T22:59:59Z"},
		// Auckland is ahead of UTC: its end of day is the same day's morning in UTC.
		{"2026-11-07", "Pacific/Auckland", "2026-11-07T10:59:59Z"},
		{"2026-11-07T12:00:00+01:00", "Pacific/Auckland", "2026-11-07T11:00:00Z"},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseDeadline(tc.in, loc)
		if err != nil || got.Format(time.RFC3339) != tc.want {
			t.Errorf("ParseDeadline(%q, %s) = %v, %v; want %s", tc.in, tc.zone, got, err, tc.want)
		}
	}
	for _, bad := range []string{"7 Nov 2026", "2026-11-31", "2026-11-07 10:00", ""} {
		if _, err := ParseDeadline(bad, time.UTC); err == nil {
			t.Errorf("ParseDeadline(%q) accepted", bad)
		}
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"Zürich Linen Coat":         "zurich-linen-coat",
		"  Upcycled -- Denim!!  ":   "upcycled-denim",
		"Atelier Crème Brûlée 2027": "atelier-creme-brulee-2027",
		"旗袍":                        "旗袍",
		"リネンのコート":                   "リネンのコート",
		"Λινό παλτό":                "λινό-παλτό",
		"Straße & Æble, Łódź":       "strasse-aeble-lodz",
		"हिन्दी कपड़ा":              "हिन्दी-कपड़ा",
		"\u200B\u0301":              "campaign",
		"Coat\u200B\u2060Two":       "coattwo",
	} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Slugify(string(make([]byte, 0)) + "a very long title that goes on and on and on and on and on beyond sixty chars"); utf8.RuneCountInString(got) > 60 {
		t.Errorf("slug too long: %q", got)
	}
}

func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok {
		t.Fatalf("err = %v, want *backstitch.Error", err)
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Field] = f.Code
	}
	return out
}

func newDraft(t *testing.T, now time.Time) Campaign {
	t.Helper()
	c, err := New(Fields{Title: ptr("Coat"), Goal: &money.Money{Amount: 100000, Currency: "CHF"},
		Deadline: ptr(now.Add(30 * 24 * time.Hour).Format(time.DateOnly)), Timezone: ptr("Europe/Zurich")}, "usr_a", now, rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesEveryField(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	_, err := New(Fields{}, "usr_a", now, rules)
	if got := fieldCodes(t, err); len(got) != 4 || got["title"] != "required" || got["goal"] != "required" {
		t.Fatalf("missing fields: %v", got)
	}
	for _, tc := range []struct {
		name  string
		f     Fields
		field string
		code  string
	}{
		{"zero goal", Fields{Goal: &money.Money{Amount: 0, Currency: "CHF"}}, "goal.amount", "too_small"},
		{"below Stripe minimum", Fields{Goal: &money.Money{Amount: 49, Currency: "EUR"}}, "goal.amount", "too_small"},
		{"unknown currency", Fields{Goal: &money.Money{Amount: 5000, Currency: "BTC"}}, "goal.currency", "unsupported_currency"},
		{"bad model", Fields{FundingModel: ptr(FundingModel("subscription"))}, "funding_model", "invalid"},
		{"bad zone", Fields{Timezone: ptr("Europe/Atlantis")}, "timezone", "invalid"},
		{"empty zone", Fields{Timezone: ptr("")}, "timezone", "invalid"},
		{"bad deadline", Fields{Deadline: ptr("next week")}, "deadline", "invalid"},
		{"too soon", Fields{Deadline: ptr(now.Add(time.Hour).Format(time.RFC3339))}, "deadline", "too_soon"},
		{"too late", Fields{Deadline: ptr(now.Add(61 * 24 * time.Hour).Format(time.RFC3339))}, "deadline", "too_late"},
		{"long title", Fields{Title: ptr(string(make([]rune, 121)))}, "title", "too_long"},
		{"blank title", Fields{Title: ptr("   ")}, "title", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Fields{Title: ptr("Coat"), Goal: &money.Money{Amount: 100000, Currency: "CHF"},
				Deadline: ptr("2026-12-01"), Timezone: ptr("Europe/Zurich")}
			if tc.f.Title != nil {
				f.Title = tc.f.Title
			}
			if tc.f.Goal != nil {
				f.Goal = tc.f.Goal
			}
			if tc.f.FundingModel != nil {
				f.FundingModel = tc.f.FundingModel
			}
			if tc.f.Timezone != nil {
				f.Timezone = tc.f.Timezone
			}
			if tc.f.Deadline != nil {
				f.Deadline = tc.f.Deadline
			}
			_, err := New(f, "usr_a", now, rules)
			if got := fieldCodes(t, err); got[tc.field] != tc.code {
				t.Fatalf("field errors %v, want %s=%s", got, tc.field, tc.code)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := newDraft(t, now)
	if _, err := c.Do(ActionLaunch, "designer:usr_a", "", now, rules); backstitch.ErrorCode(err) != backstitch.CodeInvalidState {
		t.Fatalf("launch of a draft: %v", err)
	}
	c, err := c.Do(ActionSubmit, "designer:usr_a", "", now, rules)
	if err != nil || c.Status != StatusInReview {
		t.Fatalf("submit: %v %s", err, c.Status)
	}
	if _, err := c.Do(ActionReject, "admin:usr_b", "  ", now, rules); backstitch.ErrorCode(err) != backstitch.CodeValidation {
		t.Fatalf("reject without reason: %v", err)
	}
	c, err = c.Do(ActionReject, "admin:usr_b", "Photos missing", now, rules)
	if err != nil || c.Status != StatusDraft || c.RejectionReason != "Photos missing" {
		t.Fatalf("reject: %v %s %q", err, c.Status, c.RejectionReason)
	}
	c, _ = c.Do(ActionSubmit, "designer:usr_a", "", now, rules)
	c, _ = c.Do(ActionApprove, "admin:usr_b", "", now, rules)
	later := now.Add(29*24*time.Hour + 13*time.Hour) // under a day before the deadline
	if _, err := c.Do(ActionLaunch, "designer:usr_a", "", later, rules); fieldCodes(t, err)["deadline"] != "too_soon" {
		t.Fatalf("late launch accepted: %v", err)
	}
	c, err = c.Do(ActionLaunch, "designer:usr_a", "", now, rules)
	if err != nil || c.Status != StatusLive || c.LaunchedAt == nil || !c.LaunchedAt.Equal(now) {
		t.Fatalf("launch: %v %s", err, c.Status)
	}
	want := []Status{StatusDraft, StatusInReview, StatusDraft, StatusInReview, StatusApproved, StatusLive}
	if len(c.History) != len(want)-1 {
		t.Fatalf("history has %d entries, want %d", len(c.History), len(want)-1)
	}
	for i, h := range c.History {
		if h.From != want[i] || h.To != want[i+1] || h.Actor == "" || !h.At.Equal(now) {
			t.Errorf("history[%d] = %+v, want %s→%s", i, h, want[i], want[i+1])
		}
	}
}

func TestEditLocksAfterLaunchAndReopensReview(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := newDraft(t, now)
	c, _ = c.Do(ActionSubmit, "designer:usr_a", "", now, rules)
	edited, err := c.Edit(Fields{Story: ptr("new story")}, "designer:usr_a", now, rules)
	if err != nil || edited.Status != StatusDraft || edited.History[len(edited.History)-1].From != StatusInReview {
		t.Fatalf("edit in review: %v, status %s", err, edited.Status)
	}
	c, _ = c.Do(ActionApprove, "admin:usr_b", "", now, rules)
	c, _ = c.Do(ActionLaunch, "designer:usr_a", "", now, rules)
	_, err = c.Edit(Fields{Goal: &money.Money{Amount: 1, Currency: "EUR"}, Deadline: ptr("2026-12-20"), Title: ptr("x")}, "designer:usr_a", now, rules)
	if backstitch.ErrorCode(err) != backstitch.CodeCampaignLocked || fieldCodes(t, err)["goal"] != "locked" || fieldCodes(t, err)["deadline"] != "locked" {
		t.Fatalf("locked fields changed after launch: %v", err)
	}
	live, err := c.Edit(Fields{Title: ptr("Coat, second run"), Story: ptr("more")}, "designer:usr_a", now, rules)
	if err != nil || live.Title != "Coat, second run" || live.Status != StatusLive {
		t.Fatalf("story edit after launch: %v", err)
	}
}

func TestTierRules(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	c := newDraft(t, now)
	if _, err := NewTier(c, TierFields{Title: ptr("Coat"), Kind: ptr(KindPhysical), Price: &money.Money{Amount: 2000, Currency: "EUR"}}, now); fieldCodes(t, err)["price.currency"] != "currency_mismatch" {
		t.Fatalf("tier in another currency: %v", err)
	}
	if _, err := NewTier(c, TierFields{Title: ptr("Workshop"), Kind: ptr(KindExperience), Ships: ptr(true), Price: &money.Money{Amount: 2000, Currency: "CHF"}}, now); fieldCodes(t, err)["ships"] != "invalid" {
		t.Fatalf("shipping experience: %v", err)
	}
	if _, err := NewTier(c, TierFields{Title: ptr("Coat"), Kind: ptr(KindPhysical), Limit: Nullable[int64]{Set: true, Value: 0}, Price: &money.Money{Amount: 2000, Currency: "CHF"}}, now); fieldCodes(t, err)["limit"] != "too_small" {
		t.Fatalf("limit 0: %v", err)
	}
	tier, err := NewTier(c, TierFields{Title: ptr("Coat"), Kind: ptr(KindPhysical), Limit: Nullable[int64]{Set: true, Value: 10},
		Price: &money.Money{Amount: 2000, Currency: "CHF"}, EstimatedDelivery: Nullable[string]{Set: true, Value: "2027-03"}}, now)
	if err != nil || !tier.Ships || *tier.Remaining != 10 {
		t.Fatalf("limited physical tier: %+v %v", tier, err)
	}
	tier.Claimed, *tier.Remaining = 4, 6
	if _, err := tier.Edit(c, TierFields{Price: &money.Money{Amount: 1500, Currency: "CHF"}}, now); backstitch.ErrorCode(err) != backstitch.CodeTierHasBackers {
		t.Fatalf("repriced a tier with backers: %v", err)
	}
	if _, err := tier.Edit(c, TierFields{Kind: ptr(KindDigital), Ships: ptr(false)}, now); fieldCodes(t, err)["kind"] != "locked" || fieldCodes(t, err)["ships"] != "locked" {
		t.Fatalf("a shipped tier with backers made digital: %v", err)
	}
	if _, err := tier.Edit(c, TierFields{Kind: ptr(KindPhysical), Ships: ptr(true), Title: ptr("Long coat")}, now); err != nil {
		t.Fatalf("kind and ships sent unchanged: %v", err)
	}
	if _, err := tier.Edit(c, TierFields{Limit: Nullable[int64]{Set: true, Value: 3}}, now); fieldCodes(t, err)["limit"] != "below_claimed" {
		t.Fatalf("limit below claimed: %v", err)
	}
	raised, err := tier.Edit(c, TierFields{Limit: Nullable[int64]{Set: true, Value: 20}}, now)
	if err != nil || *raised.Limit != 20 || *raised.Remaining != 16 {
		t.Fatalf("raise limit: %+v %v", raised, err)
	}
	unlimited, err := tier.Edit(c, TierFields{Limit: Nullable[int64]{Set: true, Null: true}}, now)
	if err != nil || unlimited.Limit != nil || unlimited.Remaining != nil {
		t.Fatalf("remove limit: %+v %v", unlimited, err)
	}
	if err := tier.CheckDelete(c); backstitch.ErrorCode(err) != backstitch.CodeTierHasBackers {
		t.Fatalf("deleted a tier with backers: %v", err)
	}
}
