package pages_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/testenv"
)

// Covers and tier pictures appear on the home page and the campaign page with their size and
// alt text; a hostile alt text stays text; pictures below the fold load lazily.
func TestPicturesOnPages(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	owner, err := s.api.Designer(ctx, "Mina")
	if err != nil {
		t.Fatal(err)
	}
	made, err := s.api.Launch(ctx, owner, s.admin, map[string]any{
		"title": "Hemp shirts", "goal": map[string]any{"amount": 100000, "currency": "CHF"}, "timezone": "Europe/Zurich",
		"deadline": s.clock.Now().AddDate(0, 0, 20).Format(time.DateOnly),
	}, []map[string]any{{"title": "A shirt", "kind": "digital", "price": map[string]any{"amount": 5000, "currency": "CHF"}}})
	if err != nil {
		t.Fatal(err)
	}
	var pic bytes.Buffer
	if err := jpeg.Encode(&pic, image.NewGray(image.Rect(0, 0, 2000, 1000)), nil); err != nil {
		t.Fatal(err)
	}
	const hostile = `"><script>alert('alt')</script><img src=x onerror=alert(1)>`
	if err := s.api.Upload(ctx, owner, "/api/v1/campaigns/"+made.ID+"/cover", pic.Bytes(), hostile); err != nil {
		t.Fatal(err)
	}
	if err := s.api.Upload(ctx, owner, "/api/v1/campaigns/"+made.ID+"/tiers/"+made.Tiers["A shirt"]+"/image", pic.Bytes(), "A white shirt"); err != nil {
		t.Fatal(err)
	}
	img := regexp.MustCompile(`<img [^>]*>`)
	for path, want := range map[string][]string{
		"/": {`src="/images/img_[0-9a-zA-Z_-]+/480\.jpg" alt="&#34;&gt;&lt;script&gt;alert\(&#39;alt&#39;\)&lt;/script&gt;&lt;img src=x onerror=alert\(1\)&gt;" width="480" height="240" decoding="async"`},
		"/campaigns/" + made.Slug: {
			`src="/images/img_[0-9a-zA-Z_-]+/960\.jpg" alt="&#34;&gt;&lt;script&gt;alert\(&#39;alt&#39;\)&lt;/script&gt;&lt;img src=x onerror=alert\(1\)&gt;" width="960" height="480" decoding="async"`,
			`src="/images/img_[0-9a-zA-Z_-]+/480\.jpg" alt="A white shirt" width="480" height="240" loading="lazy" decoding="async"`,
		},
	} {
		p := s.get(path, "en")
		testenv.CheckHTML(t, path, p.body, "en")
		tags := img.FindAllString(p.body, -1)
		if len(tags) != len(want) {
			t.Fatalf("%s: %d images, want %d: %v", path, len(tags), len(want), tags)
		}
		for i, w := range want {
			if !regexp.MustCompile(w).MatchString(tags[i]) {
				t.Errorf("%s: image %d is\n%s\nwant it to match\n%s", path, i, tags[i], w)
			}
		}
		if strings.Contains(p.body, "<script>alert") {
			t.Errorf("%s: the alt text became markup", path)
		}
		// Every image the page shows is served.
		for _, src := range regexp.MustCompile(`src="(/images/[^"]+)"`).FindAllStringSubmatch(p.body, -1) {
			if r := s.get(src[1], ""); r.status != 200 || r.header.Get("Content-Type") != "image/jpeg" {
				t.Errorf("%s: %s → %d %s", path, src[1], r.status, r.header.Get("Content-Type"))
			}
		}
	}
}
