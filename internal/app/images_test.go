//go:build !production

package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/imaging"
)

func testPicture(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), 120, uint8(y * 255 / h), 255})
		}
	}
	return img
}

func jpegBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testPicture(w, h), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testPicture(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gpsSecret is carried in the EXIF GPS data of jpegWithGPS.
const gpsSecret = "GPSLatitude 46.2044N 6.1432E atelier"

// jpegWithGPS is a JPEG whose APP1 EXIF segment points at a GPS IFD (tag 0x8825) holding a
// position, as a phone writes it.
func jpegWithGPS(t *testing.T) []byte {
	t.Helper()
	var tiff bytes.Buffer
	tiff.WriteString("II*\x00")
	_ = binary.Write(&tiff, binary.LittleEndian, []any{uint32(8), uint16(1), [6]uint16{0x8825, 4, 1, 0, 26, 0}, uint32(0)})
	tiff.WriteString(gpsSecret)
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	jpg := jpegBytes(t, 1600, 900)
	out := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
	return append(out, jpg[2:]...)
}

// pngHeaderOnly is a PNG signature and IHDR claiming w×h, without pixel data.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte("IHDR"), w), h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), 13)
	return binary.BigEndian.AppendUint32(append(out, ihdr...), crc32.ChecksumIEEE(ihdr))
}

// upload sends a multipart upload; an empty filename sends no file part, alt "-" no alt part.
func (s *service) upload(method, path, token, filename string, data []byte, alt string) response {
	s.t.Helper()
	body, contentType := s.uploadBody(filename, data, alt)
	return s.call(method, path, token, string(body), "Content-Type", contentType)
}

// uploadBody is the multipart body of an upload (see upload) and its Content-Type.
func (s *service) uploadBody(filename string, data []byte, alt string) ([]byte, string) {
	s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if filename != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+filename+`"`)
		h.Set("Content-Type", "image/jpeg") // what the client claims is never believed
		fw, err := mw.CreatePart(h)
		if err != nil {
			s.t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	if alt != "-" {
		_ = mw.WriteField("alt", alt)
	}
	_ = mw.Close()
	return body.Bytes(), mw.FormDataContentType()
}

// fetch GETs a path and returns the whole response.
func (s *service) fetch(path string) response { s.t.Helper(); return s.call("GET", path, "", nil) }

func (s *service) imageFiles() int64 {
	s.t.Helper()
	n, err := s.store.CountImageFiles(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

func coverURLs(t *testing.T, c map[string]any) []string {
	t.Helper()
	cover, ok := c["cover"].(map[string]any)
	if !ok {
		t.Fatalf("no cover in %v", c["cover"])
	}
	var out []string
	for _, sz := range cover["sizes"].([]any) {
		out = append(out, sz.(map[string]any)["url"].(string))
	}
	return out
}

// A designer's cover comes back at three fixed widths, served immutable, without the GPS
// position the phone wrote into it.
func TestCoverUploadIsResizedStrippedAndServedImmutable(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Léa")
	id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Linen coats"))["id"].(string)
	r := s.upload("PUT", "/api/v1/campaigns/"+id+"/cover", tok, "coat.jpg", jpegWithGPS(t), "A sand linen coat on a hanger")
	if r.Status != 200 {
		t.Fatalf("upload → %d: %s", r.Status, r.Body)
	}
	c := r.JSON(t)
	cover := c["cover"].(map[string]any)
	if cover["alt"] != "A sand linen coat on a hanger" {
		t.Fatalf("alt: %v", cover["alt"])
	}
	sizes := cover["sizes"].([]any)
	if len(sizes) != 3 {
		t.Fatalf("sizes: %v", sizes)
	}
	for i, want := range []struct {
		name string
		w, h float64
	}{{"card", 480, 270}, {"page", 960, 540}, {"share", 1200, 675}} {
		sz := sizes[i].(map[string]any)
		if sz["name"] != want.name || sz["width"] != want.w || sz["height"] != want.h {
			t.Errorf("size %d: %v, want %v", i, sz, want)
		}
		img := s.fetch(sz["url"].(string))
		if img.Status != 200 || img.Header.Get("Content-Type") != "image/jpeg" ||
			img.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || img.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s → %d %v", sz["url"], img.Status, img.Header)
		}
		if bytes.Contains(img.Body, []byte(gpsSecret)) || bytes.Contains(img.Body, []byte("Exif")) || bytes.Contains(img.Body, []byte{0xFF, 0xE1}) {
			t.Errorf("%s still carries EXIF", sz["url"])
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(img.Body))
		if err != nil || float64(cfg.Width) != want.w || float64(cfg.Height) != want.h {
			t.Errorf("%s decodes as %d×%d (%v)", sz["url"], cfg.Width, cfg.Height, err)
		}
	}
	// The owner's read shows it too; another width or a made-up id is not found.
	if got := coverURLs(t, s.must(200, "GET", "/api/v1/campaigns/"+id, tok, nil)); len(got) != 3 {
		t.Fatalf("owner's read: %v", got)
	}
	for _, bad := range []string{strings.Replace(coverURLs(t, c)[0], "/480.jpg", "/481.jpg", 1), strings.Replace(coverURLs(t, c)[0], ".jpg", ".png", 1), "/images/img_nope/480.jpg"} {
		if r := s.fetch(bad); r.Status != 404 {
			t.Errorf("GET %s → %d", bad, r.Status)
		}
	}
}

// What an attacker sends is refused with a clear problem, and nothing is stored for it.
func TestImageUploadRefusals(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Ines")
	other, _ := s.designer("Mallory")
	admin := s.admin()
	draft := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Draft"))["id"].(string)
	live, _ := s.liveCampaign(tok, admin, "Live")
	tier := s.must(200, "GET", "/api/v1/campaigns/"+live, tok, nil)["tiers"].([]any)[0].(map[string]any)["id"].(string)
	jpg := jpegBytes(t, 800, 600)
	over := append(append([]byte{}, jpg...), make([]byte, imaging.MaxBytes+1-len(jpg))...)
	cover := "/api/v1/campaigns/" + live + "/cover"
	for _, tc := range []struct {
		name, path, token, filename string
		data                        []byte
		alt                         string
		status                      int
		code, field, fieldCode      string
	}{
		{"anonymous", cover, "", "a.jpg", jpg, "alt", 401, "unauthenticated", "", ""},
		{"another designer, live campaign", cover, other, "a.jpg", jpg, "alt", 403, "forbidden", "", ""},
		{"another designer, draft", "/api/v1/campaigns/" + draft + "/cover", other, "a.jpg", jpg, "alt", 404, "not_found", "", ""},
		{"another designer, tier", "/api/v1/campaigns/" + live + "/tiers/" + tier + "/image", other, "a.jpg", jpg, "alt", 403, "forbidden", "", ""},
		{"tier of another campaign", "/api/v1/campaigns/" + draft + "/tiers/" + tier + "/image", tok, "a.jpg", jpg, "alt", 404, "not_found", "", ""},
		{"svg named .jpg", cover, tok, "a.jpg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "alt", 415, "unsupported_media_type", "", ""},
		{"html", cover, tok, "a.png", []byte("<!DOCTYPE html><html><script>alert(1)</script>"), "alt", 415, "unsupported_media_type", "", ""},
		{"pdf named .jpg", cover, tok, "a.jpg", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj"), "alt", 415, "unsupported_media_type", "", ""},
		{"10000×10000 header", cover, tok, "bomb.png", pngHeaderOnly(10000, 10000), "alt", 422, "validation_failed", "file", "too_many_pixels"},
		{"1×50000 header", cover, tok, "strip.png", pngHeaderOnly(1, 50000), "alt", 422, "validation_failed", "file", "too_small"},
		{"10 MB + 1 byte", cover, tok, "big.jpg", over, "alt", 413, "body_too_large", "", ""},
		{"truncated", cover, tok, "cut.jpg", jpg[:len(jpg)/2], "alt", 422, "validation_failed", "file", "unreadable"},
		{"no alt", cover, tok, "a.jpg", jpg, "-", 422, "validation_failed", "alt", "required"},
		{"blank alt", cover, tok, "a.jpg", jpg, " \u200b ", 422, "validation_failed", "alt", "no_visible_character"},
		{"alt with a line break", cover, tok, "a.jpg", jpg, "a\nb", 422, "validation_failed", "alt", "line_break"},
		{"no file", cover, tok, "", nil, "alt", 422, "validation_failed", "file", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.upload("PUT", tc.path, tc.token, tc.filename, tc.data, tc.alt)
			if r.Status != tc.status || r.JSON(t)["code"] != tc.code || (tc.field != "" && r.fieldCode(t, tc.field) != tc.fieldCode) {
				t.Fatalf("→ %d: %s; want %d %s %s/%s", r.Status, r.Body, tc.status, tc.code, tc.field, tc.fieldCode)
			}
		})
	}
	if r := s.call("PUT", cover, tok, `{"alt":"x"}`); r.Status != 415 || !strings.Contains(r.JSON(t)["detail"].(string), "multipart/form-data") {
		t.Fatalf("JSON body → %d: %s", r.Status, r.Body)
	}
	if n := s.imageFiles(); n != 0 {
		t.Fatalf("%d image files stored after refused uploads", n)
	}
	// Raising the limit for uploads raised it nowhere else.
	if !s.refusedTooLarge("PATCH", "/api/v1/campaigns/"+draft, tok, "application/json", `{"story":"`+strings.Repeat("a", 300<<10)+`"}`) {
		t.Fatal("a 300 KiB JSON body was not refused")
	}
	// Exactly 10 MB is accepted (bytes after the image's end are ignored), on a service whose
	// other routes take 256 KiB.
	atLimit := append(append([]byte{}, jpg...), make([]byte, imaging.MaxBytes-len(jpg))...)
	if r := s.upload("PUT", cover, tok, "big.jpg", atLimit, "Big"); r.Status != 200 {
		t.Fatalf("10 MB upload → %d: %s", r.Status, r.Body)
	}
	// A PNG named .jpg is a PNG: accepted, by its bytes. Admins may change any campaign's
	// pictures (to take one down, say).
	if r := s.upload("PUT", cover, tok, "really-a-png.jpg", pngBytes(t, 640, 480), "Swatches"); r.Status != 200 {
		t.Fatalf("PNG named .jpg → %d: %s", r.Status, r.Body)
	}
	if r := s.upload("PUT", "/api/v1/campaigns/"+live+"/tiers/"+tier+"/image", admin, "t.jpg", jpg, "Tier"); r.Status != 200 || r.JSON(t)["image"] == nil {
		t.Fatalf("admin's tier image → %d: %s", r.Status, r.Body)
	}
	if n := s.imageFiles(); n != 2*int64(len(imaging.Widths)) {
		t.Fatalf("%d image files stored for two images", n)
	}
}

// The head check that lets a signed-in designer send an image's body (the web server's
// allowUploads) is not the handler's: a session that ends while the body is still arriving
// uploads nothing, because the handler looks the session up again once the body is in.
// (Carrying the head's answer over to the handler would keep a logged-out session working for
// as long as a slow body takes.) The body is over the ordinary body limit, so only a session
// live at the head gets it read: an answer of 413 means the head was read after the log-out,
// and the step is tried again with more time.
func TestUploadWhoseSessionEndsMidBodyIsRefused(t *testing.T) {
	s := startService(t, nil)
	jpg := jpegBytes(t, 800, 600)
	padded := append(append([]byte{}, jpg...), make([]byte, 1<<20)...)
	for _, wait := range []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second} {
		tok, _ := s.designer("Ines")
		id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Wool"))["id"].(string)
		body, contentType := s.uploadBody("a.jpg", padded, "A coat")
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "PUT /api/v1/campaigns/" + id + "/cover HTTP/1.1\r\nHost: backstitch.test\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: " + contentType + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n"
		if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait) // the server reads the head and starts on the body
		s.must(204, "DELETE", "/api/v1/sessions/current", tok, nil)
		if _, err := conn.Write(body[len(body)/2:]); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(res.Body)
		switch {
		case res.StatusCode == 413:
			continue
		case res.StatusCode != 401 || !strings.Contains(string(answer), `"unauthenticated"`):
			t.Fatalf("upload whose session ended mid-body: %d %s", res.StatusCode, answer)
		}
		if n := s.imageFiles(); n != 0 {
			t.Fatalf("%d image files stored by a session that had ended", n)
		}
		return
	}
	t.Fatal("the server never read the upload's head before the log-out")
}

// Replacing or removing a picture gives new URLs and leaves no bytes behind, for covers and
// tiers alike, and deleting a tier deletes its picture.
func TestReplacedAndRemovedImagesLeaveNoOrphans(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Oda")
	id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Knits"))["id"].(string)
	path := "/api/v1/campaigns/" + id + "/cover"
	first := coverURLs(t, s.upload("PUT", path, tok, "a.jpg", jpegBytes(t, 500, 400), "First").JSON(t))
	second := coverURLs(t, s.upload("PUT", path, tok, "b.jpg", jpegBytes(t, 700, 400), "Second").JSON(t))
	if first[0] == second[0] {
		t.Fatalf("a replaced cover kept its URL %s", first[0])
	}
	if r := s.fetch(first[0]); r.Status != 404 {
		t.Fatalf("replaced cover still served: %d", r.Status)
	}
	if n := s.imageFiles(); n != 3 {
		t.Fatalf("%d image files after a replace, want 3", n)
	}
	if c := s.must(200, "DELETE", path, tok, nil); c["cover"] != nil {
		t.Fatalf("cover after delete: %v", c["cover"])
	}
	if n := s.imageFiles(); n != 0 {
		t.Fatalf("%d image files after delete", n)
	}
	tier := s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", tok, map[string]any{
		"title": "Scarf", "kind": "physical", "price": map[string]any{"amount": 9000, "currency": "CHF"}})["id"].(string)
	tierPath := "/api/v1/campaigns/" + id + "/tiers/" + tier
	for range 2 {
		if r := s.upload("PUT", tierPath+"/image", tok, "s.jpg", jpegBytes(t, 300, 300), "A scarf"); r.Status != 200 {
			t.Fatalf("tier image → %d: %s", r.Status, r.Body)
		}
	}
	if n := s.imageFiles(); n != 3 {
		t.Fatalf("%d image files for one tier image", n)
	}
	s.must(204, "DELETE", tierPath, tok, nil)
	if n := s.imageFiles(); n != 0 {
		t.Fatalf("%d image files after the tier was deleted", n)
	}
}

// Racing replacements end with exactly one cover, and only its bytes stored.
func TestConcurrentCoverReplacementsLeaveOneImage(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Ruth")
	id := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Quilts"))["id"].(string)
	jpg := jpegBytes(t, 640, 480)
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = s.upload("PUT", "/api/v1/campaigns/"+id+"/cover", tok, "q.jpg", jpg, "Quilt").Status
		})
	}
	wg.Wait()
	for _, st := range statuses {
		if st != 200 {
			t.Errorf("racing upload → %d", st)
		}
	}
	urls := coverURLs(t, s.must(200, "GET", "/api/v1/campaigns/"+id, tok, nil))
	for _, u := range urls {
		if r := s.fetch(u); r.Status != 200 {
			t.Fatalf("the cover left is not served: %s → %d", u, r.Status)
		}
	}
	if n := s.imageFiles(); n != 3 {
		t.Fatalf("%d image files after racing replacements, want 3", n)
	}
}
