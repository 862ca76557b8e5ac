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
	Back, Backers string
	// Settlement links the settlement page once the campaign has ended.
	Settlement            string
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
		Settlement: settlementLink(c, k.now()),
		Pledged:    m(total), Goal: r.loc.Money(c.Goal), Count: r.loc.Plural("campaign.backers", c.BackersCount)}
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

// Chart geometry, in the SVG's own units. It scales to the column's width, text included: drawn
// narrow, so that its text stays legible on a phone; the stylesheet bounds how wide it grows.
const (
	chartW, chartH            = 400, 240
	chartLeft, chartRight     = 52, 12
	chartTop, chartBottom     = 28, 36
	chartPlotW, chartPlotH    = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartTicks                = 4
	chartGoalDash, chartColor = "6 4", "currentColor"
)

// pledgedChart draws the running total as an SVG line over the days, with the goal as a dashed
// line. It is built here, with numbers only and text escaped, so the page needs no script.
func pledgedChart(loc locale.Locale, series []int64, labels []string, goal int64, cur string) template.HTML {
	highest := goal
	for _, v := range series {
		highest = max(highest, v)
	}
	// The axis counts whole units of the currency in round steps (…, 1000, 2000, 2500, 5000, …).
	unit := minorUnit(cur)
	step := niceStep((highest+highest/10)/unit/chartTicks + 1)
	top := step * chartTicks * unit
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
	// Grid lines and amounts on the left, under the currency's code.
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, chartLeft-8, chartTop-10, esc(cur))
	for i := int64(0); i <= chartTicks; i++ {
		v := step * i * unit
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-8, y(v)+4, esc(loc.Number(step*i)))
	}
	// Dates along the bottom: the first (from the axis on), the last (up to the edge), and the
	// middle day when it fits between them (text of 12 units is about 7 wide a character).
	width := func(i int) float64 { return 7 * float64(len([]rune(labels[i]))) }
	label := func(i int, anchor string) {
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), chartH-10, anchor, esc(labels[i]))
	}
	last := len(series) - 1
	if last == 0 {
		label(0, "middle")
	} else {
		label(0, "start")
		label(last, "end")
		if mid := last / 2; mid > 0 && x(mid)-width(mid)/2 > x(0)+width(0)+8 && x(mid)+width(mid)/2 < x(last)-width(last)-8 {
			label(mid, "middle")
		}
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
	fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="4"/>`, x(last), y(series[last]))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// minorUnit is how many minor units make one of the currency (100 for CHF, 1 for JPY).
func minorUnit(cur string) int64 {
	unit := int64(1)
	if c, ok := money.LookupCurrency(cur); ok {
		for range c.Exponent {
			unit *= 10
		}
	}
	return unit
}

// niceStep is the smallest of 1, 2, 2.5 and 5 times a power of ten that is at least n.
func niceStep(n int64) int64 {
	for pow := int64(1); ; pow *= 10 {
		for _, m := range []int64{10, 20, 25, 50} {
			if s := m * pow / 10; s >= n && s > 0 {
				return s
			}
		}
	}
}
