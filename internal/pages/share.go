package pages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pubcache"
)

// The share image is what a social network shows beside a shared link: 1200×630 (the size Open
// Graph and Twitter's large card expect), drawn by the service from the campaign's title,
// designer and totals. Drawing and encoding take milliseconds, and crawlers ask for it every time
// a link is posted, so each campaign's image is redrawn at most once a minute, and only when
// what it shows changed.
const (
	shareWidth, shareHeight = 1200, 630
	// shareEvery is how often a campaign's image is checked against its data.
	shareEvery = time.Minute
	// shareMissingFor is how long an unknown slug is remembered as such.
	shareMissingFor = 5 * time.Second
	// shareMaxEntries bounds memory (an image is ~30 KiB); past it the table starts afresh.
	shareMaxEntries = 2000
)

// shareCard is what an image shows; equal cards draw equal images. Cover is the id of the
// campaign's cover picture ("" for none), drawn on the right when there is one.
type shareCard struct {
	Title, Designer, Pledged, Goal string
	Percent                        int64
	Cover                          string
}

// shareCoverWidth is the width of the cover panel on the image's right.
const shareCoverWidth = 480

type shareImages struct {
	now           backstitch.Clock
	regular, bold *opentype.Font

	mu      sync.Mutex
	entries map[string]*shareEntry // by slug
}

type shareEntry struct {
	mu      sync.Mutex
	checked time.Time
	card    shareCard
	missing bool
	resp    pubcache.Response
}

func newShareImages(now backstitch.Clock) (*shareImages, error) {
	regular, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("share image font: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("share image font: %w", err)
	}
	return &shareImages{now: now, regular: regular, bold: bold, entries: map[string]*shareEntry{}}, nil
}

// errShareMissing is a share image asked for a slug no public campaign has.
var errShareMissing = errors.New("no such campaign")

// get returns the image of slug, checking its data (load) at most once per shareEvery and
// drawing it only when the data changed.
// cover reads the cover picture when the image is redrawn.
func (s *shareImages) get(ctx context.Context, slug string, load func(ctx context.Context) (shareCard, error),
	cover func(ctx context.Context) (image.Image, bool, error)) (pubcache.Response, error) {
	s.mu.Lock()
	e := s.entries[slug]
	if e == nil {
		if len(s.entries) >= shareMaxEntries {
			clear(s.entries)
		}
		e = &shareEntry{}
		s.entries[slug] = e
	}
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := s.now()
	fresh := shareEvery
	if e.missing {
		fresh = shareMissingFor
	}
	if !e.checked.IsZero() && now.Sub(e.checked) < fresh {
		if e.missing {
			return pubcache.Response{}, errShareMissing
		}
		return e.resp, nil
	}
	card, err := load(ctx)
	if e2, ok := errors.AsType[*backstitch.Error](err); ok && e2.Code == backstitch.CodeNotFound {
		e.checked, e.missing = now, true
		return pubcache.Response{}, errShareMissing
	}
	if err != nil {
		return pubcache.Response{}, err
	}
	if e.resp.Body == nil || card != e.card {
		var pic image.Image
		if card.Cover != "" {
			img, ok, err := cover(ctx)
			if err != nil {
				return pubcache.Response{}, err
			}
			if ok {
				pic = img
			}
		}
		body, err := s.draw(card, pic)
		if err != nil {
			return pubcache.Response{}, err
		}
		e.card, e.resp = card, pubcache.NewResponse("image/png", body)
	}
	e.checked, e.missing = now, false
	return e.resp, nil
}

var (
	shareBackground = color.RGBA{0xf6, 0xf1, 0xe8, 0xff}
	shareInk        = color.RGBA{0x22, 0x1f, 0x1c, 0xff}
	shareMuted      = color.RGBA{0x5c, 0x55, 0x4d, 0xff}
	shareAccent     = color.RGBA{0x2f, 0x6b, 0x4f, 0xff}
	shareTrack      = color.RGBA{0xdd, 0xd4, 0xc6, 0xff}
)

// draw renders a card as a PNG: plain background, title (up to two lines), designer, progress
// bar and amounts, and the cover (cropped to fill a panel on the right) when there is one. Faces
// are made per drawing: they are not safe for concurrent use.
func (s *shareImages) draw(c shareCard, cover image.Image) ([]byte, error) {
	face := func(f *opentype.Font, size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	title, err := face(s.bold, 68)
	if err != nil {
		return nil, err
	}
	defer title.Close()
	body, err := face(s.regular, 38)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	figures, err := face(s.bold, 46)
	if err != nil {
		return nil, err
	}
	defer figures.Close()

	img := image.NewRGBA(image.Rect(0, 0, shareWidth, shareHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(shareBackground), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, 0, 24, shareHeight), image.NewUniform(shareAccent), image.Point{}, draw.Src)
	const left = 88
	right := shareWidth - 88
	if cover != nil {
		panel := image.Rect(shareWidth-shareCoverWidth, 0, shareWidth, shareHeight)
		xdraw.ApproxBiLinear.Scale(img, panel, cover, coverCrop(cover.Bounds(), panel.Dx(), panel.Dy()), draw.Src, nil)
		right = panel.Min.X - 56
	}
	text := func(f font.Face, col color.Color, x, y int, s string) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(col), Face: f, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	y := 150
	for _, line := range wrap(title, c.Title, right-left, 2) {
		text(title, shareInk, left, y, line)
		y += 84
	}
	text(body, shareMuted, left, y+4, fit(body, c.Designer, right-left))

	const barY, barH = 430, 28
	draw.Draw(img, image.Rect(left, barY, right, barY+barH), image.NewUniform(shareTrack), image.Point{}, draw.Src)
	filled := left + int(int64(right-left)*min(c.Percent, 100)/100)
	draw.Draw(img, image.Rect(left, barY, filled, barY+barH), image.NewUniform(shareAccent), image.Point{}, draw.Src)

	// Pledged and the percentage on one line, the goal under them: both fit beside a cover.
	pct := fmt.Sprintf("%d%%", c.Percent)
	pctWidth := font.MeasureString(figures, pct).Ceil()
	text(figures, shareInk, left, barY+86, fit(figures, c.Pledged, right-left-pctWidth-32))
	text(figures, shareAccent, right-pctWidth, barY+86, pct)
	text(body, shareMuted, left, barY+140, fit(body, "/ "+c.Goal, right-left))
	text(body, shareMuted, left, 75, "Backstitch")

	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode share image: %w", err)
	}
	return buf.Bytes(), nil
}

// coverCrop is the largest centred part of src with the aspect of a w×h panel, so the picture
// fills the panel without being stretched.
func coverCrop(src image.Rectangle, w, h int) image.Rectangle {
	sw, sh := src.Dx(), src.Dy()
	if sw*h > sh*w { // wider than the panel: keep the full height
		cw := sh * w / h
		x := src.Min.X + (sw-cw)/2
		return image.Rect(x, src.Min.Y, x+cw, src.Max.Y)
	}
	ch := sw * h / w
	y := src.Min.Y + (sh-ch)/2
	return image.Rect(src.Min.X, y, src.Max.X, y+ch)
}

// wrap breaks s into at most lines lines of width pixels at spaces; the last is cut with an
// ellipsis when the text is longer.
func wrap(f font.Face, s string, width, lines int) []string {
	var out []string
	words := strings.Fields(s)
	for len(words) > 0 && len(out) < lines {
		line := words[0]
		n := 1
		for ; n < len(words); n++ {
			next := line + " " + words[n]
			if font.MeasureString(f, next).Ceil() > width {
				break
			}
			line = next
		}
		words = words[n:]
		if len(out) == lines-1 && len(words) > 0 {
			line += " " + strings.Join(words, " ")
		}
		out = append(out, fit(f, line, width))
	}
	return out
}

// fit cuts s with an ellipsis to width pixels.
func fit(f font.Face, s string, width int) string {
	if font.MeasureString(f, s).Ceil() <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && font.MeasureString(f, string(r)+"…").Ceil() > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// shareImage answers a campaign's share image.
func (p *Pages) shareImage(c *fiber.Ctx) error {
	slug := strings.Clone(c.Params("slug"))
	var campaignID string // set by the first function, for the second
	resp, err := p.shares.get(c.UserContext(), slug, func(ctx context.Context) (shareCard, error) {
		d, err := p.campaigns.Show(ctx, campaign.Actor{}, slug)
		if err != nil {
			return shareCard{}, err
		}
		cm := d.Campaign
		designer, err := p.accounts.PublicName(ctx, cm.DesignerID)
		if err != nil {
			return shareCard{}, err
		}
		// Figures only, no words: one image serves every language.
		loc := locale.Negotiate("", "")
		pct := int64(0)
		if cm.Goal.Amount > 0 {
			pct = cm.Pledged * 100 / cm.Goal.Amount
		}
		card := shareCard{Title: cm.Title, Designer: designer, Percent: pct,
			Pledged: loc.Money(money.Money{Amount: cm.Pledged, Currency: cm.Goal.Currency}), Goal: loc.Money(cm.Goal)}
		if cm.Cover != nil {
			card.Cover, campaignID = cm.Cover.ID, cm.ID
		}
		return card, nil
	}, func(ctx context.Context) (image.Image, bool, error) { return p.campaigns.ShareCover(ctx, campaignID) })
	if errors.Is(err, errShareMissing) {
		return p.NotFound(c)
	}
	if err != nil {
		return p.fail(p.newRequest(c), err)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=60")
	c.Set(fiber.HeaderETag, resp.ETag)
	if pubcache.ETagMatches(c.Get(fiber.HeaderIfNoneMatch), resp.ETag) {
		return c.SendStatus(http.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, resp.ContentType)
	return c.Send(resp.Body)
}
