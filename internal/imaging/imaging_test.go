package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"

	"github.com/backstitch/backstitch/internal/backstitch"
)

func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	return img
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gpsMarker is text carried in the EXIF block of withEXIF, to look for in the output.
const gpsMarker = "GPSLatitude 46.2044N secret-home"

// withEXIF splices an APP1 EXIF segment with a GPS IFD pointer (tag 0x8825) and a marker
// string right after a JPEG's SOI, as cameras and phones write it.
func withEXIF(jpg []byte) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("II*\x00")
	_ = binary.Write(&tiff, binary.LittleEndian, uint32(8)) // IFD0 offset
	_ = binary.Write(&tiff, binary.LittleEndian, uint16(1)) // one entry
	_ = binary.Write(&tiff, binary.LittleEndian, [6]uint16{0x8825, 4, 1, 0, 26, 0})
	_ = binary.Write(&tiff, binary.LittleEndian, uint32(0))
	tiff.WriteString(gpsMarker)
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(append(out, seg...), payload...)
	return append(out, jpg[2:]...)
}

// pngHeader is a PNG signature and a valid IHDR claiming w×h, and no pixel data at all.
func pngHeader(w, h uint32) []byte {
	var ihdr bytes.Buffer
	ihdr.WriteString("IHDR")
	_ = binary.Write(&ihdr, binary.BigEndian, w)
	_ = binary.Write(&ihdr, binary.BigEndian, h)
	ihdr.Write([]byte{8, 6, 0, 0, 0}) // 8-bit RGBA
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, ihdr.Bytes()...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr.Bytes()))
}

func code(err error) (backstitch.Code, string) {
	e, ok := errors.AsType[*backstitch.Error](err)
	if !ok {
		return backstitch.CodeInternal, ""
	}
	if len(e.Fields) > 0 {
		return e.Code, e.Fields[0].Code
	}
	return e.Code, ""
}

func TestPrepareStripsMetadata(t *testing.T) {
	in := withEXIF(encodeJPEG(t, gradient(2000, 1000)))
	if !bytes.Contains(in, []byte(gpsMarker)) {
		t.Fatal("test input lacks its EXIF")
	}
	out, err := Prepare(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(Widths) {
		t.Fatalf("%d renditions, want %d", len(out), len(Widths))
	}
	for i, r := range out {
		for _, bad := range [][]byte{[]byte(gpsMarker), []byte("Exif"), {0xFF, 0xE1}, []byte("GPS")} {
			if bytes.Contains(r.JPEG, bad) {
				t.Errorf("%d px rendition still carries %q", r.Width, bad)
			}
		}
		if r.Width != Widths[i] || r.W != Widths[i] || r.H != Widths[i]/2 {
			t.Errorf("rendition %d: nominal %d, %d×%d; want %d×%d", i, r.Width, r.W, r.H, Widths[i], Widths[i]/2)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(r.JPEG))
		if err != nil || cfg.Width != r.W || cfg.Height != r.H {
			t.Errorf("rendition %d decodes as %v×%v (%v)", i, cfg.Width, cfg.Height, err)
		}
	}
}

func TestPrepareKeepsColoursAndNeverEnlarges(t *testing.T) {
	// A half-transparent PNG narrower than every width: kept at its size, flattened onto white.
	img := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []byte{200, 0, 0, 128})
	}
	out, err := Prepare(encodePNG(t, img))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out {
		if r.W != 300 || r.H != 200 {
			t.Fatalf("%d px rendition is %d×%d, want 300×200", r.Width, r.W, r.H)
		}
		dec, err := jpeg.Decode(bytes.NewReader(r.JPEG))
		if err != nil {
			t.Fatal(err)
		}
		// 200 over white at alpha 128 is about (228, 127, 127).
		cr, cg, cb, _ := dec.At(150, 100).RGBA()
		if d := func(a uint32, b int) int { return int(a>>8) - b }; abs(d(cr, 228)) > 8 || abs(d(cg, 127)) > 8 || abs(d(cb, 127)) > 8 {
			t.Errorf("centre pixel is (%d, %d, %d), want about (228, 127, 127)", cr>>8, cg>>8, cb>>8)
		}
	}
}

func abs(n int) int { return max(n, -n) }

func TestCheckRefuses(t *testing.T) {
	jpg := encodeJPEG(t, gradient(64, 64))
	for _, tc := range []struct {
		name  string
		data  []byte
		code  backstitch.Code
		field string
	}{
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), backstitch.CodeUnsupportedMedia, ""},
		{"html", []byte("<!doctype html><script>alert(1)</script>"), backstitch.CodeUnsupportedMedia, ""},
		{"pdf", []byte("%PDF-1.7\n1 0 obj"), backstitch.CodeUnsupportedMedia, ""},
		{"gif", []byte("GIF89a\x10\x00\x10\x00"), backstitch.CodeUnsupportedMedia, ""},
		{"empty", nil, backstitch.CodeUnsupportedMedia, ""},
		{"10 MB + 1 byte", append(append([]byte{}, jpg...), make([]byte, MaxBytes+1-len(jpg))...), backstitch.CodeBodyTooLarge, ""},
		{"10000×10000 header", pngHeader(10000, 10000), backstitch.CodeValidation, "too_many_pixels"},
		{"1×50000 header", pngHeader(1, 50000), backstitch.CodeValidation, "too_small"},
		{"200×50000 header", pngHeader(200, 50000), backstitch.CodeValidation, "aspect_ratio"},
		{"header only", pngHeader(100, 100)[:20], backstitch.CodeValidation, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(tc.data)
			if c, f := code(err); c != tc.code || f != tc.field {
				t.Fatalf("got %s/%s (%v), want %s/%s", c, f, err, tc.code, tc.field)
			}
		})
	}
}

func TestPrepareRefusesTruncatedFiles(t *testing.T) {
	for name, data := range map[string][]byte{
		"jpeg": encodeJPEG(t, gradient(400, 300)),
		"png":  encodePNG(t, gradient(400, 300)),
	} {
		cut := data[:len(data)*2/3]
		if _, err := Prepare(cut); func() bool { c, f := code(err); return c != backstitch.CodeValidation || f != "unreadable" }() {
			t.Errorf("%s cut short: %v, want validation_failed/unreadable", name, err)
		}
	}
}

// A header claiming 100 megapixels is refused before a pixel buffer exists: the allocation
// would be 400 MB, the refusal allocates almost nothing.
func TestBombRefusedWithoutDecoding(t *testing.T) {
	bomb := pngHeader(10000, 10000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := Prepare(bomb); err == nil {
			t.Fatal("bomb accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("refusing 10 bombs allocated %d bytes", n)
	}
}

func TestSniffIgnoresNames(t *testing.T) {
	// A PNG is a PNG whatever it is called; the type comes from the bytes.
	if f := Sniff(encodePNG(t, gradient(20, 20))); f != PNG {
		t.Fatalf("PNG sniffed as %q", f)
	}
	if f := Sniff([]byte("RIFF\x00\x00\x00\x00WEBPVP8 ")); f != WebP {
		t.Fatalf("WebP sniffed as %q", f)
	}
}
