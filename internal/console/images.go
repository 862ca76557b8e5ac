package console

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/imaging"
)

// UploadPath matches the console's image forms, whose bodies may be as large as an image: the
// web server raises its body limit for these requests only, from the request line.
var UploadPath = regexp.MustCompile(`^/designer/campaigns/[^/?]+/(cover|tiers/[^/?]+/image)$`)

// picture is an uploaded image as the console shows it (the shared "picture" partial).
type picture struct {
	Src, Alt string
	W, H     int
	Lazy     bool
}

// pictureOf shows img at its card width, or nothing without one.
func pictureOf(img *campaign.Image) *picture {
	if img == nil {
		return nil
	}
	sz := img.Size(imaging.CardWidth)
	return &picture{Src: campaign.ImagePath(img.ID, sz.Width), Alt: img.Alt, W: sz.W, H: sz.H}
}

// imageForm is an image upload form: the current picture, where the form posts, and, when it
// comes back refused, the alt text typed and what is wrong beside each field.
type imageForm struct {
	Current *picture
	// ID prefixes the form's element ids; CSRF is the page's token.
	ID, CSRF string
	Action   string
	Alt      string
	Errors   fieldErrors
	Error    string
}

// readImageUpload reads the form's file and alt text; a missing one is shown beside its field.
func readImageUpload(r *request) (campaign.Upload, fieldErrors, error) {
	u := campaign.Upload{Alt: r.c.FormValue("alt")}
	errs := fieldErrors{}
	if strings.TrimSpace(u.Alt) == "" {
		errs["alt"] = r.loc.T("console.image.error.alt")
	}
	// Our form always sends a multipart body; whatever else arrives simply has no file.
	fh, err := r.c.FormFile("file")
	if err != nil || fh.Size == 0 {
		errs["file"] = r.loc.T("console.image.error.missing")
		return u, errs, nil
	}
	f, err := fh.Open()
	if err != nil {
		return u, nil, err
	}
	defer f.Close()
	// One byte more than allowed tells a file at the limit from one over it.
	if u.Data, err = io.ReadAll(io.LimitReader(f, imaging.MaxBytes+1)); err != nil {
		return u, nil, err
	}
	return u, errs, nil
}

// imageProblem turns a refused upload into a status and messages beside the fields: the
// wrong kind of file (415), too large (413), or a picture that cannot be used (422, with the
// service's reason: too many pixels, too small, too narrow). ok is false for the errors no
// form can fix.
func imageProblem(r *request, err error, errs fieldErrors) (int, fieldErrors, string, bool) {
	switch backstitch.ErrorCode(err) {
	case backstitch.CodeUnsupportedMedia:
		errs["file"] = r.loc.T("console.image.error.type")
		return http.StatusUnsupportedMediaType, errs, r.loc.T("console.error.fields"), true
	case backstitch.CodeBodyTooLarge:
		errs["file"] = r.loc.T("console.image.error.size")
		return http.StatusRequestEntityTooLarge, errs, r.loc.T("console.error.fields"), true
	}
	if e, ok := errors.AsType[*backstitch.Error](err); ok && e.Code == backstitch.CodeValidation {
		for _, f := range e.Fields {
			if f.Field == "file" && f.Code == "too_many_pixels" {
				errs["file"] = r.loc.T("console.image.error.pixels")
			}
		}
	}
	status, ok := formStatus(err)
	if !ok {
		return 0, nil, "", false
	}
	errs, msg := fieldsOf(r, err, errs)
	return status, errs, msg, true
}

// uploadCover makes the uploaded picture the campaign's cover and comes back to the editor.
func (k *Console) uploadCover(r *request) (view, error) {
	d, err := k.load(r)
	if err != nil {
		return view{}, err
	}
	u, errs, err := readImageUpload(r)
	if err != nil {
		return view{}, err
	}
	if len(errs) == 0 {
		if _, err = k.campaigns.SetCover(r.c.UserContext(), r.actor(), d.Campaign.ID, u); err == nil {
			return view{redirect: editorHref(d.Campaign.ID) + "?notice=cover_saved#cover"}, nil
		}
	}
	status, errs, msg := http.StatusUnprocessableEntity, errs, r.loc.T("console.error.fields")
	if err != nil {
		var ok bool
		if status, errs, msg, ok = imageProblem(r, err, errs); !ok {
			return view{}, err
		}
	}
	v := k.editorPage(r, &d, nil, formOf(d.Campaign, r.loc), nil, "", status)
	ev := v.data.(editorView)
	ev.Cover.Alt, ev.Cover.Errors, ev.Cover.Error = u.Alt, errs, msg
	v.data = ev
	return v, nil
}

// uploadTierImage makes the uploaded picture a tier's and comes back to the tier's form.
func (k *Console) uploadTierImage(r *request) (view, error) {
	d, t, err := k.findTier(r)
	if err != nil {
		return view{}, err
	}
	u, errs, err := readImageUpload(r)
	if err != nil {
		return view{}, err
	}
	if len(errs) == 0 {
		if _, err = k.campaigns.SetTierImage(r.c.UserContext(), r.actor(), d.Campaign.ID, t.ID, u); err == nil {
			return view{redirect: editorHref(d.Campaign.ID) + "/tiers/" + url.PathEscape(t.ID) + "?notice=image_saved#image"}, nil
		}
	}
	status, errs, msg := http.StatusUnprocessableEntity, errs, r.loc.T("console.error.fields")
	if err != nil {
		var ok bool
		if status, errs, msg, ok = imageProblem(r, err, errs); !ok {
			return view{}, err
		}
	}
	v := k.tierPage(r, d.Campaign, t, nil, status)
	tv := v.data.(tierView)
	tv.Image.Alt, tv.Image.Errors, tv.Image.Error = u.Alt, errs, msg
	v.data = tv
	return v, nil
}

// removeCover takes the cover away; the public page goes without one.
func (k *Console) removeCover(r *request) (view, error) {
	if _, err := k.campaigns.RemoveCover(r.c.UserContext(), r.actor(), r.c.Params("id")); err != nil {
		return view{}, err
	}
	return view{redirect: editorHref(r.c.Params("id")) + "?notice=cover_removed#cover"}, nil
}

// removeTierImage takes a tier's picture away.
func (k *Console) removeTierImage(r *request) (view, error) {
	id, tierID := r.c.Params("id"), r.c.Params("tier_id")
	if _, err := k.campaigns.RemoveTierImage(r.c.UserContext(), r.actor(), id, tierID); err != nil {
		return view{}, err
	}
	return view{redirect: editorHref(id) + "/tiers/" + url.PathEscape(tierID) + "?notice=image_removed#image"}, nil
}
