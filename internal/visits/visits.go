// Package visits counts visits to campaign pages per source (share link, utm_ fields, direct)
// and reports them beside the pledges each source brought. A visit costs no store write: counts
// are kept in memory and added to the store ($inc) on a timer and at shutdown, so instances add
// up and a viral campaign's page stays a cache hit.
package visits

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Key is what a count is kept under: a campaign, a UTC day (YYYY-MM-DD) and a source.
type Key struct {
	CampaignID string
	Day        string
	Source     pledge.Source
}

// Count is a number of visits under a key.
type Count struct {
	Key
	Visits int64
}

// Store is where counts are added up.
type Store interface {
	// AddVisits adds each count to the stored one ($inc), creating it when missing.
	AddVisits(ctx context.Context, counts []Count) error
}

// maxKeys bounds what one instance holds between flushes: anyone can invent refs, so once that
// many distinct keys wait, further new ones are counted under Overflow instead.
const maxKeys = 10_000

// maxSourcesPerDay bounds how many distinct sources one instance writes for one campaign and
// day, across flushes: maxKeys alone bounds memory, but flushed keys become store documents, so
// a script inventing refs would otherwise add up to maxKeys documents every flush. The store
// holds at most this many per campaign and day per instance (plus Overflow), which is plenty
// for a designer's real share links and posts.
const maxSourcesPerDay = 500

// Overflow is the source visits are counted under once maxKeys distinct keys wait for a flush,
// or once a campaign has had maxSourcesPerDay distinct sources today.
var Overflow = pledge.Source{Ref: "_other"}

// campaignDay is what maxSourcesPerDay counts sources under.
type campaignDay struct{ campaignID, day string }

// Counter aggregates visits in memory. It is safe for concurrent use.
type Counter struct {
	store Store
	now   backstitch.Clock

	mu     sync.Mutex
	counts map[Key]int64
	// sources are the distinct sources counted per campaign and day (today's only: a flush
	// forgets earlier days).
	sources map[campaignDay]map[pledge.Source]struct{}
}

// NewCounter makes an empty counter writing to store.
func NewCounter(store Store, now backstitch.Clock) *Counter {
	return &Counter{store: store, now: now, counts: map[Key]int64{}, sources: map[campaignDay]map[pledge.Source]struct{}{}}
}

// Visit counts one visit to a campaign's page from src.
func (c *Counter) Visit(campaignID string, src pledge.Source) {
	k := Key{CampaignID: campaignID, Day: c.now().UTC().Format(time.DateOnly), Source: src}
	cd := campaignDay{campaignID, k.Day}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.sources[cd]
	if seen == nil {
		seen = map[pledge.Source]struct{}{}
		c.sources[cd] = seen
	}
	if _, known := seen[src]; !known {
		if _, waiting := c.counts[k]; len(seen) >= maxSourcesPerDay || (!waiting && len(c.counts) >= maxKeys) {
			k.Source = Overflow
		} else {
			seen[src] = struct{}{}
		}
	}
	c.counts[k]++
}

// Flush adds what was counted since the last flush to the store. Counts a failed write could
// not add are kept for the next flush: an outage delays visits, it does not lose them.
func (c *Counter) Flush(ctx context.Context) error {
	today := c.now().UTC().Format(time.DateOnly)
	c.mu.Lock()
	pending := c.counts
	c.counts = map[Key]int64{}
	for cd := range c.sources {
		if cd.day != today {
			delete(c.sources, cd)
		}
	}
	c.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	out := make([]Count, 0, len(pending))
	for k, n := range pending {
		out = append(out, Count{Key: k, Visits: n})
	}
	if err := c.store.AddVisits(ctx, out); err != nil {
		c.mu.Lock()
		for k, n := range pending {
			c.counts[k] += n
		}
		c.mu.Unlock()
		return fmt.Errorf("flush %d visit counts: %w", len(out), err)
	}
	return nil
}

// Pending is how many visits wait for a flush, for tests.
func (c *Counter) Pending() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.counts {
		n += v
	}
	return n
}

// ReportStore is what a report reads.
type ReportStore interface {
	FindVisits(ctx context.Context, campaignID string) ([]Count, error)
	FindPledgesByStatus(ctx context.Context, campaignID string, statuses []pledge.Status, afterID string, limit int) ([]pledge.Pledge, error)
}

// Report is a campaign's visits and pledges per source.
type Report struct {
	CampaignID string         `json:"campaign_id"`
	Sources    []SourceReport `json:"sources"`
}

// Figures are visits and the pledges that came with them. Conversion is pledges per visit, null
// when there was no visit (a pledge made through the API, or counted before its visit was
// flushed).
type Figures struct {
	Visits     int64       `json:"visits"`
	Pledges    int64       `json:"pledges"`
	Amount     money.Money `json:"amount"`
	Conversion *float64    `json:"conversion"`
}

// SourceReport is one source's figures, in total and per UTC day.
type SourceReport struct {
	Source pledge.Source `json:"source"`
	Figures
	Days []DayReport `json:"days"`
}

// DayReport is one source's figures on one UTC day.
type DayReport struct {
	Day string `json:"day"`
	Figures
}

// reportPage is how many pledges a report reads at a time.
const reportPage = 1000

// BuildReport sums a campaign's visits and its counted pledges (those backing its totals) per
// source and day, in Go: one accumulator per figure, no $group (see DESIGN.md on FerretDB).
func BuildReport(ctx context.Context, st ReportStore, campaignID, currency string) (Report, error) {
	type dayKey struct {
		src pledge.Source
		day string
	}
	days := map[dayKey]*Figures{}
	at := func(src pledge.Source, day string) *Figures {
		k := dayKey{src, day}
		if days[k] == nil {
			days[k] = &Figures{Amount: money.Money{Currency: currency}}
		}
		return days[k]
	}
	counts, err := st.FindVisits(ctx, campaignID)
	if err != nil {
		return Report{}, err
	}
	for _, c := range counts {
		at(c.Source, c.Day).Visits += c.Visits
	}
	after := ""
	for {
		ps, err := st.FindPledgesByStatus(ctx, campaignID, pledge.CountedStatuses, after, reportPage)
		if err != nil {
			return Report{}, err
		}
		for _, p := range ps {
			f := at(p.Source, p.CreatedAt.UTC().Format(time.DateOnly))
			f.Pledges++
			f.Amount.Amount += p.Amount.Amount
		}
		if len(ps) < reportPage {
			break
		}
		after = ps[len(ps)-1].ID
	}
	bySource := map[pledge.Source]*SourceReport{}
	for k, f := range days {
		s := bySource[k.src]
		if s == nil {
			s = &SourceReport{Source: k.src, Figures: Figures{Amount: money.Money{Currency: currency}}}
			bySource[k.src] = s
		}
		s.Visits += f.Visits
		s.Pledges += f.Pledges
		s.Amount.Amount += f.Amount.Amount
		f.Conversion = conversion(*f)
		s.Days = append(s.Days, DayReport{Day: k.day, Figures: *f})
	}
	r := Report{CampaignID: campaignID, Sources: []SourceReport{}}
	for _, s := range bySource {
		s.Conversion = conversion(s.Figures)
		sort.Slice(s.Days, func(i, j int) bool { return s.Days[i].Day < s.Days[j].Day })
		r.Sources = append(r.Sources, *s)
	}
	// Most visited first; ties in a fixed order so the report is stable.
	sort.Slice(r.Sources, func(i, j int) bool {
		a, b := r.Sources[i], r.Sources[j]
		if a.Visits != b.Visits {
			return a.Visits > b.Visits
		}
		return fmt.Sprint(a.Source) < fmt.Sprint(b.Source)
	})
	return r, nil
}

func conversion(f Figures) *float64 {
	if f.Visits == 0 {
		return nil
	}
	v := float64(f.Pledges) / float64(f.Visits)
	return &v
}
