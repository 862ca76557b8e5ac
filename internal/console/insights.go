package console

import (
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/visits"
)

// insightsPage is how many pledges one store read of the insights takes.
const insightsPage = 1000

type insightsView struct {
	base
	Back, Backers         string
	Pledged, Goal, Count  string
	Chart                 template.HTML
	ChartTitle, ChartDesc string
	Days                  []dayRow
	Tiers                 []tierFigures
	Sources               []sourceRow
}

type dayRow struct{ Day, Amount, Total string }

type tierFigures struct {
	Title, Claimed, Remaining, Amount string
}

type sourceRow struct {
	Source, Visits, Pledges, Amount, Conversion string
}

// insights shows a public (live or ended) campaign's figures: what was pledged day by day, per
// reward, and per source. Before launch there is nothing to show, so there is no such page.
func (k *Console) insights(r *request) (view, error) {
	ctx := r.c.UserContext()
	c, err := k.campaigns.FindForOwnerOrAdmin(ctx, r.actor(), r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	if !c.Public() || c.LaunchedAt == nil {
		return view{}, backstitch.Errorf(backstitch.CodeNotFound, "A campaign has insights once it is live.")
	}
	d, err := k.campaigns.Show(ctx, r.actor(), c.ID)
	if err != nil {
		return view{}, err
	}
	zone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		zone = time.UTC
	}
	cur := c.Goal.Currency
	// One pass over the counted pledges: amounts per day (in the campaign's zone) and per tier.
	perDay := map[string]int64{}
	perTier := map[string]int64{}
	var total int64
	after := ""
	for {
		page, err := k.reports.FindPledgesByStatus(ctx, c.ID, pledge.CountedStatuses, after, insightsPage)
		if err != nil {
			return view{}, err
		}
		for _, p := range page {
			perDay[p.CreatedAt.In(zone).Format(time.DateOnly)] += p.Amount.Amount
			perTier[p.TierID] += p.Amount.Amount
			total += p.Amount.Amount
		}
		if len(page) < insightsPage {
			break
		}
		after = page[len(page)-1].ID
	}
	src, err := visits.BuildReport(ctx, k.reports, c.ID, cur)
	if err != nil {
		return view{}, err
	}

	m := func(n int64) string { return r.loc.Money(money.Money{Amount: n, Currency: cur}) }
	v := insightsView{base: r.base, Back: editorHref(c.ID), Backers: editorHref(c.ID) + "/backers",
		Pledged: m(total), Goal: r.loc.Money(c.Goal), Count: r.loc.Plural("campaign.backers", c.BackersCount)}
	v.Title = r.loc.T("console.insights.title", c.Title)

	// Every day from launch to today (or the deadline, once passed), pledges or not.
	first := dayStart(c.LaunchedAt.In(zone))
	last := dayStart(minTime(k.now(), c.Deadline).In(zone))
	var series []int64
	var labels []string
	running := int64(0)
	for day := first; !day.After(last) && len(series) < 400; day = day.AddDate(0, 0, 1) {
		key := day.Format(time.DateOnly)
		running += perDay[key]
		series = append(series, running)
		labels = append(labels, r.loc.Date(day, zone))
		if perDay[key] > 0 {
			v.Days = append(v.Days, dayRow{Day: r.loc.Date(day, zone), Amount: m(perDay[key]), Total: m(running)})
		}
	}
	v.ChartTitle = r.loc.T("console.insights.chart_title")
	v.ChartDesc = r.loc.T("console.insights.chart_desc", m(total), r.loc.Money(c.Goal), labels[0], labels[len(labels)-1])
	v.Chart = pledgedChart(r.loc, series, labels, c.Goal.Amount, cur)

	for _, t := range d.Tiers {
		f := tierFigures{Title: t.Title, Claimed: r.loc.Number(t.Claimed), Amount: m(perTier[t.ID]), Remaining: r.loc.T("console.tier.unlimited")}
		if t.Limit != nil {
			f.Remaining = r.loc.Number(max(0, *t.Limit-t.Claimed))
		}
		v.Tiers = append(v.Tiers, f)
	}
	if perTier[""] > 0 {
		v.Tiers = append(v.Tiers, tierFigures{Title: r.loc.T("email.no_reward"), Claimed: "—", Remaining: "—", Amount: m(perTier[""])})
	}

	sources := slices.Clone(src.Sources)
	slices.SortStableFunc(sources, func(a, b visits.SourceReport) int {
		return cmp.Or(cmp.Compare(b.Amount.Amount, a.Amount.Amount), cmp.Compare(b.Visits, a.Visits))
	})
	for _, s := range sources {
		row := sourceRow{Source: sourceText(s.Source), Visits: r.loc.Number(s.Visits), Pledges: r.loc.Number(s.Pledges),
			Amount: m(s.Amount.Amount), Conversion: "—"}
		switch {
		case s.Source == visits.Overflow:
			row.Source = r.loc.T("console.insights.other")
		case row.Source == "":
			row.Source = r.loc.T("console.insights.direct")
		}
		if s.Conversion != nil {
			row.Conversion = percent(r.loc, *s.Conversion)
		}
		v.Sources = append(v.Sources, row)
	}
	return view{name: "designer_insights", data: v}, nil
}

func dayStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// percent writes a share as people read it: "12.5 %" in French, "12.5%" in English.
func percent(loc locale.Locale, f float64) string {
	s := strconv.FormatFloat(f*100, 'f', 1, 64)
	if loc.Lang == "fr" {
		return strings.Replace(s, ".", ",", 1) + "\u202f%"
	}
	return s + "%"
}

// Chart geometry, in the SVG's own units (it scales to the page's width).
const (
	chartW, chartH            = 640, 260
	chartLeft, chartRight     = 88, 16
	chartTop, chartBottom     = 16, 36
	chartPlotW, chartPlotH    = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartTicks                = 4
	chartLabelEvery           = 7 // days between date labels, at most
	chartMaxLabels            = 5
	chartGoalDash, chartColor = "6 4", "currentColor"
)

// pledgedChart draws the running total as an SVG line over the days, with the goal as a dashed
// line. It is built here, with numbers only and text escaped, so the page needs no script.
func pledgedChart(loc locale.Locale, series []int64, labels []string, goal int64, cur string) template.HTML {
	top := goal
	for _, v := range series {
		top = max(top, v)
	}
	top = max(1, top+top/10)
	x := func(i int) float64 {
		if len(series) == 1 {
			return chartLeft + chartPlotW/2
		}
		return chartLeft + float64(i)*chartPlotW/float64(len(series)-1)
	}
	y := func(v int64) float64 { return chartTop + chartPlotH - float64(v)*chartPlotH/float64(top) }
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">`, chartW, chartH)
	b.WriteString(`<title id="chart-title">` + esc(loc.T("console.insights.chart_title")) + `</title>`)
	// Grid lines and amounts on the left.
	for i := 0; i <= chartTicks; i++ {
		v := top * int64(i) / chartTicks
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-8, y(v)+4, esc(loc.Money(money.Money{Amount: roundMajor(v, cur), Currency: cur})))
	}
	// Dates along the bottom: the first, the last, and a few between.
	step := max(1, min(chartLabelEvery, (len(series)+chartMaxLabels-1)/chartMaxLabels))
	for i := 0; i < len(series); i += step {
		if i > 0 && len(series)-1-i < step/2+1 {
			continue // too close to the last label
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), chartH-10, esc(labels[i]))
	}
	if len(series) > 1 {
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="end">%s</text>`, x(len(series)-1), chartH-10, esc(labels[len(labels)-1]))
	}
	// The goal.
	fmt.Fprintf(&b, `<line class="goal" x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke-dasharray="%s"/>`, chartLeft, chartW-chartRight, y(goal), y(goal), chartGoalDash)
	fmt.Fprintf(&b, `<text class="goal-label" x="%d" y="%.1f">%s</text>`, chartLeft+6, y(goal)-6,
		esc(loc.T("console.goal_is", loc.Money(money.Money{Amount: goal, Currency: cur}))))
	// The running total, as an area under a line.
	var pts strings.Builder
	for i, v := range series {
		fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
	}
	fmt.Fprintf(&b, `<polygon class="area" points="%.1f,%.1f %s%.1f,%.1f"/>`, x(0), y(0), pts.String(), x(len(series)-1), y(0))
	fmt.Fprintf(&b, `<polyline class="line" fill="none" stroke="%s" points="%s"/>`, chartColor, strings.TrimSpace(pts.String()))
	last := len(series) - 1
	fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="4"/>`, x(last), y(series[last]))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// roundMajor rounds an axis amount (minor units) to whole major units, as an axis reads best.
func roundMajor(v int64, cur string) int64 {
	unit := int64(1)
	if c, ok := money.LookupCurrency(cur); ok {
		for range c.Exponent {
			unit *= 10
		}
	}
	return (v + unit/2) / unit * unit
}
