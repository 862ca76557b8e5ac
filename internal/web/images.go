package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/console"
	"github.com/backstitch/backstitch/internal/imaging"
)

// uploadBodyLimit is the body an image upload may have: the file, the alt text and the
// multipart framing. Every other route keeps BACKSTITCH_BODY_LIMIT.
const uploadBodyLimit = imaging.MaxBytes + 64<<10

// consoleUploadBodyLimit is the body a console picture form may have. A browser sends whatever
// file the designer picked, so a photo a few times over the 10 MB limit still reaches the
// handler, which answers the form with the reason beside the field; a body beyond this is
// refused before it is read, with the console's page that says the same (ErrorPage).
const consoleUploadBodyLimit = 32 << 20

// uploadPath matches the routes that take an image upload.
var uploadPath = regexp.MustCompile(`^/api/v1/campaigns/[^/]+/(cover|tiers/[^/]+/image)$`)

// allowUploads raises the body limit for image uploads only (the API's and the console's
// forms), and only for a signed-in user, decided from the request's head before the body is
// read: no other route, and no stranger, makes the server buffer more than
// BACKSTITCH_BODY_LIMIT. Whether she may change that campaign is the handler's question, as
// for any request. The handler looks the session up again rather than being handed this one:
// the hook sees only the head (there is no request context yet to carry it in), and a session
// that ends while a large body arrives must not upload it.
func (s *Server) allowUploads() {
	api, forms := max(s.cfg.BodyLimit, uploadBodyLimit), max(s.cfg.BodyLimit, consoleUploadBodyLimit)
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		method, uri := string(h.Method()), h.RequestURI()
		switch {
		case method == fiber.MethodPut && uploadPath.Match(uri):
			if token, ok := strings.CutPrefix(string(h.Peek(fiber.HeaderAuthorization)), "Bearer "); ok && s.signedIn(token) {
				return fasthttp.RequestConfig{MaxRequestBodySize: api}
			}
		case method == fiber.MethodPost && s.console != nil && console.UploadPath.Match(uri):
			if s.signedIn(string(h.Cookie(s.console.SessionCookie()))) {
				return fasthttp.RequestConfig{MaxRequestBodySize: forms}
			}
		}
		return fasthttp.RequestConfig{}
	}
}

// signedIn says whether token is a live session's.
func (s *Server) signedIn(token string) bool {
	if token == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	_, err := s.accounts.Authenticate(ctx, token)
	return err == nil
}

// readUpload reads a multipart/form-data body with a "file" part and an "alt" part.
func readUpload(c *fiber.Ctx) (campaign.Upload, error) {
	var u campaign.Upload
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return u, backstitch.Errorf(backstitch.CodeUnsupportedMedia, "Send the image as multipart/form-data, with a part named file (the image) and a part named alt (what it shows).")
	}
	mr := multipart.NewReader(bytes.NewReader(c.Body()), params["boundary"])
	var errs backstitch.FieldErrors
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u, backstitch.Errorf(backstitch.CodeMalformed, "The multipart body cannot be read.")
		}
		name := part.FormName()
		if seen[name] {
			return u, backstitch.Errorf(backstitch.CodeMalformed, "The part %q is sent twice.", name)
		}
		seen[name] = true
		switch name {
		case "file":
			// One byte more than allowed tells a file at the limit from one over it.
			data, err := io.ReadAll(io.LimitReader(part, imaging.MaxBytes+1))
			if err != nil {
				return u, backstitch.Errorf(backstitch.CodeMalformed, "The multipart body cannot be read.")
			}
			u.Data = data
		case "alt":
			alt, err := io.ReadAll(io.LimitReader(part, 4*campaign.MaxAlt+1))
			if err != nil {
				return u, backstitch.Errorf(backstitch.CodeMalformed, "The multipart body cannot be read.")
			}
			u.Alt = string(alt)
		default:
			errs.Add(name, "unknown_field", name+" is not a field of this request")
		}
	}
	if !seen["file"] {
		errs.Add("file", "required", "file is required: the image, as a part named file")
	}
	if !seen["alt"] {
		errs.Add("alt", "required", "alt is required: a sentence telling people who cannot see the image what it shows")
	}
	return u, errs.Err()
}

func (s *Server) putCover(c *fiber.Ctx) error {
	u, err := readUpload(c)
	if err != nil {
		return err
	}
	d, err := s.campaigns.SetCover(c.UserContext(), actor(c), c.Params("id"), u)
	if err != nil {
		return err
	}
	return replyDetail(c, d)
}

func (s *Server) deleteCover(c *fiber.Ctx) error {
	d, err := s.campaigns.RemoveCover(c.UserContext(), actor(c), c.Params("id"))
	if err != nil {
		return err
	}
	return replyDetail(c, d)
}

func (s *Server) putTierImage(c *fiber.Ctx) error {
	u, err := readUpload(c)
	if err != nil {
		return err
	}
	t, err := s.campaigns.SetTierImage(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id"), u)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewTier(t))
}

func (s *Server) deleteTierImage(c *fiber.Ctx) error {
	t, err := s.campaigns.RemoveTierImage(c.UserContext(), actor(c), c.Params("id"), c.Params("tier_id"))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, viewTier(t))
}

// immutable is the Cache-Control of an image: its URL names one upload, whose bytes never change.
const immutable = "public, max-age=31536000, immutable"

// serveImage answers GET /images/{id}/{width}.jpg.
func (s *Server) serveImage(c *fiber.Ctx) error {
	id := c.Params("id")
	w, err := strconv.Atoi(strings.TrimSuffix(c.Params("file"), ".jpg"))
	if !backstitch.IsID("img", id) || err != nil || !strings.HasSuffix(c.Params("file"), ".jpg") || !slices.Contains(imaging.Widths, w) {
		return backstitch.Errorf(backstitch.CodeNotFound, "Image not found.")
	}
	data, err := s.campaigns.ReadImage(c.UserContext(), id, w)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "image/jpeg")
	c.Set(fiber.HeaderCacheControl, immutable)
	return c.Send(data)
}

// imageView is a picture as clients see it: its alt text and where it is served at each width.
type imageView struct {
	Alt   string          `json:"alt"`
	Sizes []imageSizeView `json:"sizes"`
}

type imageSizeView struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	URL    string `json:"url"`
}

func viewImage(img *campaign.Image) *imageView {
	if img == nil {
		return nil
	}
	v := &imageView{Alt: img.Alt, Sizes: make([]imageSizeView, 0, len(img.Sizes))}
	for _, sz := range img.Sizes {
		v.Sizes = append(v.Sizes, imageSizeView{Name: imaging.SizeName(sz.Width), Width: sz.W, Height: sz.H, URL: campaign.ImagePath(img.ID, sz.Width)})
	}
	return v
}
