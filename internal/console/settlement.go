package console

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/settlement"
)

// settlementRoutes are the routes mountSettlement adds (listed in Routes).
var settlementRoutes = []string{"GET /designer/campaigns/:id/settlement"}

func init() { Routes = append(Routes, settlementRoutes...) }

// settlementSource is what the settlement page reads: the store the API's report reads, and the
// platform's fee in basis points, so that the page and GET …/settlement show the same figures.
type settlementSource struct {
	store  settlement.ReportStore
	feeBPS int64
	// dunning is BACKSTITCH_DUNNING_WINDOW, which the page tells designers in words.
	dunning time.Duration
}

// UseSettlement gives the console the store and platform fee the settlement report is built
// from, and the dunning window declined cards get; set before serving.
func (k *Console) UseSettlement(st settlement.ReportStore, feeBPS int64, dunning time.Duration) {
	k.settlement = settlementSource{store: st, feeBPS: feeBPS, dunning: dunning}
}

func (k *Console) mountSettlement(r fiber.Router) {
	r.Get("/designer/campaigns/:id/settlement", k.page(k.designer(k.settlementPage)))
}

// settlementStatuses is the order the pledges' table lists states in: the money's path.
var settlementStatuses = []pledge.Status{
	pledge.StatusActive, pledge.StatusCharging, pledge.StatusPaymentFailed, pledge.StatusCollected,
	pledge.StatusPartiallyRefunded, pledge.StatusRefunded, pledge.StatusDisputed, pledge.StatusDisputeLost,
	pledge.StatusDropped, pledge.StatusVoid, pledge.StatusPending, pledge.StatusCancelled, pledge.StatusExpired,
}

type settlementView struct {
	base
	Back, Insights string
	// Fulfilment leads to the rewards' fulfilment once the campaign succeeded.
	Fulfilment string
	// Settles is the sentence that says when a campaign still before its deadline settles; the
	// figures below are then empty.
	Settles string
	// Outcome is the campaign's result; State and StateKind its settlement's step, and Explain
	// one sentence about what that step means.
	Outcome, OutcomeKind    string
	State, StateKind        string
	Explain                 string
	PledgedAtClose, Decided string
	ChargesDone, PaidOut    string
	Figures                 []figureRow
	ByStatus                []statusRow
}

type figureRow struct{ ID, Label, Amount, Hint string }

type statusRow struct{ Status, Kind, Count, Amount string }

// settlementPage shows a launched campaign's settlement report, the API's, as its designer
// reads it. Before launch there is nothing to settle, so there is no such page.
func (k *Console) settlementPage(r *request) (view, error) {
	ctx := r.c.UserContext()
	c, err := k.campaigns.FindForOwnerOrAdmin(ctx, r.actor(), r.c.Params("id"))
	if err != nil {
		return view{}, err
	}
	if !c.Public() || c.LaunchedAt == nil {
		return view{}, backstitch.Errorf(backstitch.CodeNotFound, "A campaign settles after its deadline, once it is live.")
	}
	zone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		zone = time.UTC
	}
	v := settlementView{base: r.base, Back: editorHref(c.ID), Insights: editorHref(c.ID) + "/insights",
		Outcome: r.loc.T("console.status." + string(c.Status)), OutcomeKind: string(c.Status)}
	if c.Status == campaign.StatusSucceeded {
		v.Fulfilment = editorHref(c.ID) + "/fulfilment"
	}
	v.Title = r.loc.T("console.settlement.title", c.Title)
	if c.Status == campaign.StatusLive && c.Settlement == nil && k.now().Before(c.Deadline) {
		v.Settles = r.loc.T("console.settlement.before", r.loc.DateTime(c.Deadline, zone))
		return view{name: "designer_settlement", data: v}, nil
	}
	rep, err := settlement.BuildReport(ctx, k.settlement.store, c.ID, k.settlement.feeBPS, k.now())
	if err != nil {
		return view{}, err
	}
	v.StateKind = string(rep.State)
	v.State = r.loc.T("console.settlement.state." + v.StateKind)
	v.Explain = r.loc.T("console.settlement.explain." + v.StateKind)
	if rep.State == settlement.StateDunning {
		v.Explain = r.loc.T("console.settlement.explain.dunning", r.loc.Span(k.settlement.dunning))
	}
	when := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return r.loc.DateTime(*t, zone)
	}
	v.Decided, v.ChargesDone, v.PaidOut = when(rep.DecidedAt), when(rep.ChargesDoneAt), when(rep.PaidOutAt)
	if rep.PledgedAtClose != nil {
		v.PledgedAtClose = r.loc.Money(*rep.PledgedAtClose)
	}
	fig := func(id string, m money.Money) {
		v.Figures = append(v.Figures, figureRow{ID: id, Label: r.loc.T("console.settlement." + id),
			Amount: r.loc.Money(m), Hint: r.loc.T("console.settlement." + id + "_hint")})
	}
	fig("collected", rep.Collected)
	fig("shipping", rep.CollectedShipping)
	fig("pending", rep.Pending)
	fig("refunded", rep.Refunded)
	fig("disputes_lost", rep.DisputesLost)
	fig("platform_fee", rep.PlatformFee)
	fig("stripe_fees", rep.StripeFees)
	fig("payable", rep.Payable)
	fig("transferred", rep.Transferred)
	for _, s := range settlementStatuses {
		if t, ok := rep.ByStatus[s]; ok && t.Count > 0 {
			v.ByStatus = append(v.ByStatus, statusRow{Status: r.loc.T("pledge.status." + string(s)), Kind: string(s),
				Count: r.loc.Number(t.Count), Amount: r.loc.Money(t.Amount)})
		}
	}
	return view{name: "designer_settlement", data: v}, nil
}

// settlementLink is where the editor and the insights link to the settlement page: only once
// the campaign has ended ("" before), since until then the page only says when it will settle.
func settlementLink(c campaign.Campaign, now time.Time) string {
	if c.LaunchedAt == nil || !c.Public() || (c.Status == campaign.StatusLive && now.Before(c.Deadline)) {
		return ""
	}
	return editorHref(c.ID) + "/settlement"
}
