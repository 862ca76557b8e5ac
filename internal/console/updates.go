package console

import (
	"context"
	"html/template"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/markdown"
	"github.com/backstitch/backstitch/internal/update"
)

// updateRoutes are the routes mountUpdates adds (listed in Routes).
var updateRoutes = []string{"GET /designer/campaigns/:id/updates", "POST /designer/campaigns/:id/updates"}

func init() { Routes = append(Routes, updateRoutes...) }

// Updates is what the updates page asks of the update service, the one behind the API's
// /campaigns/{id}/updates: it alone decides who may post and when.
type Updates interface {
	Post(ctx context.Context, by campaign.Actor, campaignID string, f update.Fields) (update.Update, error)
	List(ctx context.Context, by campaign.Actor, ref string) (campaign.Campaign, []update.Update, error)
}

// UseUpdates gives the console the update service; set before serving.
func (k *Console) UseUpdates(u Updates) { k.updates = u }

func (k *Console) mountUpdates(r fiber.Router) {
	r.Get("/designer/campaigns/:id/updates", k.page(k.designer(k.updatesPage)))
	r.Post("/designer/campaigns/:id/updates", k.page(k.checkCSRF(k.designer(k.postUpdate))))
}

// updateRow is a posted update as the page lists it, its Markdown rendered as the campaign page
// renders it.
type updateRow struct {
	Title, Posted, PostedISO, Visibility, VisibilityKind string
	Body                                                 template.HTML
}

type updatesView struct {
	base
	CampaignTitle, Back, Action string
	// Launched says the form is shown: a campaign nobody can back yet has no one to tell.
	Launched bool
	Form     update.Fields
	// Key names this form, so that sending it twice (a double click, a browser resending it)
	// posts one update, and every backer hears once.
	Key     string
	Errors  fieldErrors
	Error   string
	Updates []updateRow
}

// updatesView lists the campaign's updates, every one of them (its designer reads them all),
// with the form as typed in f.
func (k *Console) updatesView(r *request, f update.Fields) (updatesView, error) {
	ctx := r.c.UserContext()
	// The page is its designer's only, as posting is: another designer's public campaign is
	// forbidden here even though its public updates are not.
	c, err := k.campaigns.FindForOwner(ctx, r.actor(), r.c.Params("id"))
	if err != nil {
		return updatesView{}, err
	}
	_, list, err := k.updates.List(ctx, r.actor(), c.ID)
	if err != nil {
		return updatesView{}, err
	}
	key, err := newFormKey()
	if err != nil {
		return updatesView{}, err
	}
	v := updatesView{base: r.base, CampaignTitle: c.Title, Back: editorHref(c.ID), Action: editorHref(c.ID) + "/updates",
		Launched: c.LaunchedAt != nil, Form: f, Key: key}
	v.Title = r.loc.T("console.updates.title", c.Title)
	zone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		zone = time.UTC
	}
	for _, u := range list {
		v.Updates = append(v.Updates, updateRow{Title: u.Title, Body: markdown.Render(u.Body),
			Posted: r.loc.T("update.posted", r.loc.Date(u.CreatedAt, zone)), PostedISO: u.CreatedAt.UTC().Format(time.RFC3339),
			Visibility: r.loc.T("console.updates." + string(u.Visibility)), VisibilityKind: string(u.Visibility)})
	}
	return v, nil
}

func (k *Console) updatesPage(r *request) (view, error) {
	if r.c.Query("notice") == "update_posted" {
		r.Notice = r.loc.T("console.notice.update_posted")
	}
	v, err := k.updatesView(r, update.Fields{Visibility: string(update.Public)})
	if err != nil {
		return view{}, err
	}
	return view{name: "designer_updates", data: v}, nil
}

// postUpdateTTL is how long a posted update's form is remembered against being sent again.
const postUpdateTTL = 24 * time.Hour

// postUpdate posts through the update service, once per form however often it is sent; what the
// service refuses comes back beside the fields with everything typed.
func (k *Console) postUpdate(r *request) (view, error) {
	ctx := r.c.UserContext()
	id := r.c.Params("id")
	f := update.Fields{Title: r.c.FormValue("title"), Body: r.c.FormValue("body"), Visibility: r.c.FormValue("visibility")}
	posted := view{redirect: editorHref(id) + "/updates?notice=update_posted"}
	key := r.c.FormValue("key")
	if !validFormKey(key) {
		// A form from before keys, or a hand-made post: show it again with a key of its own.
		return k.updateRefused(r, f, http.StatusUnprocessableEntity, fieldErrors{}, r.loc.T("console.updates.resend"))
	}
	var postErr error
	outcome, err := k.once(ctx, hashHex("console:update", r.sess.UserID, id, key), hashHex(f.Title, f.Body, f.Visibility), postUpdateTTL, func() error {
		_, postErr = k.updates.Post(ctx, r.actor(), id, f)
		return postErr
	})
	switch {
	case postErr != nil && err == postErr:
		status, ok := formStatus(postErr)
		if backstitch.ErrorCode(postErr) == backstitch.CodeCampaignNotLive {
			status, ok = http.StatusConflict, true
		}
		if !ok {
			return view{}, postErr
		}
		errs, msg := fieldsOf(r, postErr, nil)
		return k.updateRefused(r, f, status, errs, msg)
	case err != nil:
		return view{}, err
	case outcome == inFlightOrDifferent:
		return k.message(r, http.StatusConflict, "console.updates.again_title", "console.updates.again_body"), nil
	}
	return posted, nil
}

// updateRefused shows the form again, as typed, with why it was refused.
func (k *Console) updateRefused(r *request, f update.Fields, status int, errs fieldErrors, msg string) (view, error) {
	v, err := k.updatesView(r, f)
	if err != nil {
		return view{}, err
	}
	v.Errors, v.Error = errs, msg
	return view{status: status, name: "designer_updates", data: v}, nil
}
