package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
)

// fulfilmentRoutes are the fulfilment page's routes (listed in Routes); the packing list and the
// attendance lists are the API's exports, served by the web server under the console's cookie.
var fulfilmentRoutes = []string{
	"GET /designer/campaigns/:id/fulfilment", "POST /designer/campaigns/:id/fulfilment",
	"POST /designer/campaigns/:id/fulfilment/import", "GET /designer/campaigns/:id/packing.csv",
	"GET /designer/campaigns/:id/tiers/:tier_id/sessions/:session_id/attendance.csv",
}

func init() { Routes = append(Routes, fulfilmentRoutes...) }

// maxShipmentsFile bounds an uploaded shipments file: pledge.MaxImportRows rows of a few
// hundred bytes fit, and nothing larger is read into memory.
const maxShipmentsFile = 8 << 20

// Fulfilment is the pledge service's part the fulfilment page uses: the API's calls, so the
// console and PATCH …/fulfilment and POST …/fulfilment.csv follow one set of rules.
type Fulfilment interface {
	SetFulfilment(ctx context.Context, camp campaign.Campaign, pledgeID string, ch pledge.FulfilmentChange, actor string) (pledge.Pledge, bool, error)
	ImportShipments(ctx context.Context, camp campaign.Campaign, body []byte, dryRun bool, actor string) (pledge.ImportReport, error)
}

// UseFulfilment gives the console the pledge service the fulfilment page writes through.
func (k *Console) UseFulfilment(f Fulfilment) { k.fulfilment = f }

func (k *Console) mountFulfilment(r fiber.Router) {
	r.Get("/designer/campaigns/:id/fulfilment", k.page(k.designer(k.fulfilmentPage)))
	r.Post("/designer/campaigns/:id/fulfilment", k.page(k.checkCSRF(k.designer(k.setFulfilment))))
	r.Post("/designer/campaigns/:id/fulfilment/import", k.page(k.checkCSRF(k.designer(k.importShipments))))
}

type fulfilmentView struct {
	base
	CampaignTitle, Back, Backers, Action, Import, Packing string
	After                                                 string
	Pager                                                 pager
	// Problem is why the last form was refused, on top of the page.
	Problem    string
	Rows       []fulfilmentRow
	Attendance []attendanceLink
	Report     *importResult
}

type fulfilmentRow struct {
	ID, Name, Email, Tier, Status, StatusKind string
	Survey                                    string
	Answered, Ships                           bool
	Carrier, Tracking, TrackingURL            string
	Choices                                   []choice
	Errors                                    fieldErrors
}

type choice struct {
	Value, Label string
	Selected     bool
}

type attendanceLink struct{ Href, Label string }

// importResult is what a shipments file did or would do; Errors lists every bad row.
type importResult struct {
	DryRun                      bool
	Changes, Unchanged, Applied int
	Errors                      []lineError
}

// lineError is a bad row: "Line 3:" in the designer's language, and the service's reason.
type lineError struct{ Line, Reason string }

// failedForm is a pledge's form the service refused, shown again as typed beside its messages.
type failedForm struct {
	pledgeID string
	change   pledge.FulfilmentChange
	errs     fieldErrors
}

// fulfilmentCampaign is the designer's campaign, once it is live: before launch nobody has paid.
func (k *Console) fulfilmentCampaign(r *request) (campaign.Campaign, error) {
	c, err := k.campaigns.FindForOwner(r.c.UserContext(), r.actor(), r.c.Params("id"))
	if err != nil {
		return c, err
	}
	if c.LaunchedAt == nil {
		return c, backstitch.Errorf(backstitch.CodeNotFound, "A campaign fulfils its rewards once it has launched.")
	}
	return c, nil
}

func (k *Console) fulfilmentPage(r *request) (view, error) {
	c, err := k.fulfilmentCampaign(r)
	if err != nil {
		return view{}, err
	}
	return k.fulfilmentView(r, c, r.c.Query("after"), nil, "", nil, http.StatusOK)
}

// fulfilmentView lists the paid pledges with a reward, a page at a time (pledge id order), each
// with its form; failed is a refused form shown again, report a shipments file's result.
func (k *Console) fulfilmentView(r *request, c campaign.Campaign, after string, failed *failedForm, problem string, report *importResult, status int) (view, error) {
	ctx := r.c.UserContext()
	if len(after) > 64 {
		after = ""
	}
	d, err := k.campaigns.Show(ctx, r.actor(), c.ID)
	if err != nil {
		return view{}, err
	}
	tiers := map[string]campaign.Tier{}
	href := editorHref(c.ID)
	v := fulfilmentView{base: r.base, CampaignTitle: c.Title, Back: href, Backers: href + "/backers", Action: href + "/fulfilment",
		Import: href + "/fulfilment/import", Packing: href + "/packing.csv", After: after, Problem: problem, Report: report}
	v.Title = r.loc.T("console.fulfilment.title", c.Title)
	v.Notice = k.fulfilmentNotice(r)
	for _, t := range d.Tiers {
		tiers[t.ID] = t
		for _, s := range t.Sessions {
			zone, err := time.LoadLocation(s.Timezone)
			if err != nil {
				zone = time.UTC
			}
			v.Attendance = append(v.Attendance, attendanceLink{
				Href:  href + "/tiers/" + url.PathEscape(t.ID) + "/sessions/" + url.PathEscape(s.ID) + "/attendance.csv",
				Label: t.Title + " · " + r.loc.DateTime(s.StartsAt, zone)})
		}
	}
	list, err := k.reports.FindPledgesByStatus(ctx, c.ID, []pledge.Status{pledge.StatusCollected, pledge.StatusPartiallyRefunded}, after, backersPage+1)
	if err != nil {
		return view{}, err
	}
	var first, next string
	if after != "" {
		first = v.Action
	}
	if len(list) > backersPage {
		list = list[:backersPage]
		next = v.Action + "?" + url.Values{"after": {list[len(list)-1].ID}}.Encode()
	}
	v.Pager = newPager(r.loc, backersPager, first, next)
	for _, p := range list {
		t, ok := tiers[p.TierID]
		if !ok {
			continue // support without a reward: nothing to send
		}
		v.Rows = append(v.Rows, fulfilmentRowOf(r, p, t, failed))
	}
	return view{status: status, name: "designer_fulfilment", data: v}, nil
}

func fulfilmentRowOf(r *request, p pledge.Pledge, t campaign.Tier, failed *failedForm) fulfilmentRow {
	f := pledge.FulfilmentOf(p, t.Kind)
	row := fulfilmentRow{ID: p.ID, Name: p.Backer.Name, Email: p.Backer.Email, Tier: t.Title,
		Status: r.loc.T("fulfilment.status." + string(f.Status)), StatusKind: string(f.Status), Ships: t.Kind == campaign.KindPhysical,
		Carrier: f.Carrier, Tracking: f.TrackingNumber, TrackingURL: f.TrackingURL, Answered: p.SurveyAnsweredAt != nil}
	row.Survey = r.loc.T("console.fulfilment.survey_no")
	if row.Answered {
		row.Survey = r.loc.T("console.fulfilment.survey_yes")
	}
	selected := f.Status
	if failed != nil && failed.pledgeID == p.ID {
		selected, row.Carrier, row.Tracking, row.Errors = failed.change.Status, failed.change.Carrier, failed.change.TrackingNumber, failed.errs
	}
	for _, st := range pledge.FulfilmentSteps(t.Kind) {
		row.Choices = append(row.Choices, choice{Value: string(st), Label: r.loc.T("fulfilment.status." + string(st)), Selected: st == selected})
	}
	return row
}

// fulfilmentNotice is the confirmation a redirect after a saved form asked for.
func (k *Console) fulfilmentNotice(r *request) string {
	switch n := r.c.Query("notice"); n {
	case "fulfilment_saved", "shipments_applied":
		return r.loc.T("console.notice." + n)
	}
	return ""
}

// setFulfilment records one pledge's fulfilment through the API's call (PATCH …/fulfilment).
func (k *Console) setFulfilment(r *request) (view, error) {
	c, err := k.fulfilmentCampaign(r)
	if err != nil {
		return view{}, err
	}
	id, after := r.c.FormValue("pledge_id"), r.c.FormValue("after")
	ch := pledge.FulfilmentChange{Status: pledge.FulfilmentStatus(r.c.FormValue("status")),
		Carrier: r.c.FormValue("carrier"), TrackingNumber: r.c.FormValue("tracking_number")}
	if _, _, err := k.fulfilment.SetFulfilment(r.c.UserContext(), c, id, ch, r.actor().String()); err != nil {
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		errs, msg := fulfilmentFields(r, err)
		return k.fulfilmentView(r, c, after, &failedForm{pledgeID: id, change: ch, errs: errs}, msg, nil, status)
	}
	q := url.Values{"notice": {"fulfilment_saved"}}
	if after != "" && len(after) <= 64 {
		q.Set("after", after)
	}
	return view{redirect: editorHref(c.ID) + "/fulfilment?" + q.Encode() + "#pledge-" + url.PathEscape(id)}, nil
}

// fulfilmentFields are the service's complaints beside each field, in the designer's language
// where the catalogue has words for them (the API's English message otherwise).
func fulfilmentFields(r *request, err error) (fieldErrors, string) {
	errs := fieldErrors{}
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok {
		return errs, r.loc.T("console.error.generic")
	}
	for _, f := range e.Fields {
		if _, taken := errs[f.Field]; !taken {
			errs[f.Field] = r.loc.TOr("console.fulfilment.error."+f.Field+"."+f.Code, f.Message)
		}
	}
	if len(e.Fields) == 0 || e.Code != backstitch.CodeValidation {
		return errs, e.Message
	}
	return errs, r.loc.T("console.error.fields")
}

// importShipments checks ("check") or applies ("apply") a shipments file through the API's
// import: every row is checked first and a file with any bad row changes nothing.
func (k *Console) importShipments(r *request) (view, error) {
	c, err := k.fulfilmentCampaign(r)
	if err != nil {
		return view{}, err
	}
	dryRun := r.c.FormValue("action") != "apply"
	fh, err := r.c.FormFile("file")
	if err != nil || fh.Size == 0 {
		return k.fulfilmentView(r, c, "", nil, r.loc.T("console.fulfilment.import.missing"), nil, http.StatusUnprocessableEntity)
	}
	if fh.Size > maxShipmentsFile {
		return k.fulfilmentView(r, c, "", nil, r.loc.T("console.fulfilment.import.too_large"), nil, http.StatusRequestEntityTooLarge)
	}
	f, err := fh.Open()
	if err != nil {
		return view{}, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxShipmentsFile))
	if err != nil {
		return view{}, err
	}
	rep, err := k.fulfilment.ImportShipments(r.c.UserContext(), c, body, dryRun, r.actor().String())
	res := &importResult{DryRun: dryRun, Changes: len(rep.Changes), Unchanged: rep.Unchanged, Applied: rep.Applied}
	for _, e := range rep.Errors {
		res.Errors = append(res.Errors, lineError{Line: locale.Label(r.Lang, r.loc.T("console.fulfilment.import.line", e.Line)), Reason: e.Reason})
	}
	switch {
	case len(rep.Errors) > 0:
		return k.fulfilmentView(r, c, "", nil, r.loc.T("console.fulfilment.import.refused"), res, http.StatusUnprocessableEntity)
	case err != nil:
		// A pledge moved between the check and its write (refunded meanwhile): what is applied
		// stays applied, and sending the file again finishes the rest.
		status, ok := formStatus(err)
		if !ok {
			return view{}, err
		}
		_, msg := fulfilmentFields(r, err)
		return k.fulfilmentView(r, c, "", nil, msg, nil, status)
	case dryRun:
		return k.fulfilmentView(r, c, "", nil, "", res, http.StatusOK)
	}
	return view{redirect: editorHref(c.ID) + "/fulfilment?notice=shipments_applied"}, nil
}
