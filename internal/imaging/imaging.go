// Package imaging turns an uploaded picture into the few fixed sizes the pages show. It trusts
// nothing about the upload: the type comes from the bytes, never from a name or a header; the
// dimensions are read from the image header and checked before any pixel is decoded, so a
// small file that claims to be huge (a decompression bomb) costs nothing; and every size is
// re-encoded from the pixels alone, so EXIF (GPS positions, camera serials), XMP, ICC profiles
// and comments never reach a visitor.
package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"

	"golang.org/x/image/webp"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Limits of an upload.
const (
	// MaxBytes is the largest file accepted (10 MB).
	MaxBytes = 10 << 20
	// MaxPixels bounds width × height: decoding costs 4 bytes per pixel or more.
	MaxPixels = 40_000_000
	// MinSide is the smallest width or height accepted: anything smaller is no picture to show.
	MinSide = 16
	// MaxAspect bounds the long side to this many times the short one: a 1×50,000 strip is
	// no cover, and a page cannot show it.
	MaxAspect = 4
)

// The fixed widths every image is kept at, made once at upload. An image narrower than a width
// is kept at its own width there (never enlarged).
const (
	// CardWidth fills a campaign card on the home page (up to ~360 CSS px at 1.3× density).
	CardWidth = 480
	// PageWidth fills the campaign page's column (up to ~480 CSS px at 2×).
	PageWidth = 960
	// ShareWidth is what the 1200×630 share image is drawn from.
	ShareWidth = 1200
)

// Widths lists the fixed widths, smallest first.
var Widths = []int{CardWidth, PageWidth, ShareWidth}

// SizeName names a fixed width by its use: "card", "page" or "share".
func SizeName(width int) string {
	switch width {
	case CardWidth:
		return "card"
	case PageWidth:
		return "page"
	}
	return "share"
}

// Quality is the JPEG quality of every rendition: indistinguishable from the original at these
// sizes, about a third of the bytes of quality 100.
const Quality = 82

// Rendition is an image at one of the fixed widths: Width is the nominal width (its name in
// URLs), W×H what the JPEG really measures.
type Rendition struct {
	Width int
	W, H  int
	JPEG  []byte
}

// Format is an accepted upload format, as detected from the bytes.
type Format string

const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
)

// Sniff names the format of data from its first bytes, or "" for anything else.
func Sniff(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return WebP
	}
	return ""
}

// Check verifies an upload's size, type and header before anything is decoded: the errors a
// client sees are 413 (too many bytes), 415 (not a JPEG, PNG or WebP, whatever it is named)
// and 422 (bad dimensions, or a header that cannot be read).
func Check(data []byte) (Format, image.Config, error) {
	if len(data) > MaxBytes {
		return "", image.Config{}, backstitch.Errorf(backstitch.CodeBodyTooLarge, "The image is larger than 10 MB; send a smaller file.")
	}
	f := Sniff(data)
	if f == "" {
		seen := strings.Split(http.DetectContentType(data), ";")[0]
		return "", image.Config{}, backstitch.Errorf(backstitch.CodeUnsupportedMedia,
			"The file must be a JPEG, PNG or WebP image; its content is %s, whatever its name says.", seen)
	}
	cfg, err := decodeConfig(f, data)
	if err != nil {
		return f, cfg, unreadable(f)
	}
	var errs backstitch.FieldErrors
	w, h := int64(cfg.Width), int64(cfg.Height)
	switch {
	case w*h > MaxPixels:
		errs.Add("file", "too_many_pixels", fmt.Sprintf("the image is %d×%d, %.1f megapixels; at most 40 megapixels are accepted", w, h, float64(w*h)/1e6))
	case w < MinSide || h < MinSide:
		errs.Add("file", "too_small", fmt.Sprintf("the image is %d×%d; each side must be at least %d pixels", w, h, MinSide))
	case w > MaxAspect*h || h > MaxAspect*w:
		errs.Add("file", "aspect_ratio", fmt.Sprintf("the image is %d×%d; its long side may be at most %d times its short side", w, h, MaxAspect))
	}
	return f, cfg, errs.Err()
}

func decodeConfig(f Format, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch f {
	case JPEG:
		return jpeg.DecodeConfig(r)
	case PNG:
		return png.DecodeConfig(r)
	default:
		return webp.DecodeConfig(r)
	}
}

func decode(f Format, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch f {
	case JPEG:
		return jpeg.Decode(r)
	case PNG:
		return png.Decode(r)
	default:
		return webp.Decode(r)
	}
}

func unreadable(f Format) error {
	return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The image cannot be read.", Fields: []backstitch.FieldError{{
		Field: "file", Code: "unreadable", Message: fmt.Sprintf("the file starts like a %s image but is damaged or cut short", strings.ToUpper(string(f))),
	}}}
}

// Prepare checks an upload (see Check), decodes it and returns it at every fixed width as a
// JPEG carrying nothing but pixels, turned upright as its EXIF Orientation says (the tag itself
// is dropped with the rest). Transparent areas become white.
func Prepare(data []byte) ([]Rendition, error) {
	f, cfg, err := Check(data)
	if err != nil {
		return nil, err
	}
	src, err := decode(f, data)
	if err != nil {
		return nil, unreadable(f)
	}
	// A header may lie about the size the pixel data has; trust what was decoded, which the
	// decoders bound by the header already checked.
	if b := src.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, unreadable(f)
	}
	// One pass over the (large) decoded image makes the widest rendition; the narrower ones are
	// made from it, which costs little and looks the same at these ratios. A picture stored on
	// its side is shrunk so that its upright width is the widest, then turned upright.
	o := OrientNormal
	if f == JPEG {
		o = jpegOrientation(data)
	}
	widestStored := Widths[len(Widths)-1]
	if o.swapsAxes() {
		widestStored = max(1, (widestStored*cfg.Width+cfg.Height/2)/cfg.Height)
	}
	widest := orient(shrink(src, widestStored), o)
	out := make([]Rendition, 0, len(Widths))
	for _, width := range Widths {
		img := widest
		if width < widest.Bounds().Dx() {
			img = shrink(widest, width)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: Quality}); err != nil {
			return nil, fmt.Errorf("encode %d px rendition: %w", width, err)
		}
		b := img.Bounds()
		out = append(out, Rendition{Width: width, W: b.Dx(), H: b.Dy(), JPEG: buf.Bytes()})
	}
	return out, nil
}

// shrink resamples src onto white at maxWidth wide (or its own width, if narrower) by area
// averaging: each output pixel is the mean of the source area it covers, which is what a
// reduction needs (no aliasing, whatever the factor). It streams: one source row is converted
// at a time and only two output rows accumulate, so it needs a few output rows of memory
// beside the decoded image. (golang.org/x/image/draw's kernel scalers keep a float64×4
// intermediate of output width × source height: 180 MB for a 40-megapixel portrait.)
func shrink(src image.Image, maxWidth int) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dw := min(sw, maxWidth)
	dh := max(1, (sh*dw+sw/2)/sw)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	xs := spans(sw, dw)
	row := image.NewRGBA(image.Rect(0, 0, sw, 1))
	hrow := make([]float64, dw*4)
	acc := make([][]float64, dh)
	scale := float64(sh) / float64(dh)
	op, opaque := draw.Over, false
	if o, ok := src.(interface{ Opaque() bool }); ok && o.Opaque() {
		op, opaque = draw.Src, true
	}
	for sy := range sh {
		// The source row, flattened onto white (draw has fast paths for every decoded type).
		if !opaque {
			draw.Draw(row, row.Bounds(), image.White, image.Point{}, draw.Src)
		}
		draw.Draw(row, row.Bounds(), src, image.Pt(b.Min.X, b.Min.Y+sy), op)
		clear(hrow)
		for dx, sp := range xs {
			for _, t := range sp {
				p := row.Pix[t.i*4 : t.i*4+4]
				for c := range 4 {
					hrow[dx*4+c] += t.w * float64(p[c])
				}
			}
		}
		// Source row sy covers [sy, sy+1); output row dy covers [dy·scale, (dy+1)·scale).
		for dy := int(float64(sy) / scale); dy < dh && float64(dy)*scale < float64(sy+1); dy++ {
			w := min(float64(sy+1), float64(dy+1)*scale) - max(float64(sy), float64(dy)*scale)
			if w <= 0 {
				continue
			}
			if acc[dy] == nil {
				acc[dy] = make([]float64, dw*4)
			}
			for i, v := range hrow {
				acc[dy][i] += w / scale * v
			}
			if float64(dy+1)*scale <= float64(sy+1) || sy == sh-1 {
				pix := dst.Pix[dy*dst.Stride : dy*dst.Stride+dw*4]
				for i, v := range acc[dy] {
					pix[i] = uint8(min(255, v+0.5))
				}
				acc[dy] = nil
			}
		}
	}
	return dst
}

// tap is one source column's share of an output column.
type tap struct {
	i int
	w float64
}

// spans lists, for each of dw output columns, the source columns it covers among sw and their
// weights (summing to 1).
func spans(sw, dw int) [][]tap {
	scale := float64(sw) / float64(dw)
	out := make([][]tap, dw)
	for dx := range dw {
		lo, hi := float64(dx)*scale, float64(dx+1)*scale
		for sx := int(lo); sx < sw && float64(sx) < hi; sx++ {
			if w := min(float64(sx+1), hi) - max(float64(sx), lo); w > 0 {
				out[dx] = append(out[dx], tap{sx, w / scale})
			}
		}
	}
	return out
}
