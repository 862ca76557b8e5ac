package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/backstitch/backstitch/internal/testenv"
)

// upload posts a picture form as a browser does (multipart), with the CSRF token of the page at
// from unless token says otherwise ("-": none). An empty name sends no file.
func (v *visitor) upload(from, path, name string, data []byte, alt, token string) page {
	v.s.t.Helper()
	if token == "" {
		m := tokenField.FindStringSubmatch(v.get(from).body)
		if m == nil {
			v.s.t.Fatalf("no CSRF token on %s", from)
		}
		token = html.UnescapeString(m[1])
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if token != "-" {
		_ = mw.WriteField("csrf_token", token)
	}
	_ = mw.WriteField("alt", alt)
	if name != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
		h.Set("Content-Type", "image/jpeg") // what the browser claims is never believed
		fw, _ := mw.CreatePart(h)
		_, _ = fw.Write(data)
	}
	_ = mw.Close()
	req, _ := http.NewRequest("POST", v.s.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept-Language", v.lang)
	res, err := v.http.Do(req)
	if err != nil {
		v.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

func photo(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / w), 140, uint8(y * 255 / h), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngClaiming is a PNG signature and header claiming w×h, and no pixels.
func pngClaiming(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte("IHDR"), w), h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), 13)
	return binary.BigEndian.AppendUint32(append(out, ihdr...), crc32.ChecksumIEEE(ihdr))
}

// wantImageFiles checks that the store holds n image files (a picture is one per width).
func (s *site) wantImageFiles(n int64, when string) {
	s.t.Helper()
	got, err := s.store.CountImageFiles(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	if got != n {
		s.t.Errorf("%d image files %s, want %d", got, when, n)
	}
}

// pictureDraft signs a designer up in lang with a draft campaign and one physical tier, and
// returns her, the editor's path and the tier form's path.
func pictureDraft(t *testing.T, s *site, lang, title, tierTitle string) (v *visitor, editor, tier string) {
	t.Helper()
	v = s.visitor(lang)
	v.signUp("Ana")
	editor = v.createDraft(title)
	v.addTier(editor, tierTitle, "physical", "320")
	return v, editor, editor + "/tiers/" + tierIDs(t, s, v.cookie("session").Value, campaignID(editor))[0]
}

// landed checks that a picture form's answer p leads back to from with notice, and returns
// the page it leads to.
func (v *visitor) landed(p page, from, notice string) page {
	v.s.t.Helper()
	if p.status != 303 || !strings.HasPrefix(p.location(), from+"?notice="+notice) {
		v.s.t.Fatalf("want back to %s with %s: %d %q\n%s", from, notice, p.status, p.location(), p.body)
	}
	return v.get(p.location())
}

var shownImage = regexp.MustCompile(`<img class="picture" src="(/images/img_[^"/]+/480\.jpg)" alt="([^"]*)"`)

// A designer uploads a cover and a tier's picture from the console: the editor shows them at
// once, with her alt text (escaped), and their bytes are served.
func TestConsoleUploadsCoverAndTierPicture(t *testing.T) {
	s := startSite(t, nil)
	v, editor, tier := pictureDraft(t, s, "en", "Linen coat", "Coat")

	hostile := `Coat <script>alert(1)</script> & "friends"`
	p := v.landed(v.upload(editor, editor+"/cover", "coat.jpg", photo(t, 1600, 1000), hostile, ""), editor, "cover_saved")
	m := shownImage.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "Cover picture saved.") {
		t.Fatalf("the editor shows no cover:\n%s", p.body)
	}
	if strings.Contains(p.body, "<script>alert") || html.UnescapeString(m[2]) != hostile {
		t.Errorf("alt text shown as %q", m[2])
	}
	testenv.CheckHTML(t, "editor with a cover", p.body, "en")
	img := v.get(m[1])
	if img.status != 200 || img.header.Get("Content-Type") != "image/jpeg" || !strings.Contains(img.header.Get("Cache-Control"), "immutable") {
		t.Errorf("cover bytes: %d %v", img.status, img.header)
	}
	s.wantImageFiles(3, "for one cover")

	p = v.landed(v.upload(tier, tier+"/image", "piece.png", photo(t, 800, 800), "The coat's collar", ""), tier, "image_saved")
	if m := shownImage.FindStringSubmatch(p.body); m == nil || html.UnescapeString(m[2]) != "The coat's collar" || !strings.Contains(p.body, "Picture saved.") {
		t.Fatalf("the tier form shows no picture:\n%s", p.body)
	}
	testenv.CheckHTML(t, "tier with a picture", p.body, "en")
	s.wantImageFiles(6, "for a cover and a tier picture")
}

// Refused uploads come back to the form with the reason beside the field, in the designer's
// language, with the status the API gives, and nothing is stored.
func TestConsoleRefusedUploadsSayWhyAndStoreNothing(t *testing.T) {
	s := startSite(t, nil)
	v, editor, tier := pictureDraft(t, s, "fr", "Manteau", "Manteau")
	pdf := []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	big := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 10<<20)...)
	cases := []struct {
		name, file, alt string
		data            []byte
		status          int
		field, message  string
	}{
		{"pdf renamed .jpg", "coat.jpg", "Un manteau", pdf, 415, "cover-file-error", "n’est pas une image JPEG, PNG ou WebP"},
		{"over 10 MB", "huge.jpg", "Un manteau", big, 413, "cover-file-error", "dépasse 10 Mo"},
		{"60 megapixels", "wide.png", "Un manteau", pngClaiming(10000, 6000), 422, "cover-file-error", "dépasse 40 mégapixels"},
		{"no file", "", "Un manteau", nil, 422, "cover-file-error", "Choisissez un fichier"},
		{"no alt text", "coat.jpg", "  ", photo(t, 400, 300), 422, "cover-alt-error", "Décrivez ce que montre l’image"},
	}
	for _, tc := range cases {
		for _, target := range []struct{ from, to, prefix string }{{editor, editor + "/cover", "cover"}, {tier, tier + "/image", "tier-image"}} {
			p := v.upload(target.from, target.to, tc.file, tc.data, tc.alt, "")
			field := strings.Replace(tc.field, "cover", target.prefix, 1)
			want := regexp.MustCompile(`<p class="error" id="` + field + `">[^<]*` + regexp.QuoteMeta(tc.message))
			if p.status != tc.status || !want.MatchString(p.body) {
				t.Errorf("%s to %s: %d, want %d with %q beside the field\n%s", tc.name, target.to, p.status, tc.status, tc.message, p.body)
				continue
			}
			if !strings.Contains(p.body, `value="`+strings.TrimSpace(tc.alt)) {
				t.Errorf("%s: the alt text typed is lost", tc.name)
			}
			testenv.CheckHTML(t, tc.name, p.body, "fr")
		}
	}
	s.wantImageFiles(0, "after refused uploads")
	if p := v.get(editor); shownImage.MatchString(p.body) {
		t.Error("a refused upload shows as the cover")
	}
}

// An upload needs the form's CSRF token like any other form, and another designer's campaign
// takes no picture; nothing is stored either way.
func TestConsoleUploadsNeedTokenAndOwner(t *testing.T) {
	s := startSite(t, nil)
	owner := s.visitor("en")
	owner.signUp("Ana")
	editor := owner.createDraft("Linen coat")
	if p := owner.upload(editor, editor+"/cover", "coat.jpg", photo(t, 400, 300), "A coat", "-"); p.status != 403 {
		t.Errorf("upload without a token: %d", p.status)
	}
	if p := owner.upload(editor, editor+"/cover", "coat.jpg", photo(t, 400, 300), "A coat", "forged"); p.status != 403 {
		t.Errorf("upload with a forged token: %d", p.status)
	}
	other := s.visitor("en")
	other.signUp("Mallory")
	if p := other.upload("/designer", editor+"/cover", "coat.jpg", photo(t, 400, 300), "Mine now", ""); p.status != 404 {
		t.Errorf("another designer's upload: %d", p.status)
	}
	anon := s.visitor("en")
	if p := anon.upload("/designer/login", editor+"/cover", "coat.jpg", photo(t, 400, 300), "A coat", ""); p.status != 303 || !strings.HasPrefix(p.location(), "/designer/login") {
		t.Errorf("anonymous upload: %d %q", p.status, p.location())
	}
	s.wantImageFiles(0, "after refused uploads")
}

// A designer removes a picture from the console: the cover and the tier's picture go, their
// bytes with them; another designer's removal is refused and changes nothing.
func TestConsoleRemovesPictures(t *testing.T) {
	s := startSite(t, nil)
	v, editor, tier := pictureDraft(t, s, "en", "Linen coat", "Coat")
	v.landed(v.upload(editor, editor+"/cover", "coat.jpg", photo(t, 1600, 1000), "A coat", ""), editor, "cover_saved")
	v.landed(v.upload(tier, tier+"/image", "collar.jpg", photo(t, 800, 800), "A collar", ""), tier, "image_saved")
	cover := shownImage.FindStringSubmatch(v.get(editor).body)
	if cover == nil || !strings.Contains(v.get(editor).body, `action="`+editor+`/cover/delete"`) {
		t.Fatal("the editor offers no removal of its cover")
	}

	other := s.visitor("en")
	other.signUp("Mallory")
	for _, path := range []string{editor + "/cover/delete", tier + "/image/delete"} {
		if p := other.post("/designer", path, nil); p.status != 404 {
			t.Errorf("another designer removing %s: %d", path, p.status)
		}
		if p := v.do("POST", path, nil); p.status != 403 {
			t.Errorf("removing %s without a token: %d", path, p.status)
		}
	}
	s.wantImageFiles(6, "after refused removals")

	p := v.landed(v.post(editor, editor+"/cover/delete", nil), editor, "cover_removed")
	if shownImage.MatchString(p.body) || !strings.Contains(p.body, "Cover picture removed.") || strings.Contains(p.body, "/cover/delete") {
		t.Errorf("the editor after removing the cover:\n%s", p.body)
	}
	testenv.CheckHTML(t, "editor after removal", p.body, "en")
	if img := v.get(cover[1]); img.status != 404 {
		t.Errorf("the removed cover is still served: %d", img.status)
	}
	if p := v.landed(v.post(tier, tier+"/image/delete", nil), tier, "image_removed"); shownImage.MatchString(p.body) || !strings.Contains(p.body, "Picture removed.") {
		t.Errorf("the tier form after removing its picture:\n%s", p.body)
	}
	s.wantImageFiles(0, "after removing both pictures")
}

// A photo far over 10 MB (25 MB, straight from a camera) comes back to the form with the reason
// beside the field, not the server's bare 413, and nothing is stored.
func TestConsoleUploadFarOverTheLimitShowsTheForm(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("en")
	v.signUp("Ana")
	editor := v.createDraft("Linen coat")
	huge := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 25<<20)...)
	p := v.upload(editor, editor+"/cover", "camera.jpg", huge, "A coat", "")
	want := regexp.MustCompile(`<p class="error" id="cover-file-error">[^<]*larger than 10 MB`)
	if p.status != 413 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || !want.MatchString(p.body) || !strings.Contains(p.body, `value="A coat"`) {
		t.Fatalf("25 MB upload: %d %s\n%.2000s", p.status, p.header.Get("Content-Type"), p.body)
	}
	testenv.CheckHTML(t, "25 MB upload", p.body, "en")
	s.wantImageFiles(0, "after a 25 MB upload")
}

// A body beyond even the console forms' limit is refused before it is read; the answer is
// still a console page, in her language, that says why and leads back to the form.
func TestConsoleUploadBeyondTheBodyLimitIsAPage(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("fr")
	v.signUp("Ana")
	editor := v.createDraft("Manteau")
	res, body := s.headOnly(t, "POST", editor+"/cover", 64<<20, "Accept-Language: fr", "Cookie: session="+v.cookie("session").Value)
	if res.StatusCode != 413 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "dépasse 10 Mo") ||
		!strings.Contains(body, `href="`+editor+`"`) {
		t.Fatalf("64 MB upload: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	testenv.CheckHTML(t, "64 MB upload", body, "fr")
	s.wantImageFiles(0, "after a 64 MB upload")
}

// Only a signed-in designer makes the server read a picture-sized body: a stranger, or a
// browser whose session is forged or has ended, is answered from the request's head (here the
// body is never sent) and, for the console, asked to log in and come back to the form.
func TestUploadBodiesAreReadOnlyForTheSignedIn(t *testing.T) {
	s := startSite(t, nil)
	v := s.visitor("fr")
	v.signUp("Ana")
	editor := v.createDraft("Manteau")
	want := "/designer/login?" + url.Values{"next": {editor}}.Encode()
	for name, cookie := range map[string]string{"no session": "X-No: cookie", "forged session": "Cookie: session=forged-token-0123456789"} {
		res, body := s.headOnly(t, "POST", editor+"/cover", 5<<20, "Accept-Language: fr", cookie)
		if res.StatusCode != 303 || res.Header.Get("Location") != want {
			t.Errorf("%s, 5 MB console upload: %d %s, want 303 to %s\n%s", name, res.StatusCode, res.Header.Get("Location"), want, body)
		}
	}
	id := strings.Split(strings.TrimPrefix(editor, "/designer/campaigns/"), "/")[0]
	for name, auth := range map[string]string{"no token": "X-No: token", "forged token": "Authorization: Bearer forged-token-0123456789"} {
		res, body := s.headOnly(t, "PUT", "/api/v1/campaigns/"+id+"/cover", 5<<20, auth)
		if res.StatusCode != 413 {
			t.Errorf("%s, 5 MB API upload: %d\n%s", name, res.StatusCode, body)
		}
	}
	s.wantImageFiles(0, "after refused uploads")
}

// headOnly sends only the head of a request declaring a body of length bytes, with the given
// header lines, and returns the answer: one the server gives from the head alone, since the
// body never comes.
func (s *site) headOnly(t *testing.T, method, path string, length int, headers ...string) (*http.Response, string) {
	t.Helper()
	u, _ := url.Parse(s.base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req := method + " " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + strings.Join(headers, "\r\n") +
		"\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: no answer from the head: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}
