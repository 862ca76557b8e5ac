//go:build !production

package app_test

import (
	"bytes"
	"context"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/app"
	"github.com/backstitch/backstitch/internal/config"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/testsite"
)

// page fetches a page as a browser would; header pairs are added to the request.
func (s *service) page(path string, header ...string) response {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", "en")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if res.StatusCode == 500 {
		s.t.Errorf("GET %s → 500: %s", path, b)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// confirmedPledge pledges amount for the coat on s and confirms it with a card that works. The
// card's events are held until the request has answered, so the confirmation is the request's
// own (tests check it shows at once on this instance), then delivered, so nothing is under way
// when the test goes on.
func (s *service) confirmedPledge(c pledgeSetup, amount int, key string, source map[string]any) string {
	s.t.Helper()
	body := coatPledge(c.coatTier, amount)
	if source != nil {
		body["source"] = source
	}
	r := s.pledge(c.slug, body, key)
	if r.Status != 201 {
		s.t.Fatalf("pledge: %d %s", r.Status, r.Body)
	}
	p := r.JSON(s.t)
	s.secret(p["manage_token"].(string))
	hold := s.double().HoldEvents(s.t)
	if got := s.manage("POST", p["id"].(string), p["manage_token"].(string), map[string]any{"payment_method": "pm_card_visa"}); got.Status != 200 {
		s.t.Fatalf("confirm: %d %s", got.Status, got.Body)
	}
	s.deliverHeld(hold)
	return p["id"].(string)
}

// pledged320 is the campaign page's pledged figure after one coat.
const pledged320 = "<strong>CHF\u00a0320.00</strong>"

// The campaign page is rendered once per language and served from the public cache: same bytes
// and ETag for every visitor, 304 on revalidation, a CDN may hold it a few seconds. A pledge is on
// the page at once on the instance that took it, and within the TTL on the other.
func TestCampaignPageCachedAndFollowsPledgesOnBothInstances(t *testing.T) {
	env := map[string]string{"BACKSTITCH_PUBLIC_CACHE_TTL": "2s", "BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"}
	a := startService(t, env)
	b := a.secondInstance(env)
	c := a.pledgeSetup("flexible", 10)
	path := "/campaigns/" + c.slug

	first := a.page(path)
	if first.Status != 200 || !strings.Contains(string(first.Body), "<strong>CHF\u00a00.00</strong>") {
		t.Fatalf("page: %d %s", first.Status, first.Body)
	}
	h := first.Header
	if h.Get("Cache-Control") != "public, max-age=0, s-maxage=2" || h.Get("Vary") != "Accept-Language, Cookie" ||
		h.Get("Content-Language") != "en" || h.Get("ETag") == "" || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self';") {
		t.Errorf("headers: %v", h)
	}
	again := a.page(path)
	if again.Header.Get("ETag") != h.Get("ETag") || !bytes.Equal(again.Body, first.Body) {
		t.Errorf("two visits got different pages")
	}
	if r := a.page(path, "If-None-Match", h.Get("ETag")); r.Status != 304 || len(r.Body) != 0 {
		t.Errorf("revalidation: %d, want 304", r.Status)
	}
	if fr := a.page(path, "Accept-Language", "fr-CH"); fr.Header.Get("ETag") == h.Get("ETag") || fr.Header.Get("Content-Language") != "fr" {
		t.Errorf("French page shares the English one's ETag")
	}
	if r := b.page(path); r.Header.Get("ETag") != h.Get("ETag") {
		t.Errorf("the other instance renders other bytes: ETags differ")
	}

	a.confirmedPledge(c, 32000, "page-1", nil)
	if r := a.page(path, "If-None-Match", h.Get("ETag")); r.Status != 200 || !strings.Contains(string(r.Body), pledged320) {
		t.Fatalf("the writing instance's page after a pledge: %d", r.Status)
	}
	if r := b.page(path); strings.Contains(string(r.Body), pledged320) {
		t.Fatalf("the other instance's page changed within the TTL: is it cached at all?")
	}
	a.clock.Advance(2 * time.Second)
	if r := b.page(path); !strings.Contains(string(r.Body), pledged320) {
		t.Fatalf("the other instance's page after the TTL lacks the pledge")
	}
}

// An unknown slug is remembered as such (no store read per request) until the TTL on other
// instances, at once on the instance where a campaign's change may have given it its page.
func TestUnknownSlugIsRememberedBriefly(t *testing.T) {
	env := map[string]string{"BACKSTITCH_PUBLIC_CACHE_TTL": "2s"}
	a := startService(t, env)
	b := a.secondInstance(env)
	owner, _ := a.designer("Designer")
	admin := a.admin()
	cm := a.must(201, "POST", "/api/v1/campaigns", owner, a.campaignBody("Soon live"))
	id, slug := cm["id"].(string), cm["slug"].(string)
	for _, s := range []*service{a, b} {
		if r := s.page("/campaigns/" + slug); r.Status != 404 || r.Header.Get("Cache-Control") != "public, max-age=0, s-maxage=2" {
			t.Fatalf("a draft's page: %d %v", r.Status, r.Header)
		}
	}
	a.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
		"title": "Coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}})
	a.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
	a.must(200, "POST", "/api/v1/admin/campaigns/"+id+"/approve", admin, nil)
	a.must(200, "POST", "/api/v1/campaigns/"+id+"/launch", owner, nil)
	if r := a.page("/campaigns/" + slug); r.Status != 200 {
		t.Errorf("launched, on the instance that launched it: %d", r.Status)
	}
	if r := b.page("/campaigns/" + slug); r.Status != 404 {
		t.Errorf("the other instance forgot the 404 within the TTL (%d): unknown slugs are read every time", r.Status)
	}
	a.clock.Advance(2 * time.Second)
	if r := b.page("/campaigns/" + slug); r.Status != 200 {
		t.Errorf("launched, on the other instance after the TTL: %d", r.Status)
	}
}

// A visit through a share link sets the attribution cookie (cleaned, bounded, 30 days) on a
// response no shared cache keeps, with the same body as everyone's; a pledge carries its source;
// an API client's hostile source is refused.
func TestShareLinkVisitIsRememberedAndStoredOnThePledge(t *testing.T) {
	a := startService(t, nil)
	c := a.pledgeSetup("flexible", 10)
	path := "/campaigns/" + c.slug
	plain := a.page(path)
	hostile := "<script>alert(1)</script>\u202e" + strings.Repeat("x", 500)
	r := a.page(path + "?ref=" + urlQuery(hostile) + "&utm_medium=Social%20Post&utm_campaign=spring")
	if r.Header.Get("ETag") != plain.Header.Get("ETag") || r.Header.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("a share link's visit: ETag %q vs %q, Cache-Control %q", r.Header.Get("ETag"), plain.Header.Get("ETag"), r.Header.Get("Cache-Control"))
	}
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == "src" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 30*24*3600 || cookie.Path != "/" {
		t.Fatalf("attribution cookie: %+v", cookie)
	}
	want := "ref=scriptalert1script" + strings.Repeat("x", 64-len("scriptalert1script")) + "&utm_campaign=spring&utm_medium=socialpost"
	if cookie.Value != want {
		t.Errorf("cookie value %q, want %q", cookie.Value, want)
	}
	if strings.Contains(string(r.Body), "alert(1)") {
		t.Errorf("the ref reached the page")
	}

	id := a.confirmedPledge(c, 32000, "src-1", map[string]any{"ref": "instagram", "utm_source": "ig"})
	p, err := a.store.FindPledge(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != (pledge.Source{Ref: "instagram", UTMSource: "ig"}) {
		t.Errorf("stored source %+v", p.Source)
	}
	body := coatPledge(c.coatTier, 32000)
	body["source"] = map[string]any{"ref": "<b>x</b>", "utm_campaign": strings.Repeat("a", 65)}
	bad := a.pledge(c.slug, body, "src-2")
	if bad.Status != 422 || bad.fieldCode(t, "source.ref") != "invalid" || bad.fieldCode(t, "source.utm_campaign") != "invalid" {
		t.Errorf("hostile source: %d %s", bad.Status, bad.Body)
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", " ", "%20", "+", "%2B").Replace(s)
}

// Visits per source are counted in memory, added up across instances ($inc) and reported with
// the pledges each source brought; only the owner and admins see them.
func TestSourcesReport(t *testing.T) {
	a := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"})
	b := a.secondInstance(nil)
	c := a.pledgeSetup("flexible", 10)
	path := "/campaigns/" + c.slug
	for range 3 {
		a.page(path + "?ref=instagram")
	}
	b.page(path + "?ref=Instagram")
	b.page(path)
	a.confirmedPledge(c, 32000, "rep-1", map[string]any{"ref": "instagram"})
	a.confirmedPledge(c, 40000, "rep-2", nil)
	ctx := context.Background()
	if err := a.app.Visits().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.app.Visits().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r := a.must(200, "GET", "/api/v1/campaigns/"+c.id+"/sources", c.owner, nil)
	sources := r["sources"].([]any)
	if len(sources) != 2 {
		t.Fatalf("sources: %v", sources)
	}
	insta, direct := sources[0].(map[string]any), sources[1].(map[string]any)
	if insta["source"].(map[string]any)["ref"] != "instagram" || insta["visits"] != 4.0 || insta["pledges"] != 1.0 ||
		insta["amount"].(map[string]any)["amount"] != 32000.0 || insta["conversion"] != 0.25 {
		t.Errorf("instagram: %v", insta)
	}
	if len(direct["source"].(map[string]any)) != 0 || direct["visits"] != 1.0 || direct["pledges"] != 1.0 || direct["amount"].(map[string]any)["amount"] != 40000.0 {
		t.Errorf("direct: %v", direct)
	}
	days := insta["days"].([]any)
	if len(days) != 1 || days[0].(map[string]any)["day"] != "2026-11-02" || days[0].(map[string]any)["visits"] != 4.0 {
		t.Errorf("instagram per day: %v", days)
	}
	other, _ := a.designer("Other")
	if r := a.call("GET", "/api/v1/campaigns/"+c.id+"/sources", other, nil); r.Status != 403 {
		t.Errorf("another designer: %d", r.Status)
	}
	if r := a.call("GET", "/api/v1/campaigns/"+c.id+"/sources", "", nil); r.Status != 401 {
		t.Errorf("anonymous: %d", r.Status)
	}
	a.must(200, "GET", "/api/v1/campaigns/"+c.id+"/sources", a.admin(), nil)
}

// Visits counted but not yet flushed reach the store when the instance shuts down.
func TestVisitsFlushedAtShutdown(t *testing.T) {
	a := startService(t, nil)
	c := a.pledgeSetup("flexible", 10)
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	other, base, stop := testsite.Start(t, cfg, zerolog.Nop(), app.Deps{Store: a.store, Now: a.clock.Now})
	b := &service{t: t, base: base, http: a.http, clock: a.clock, store: a.store}
	for i := range 7 {
		b.page("/campaigns/" + c.slug + "?ref=r" + string(rune('0'+i%2)))
	}
	if n := other.Visits().Pending(); n != 7 {
		t.Fatalf("pending visits %d, want 7", n)
	}
	a.http.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	counts, err := a.store.FindVisits(context.Background(), c.id)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range counts {
		total += n.Visits
	}
	if total != 7 || len(counts) != 2 {
		t.Errorf("stored %d visits in %d counts, want 7 in 2", total, len(counts))
	}
}

// The share image is a 1200×630 PNG, drawn again at most once a minute even when the totals
// change in between.
func TestShareImage(t *testing.T) {
	a := startService(t, map[string]string{"BACKSTITCH_PLEDGE_LIMIT_PER_ADDRESS": "1000"})
	c := a.pledgeSetup("flexible", 10)
	path := "/campaigns/" + c.slug + "/share.png"
	r := a.page(path)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" || r.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("share image: %d %v", r.Status, r.Header)
	}
	img, err := png.Decode(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 630 {
		t.Errorf("size %v", b)
	}
	a.confirmedPledge(c, 32000, "img-1", nil)
	a.clock.Advance(59 * time.Second)
	if again := a.page(path); !bytes.Equal(again.Body, r.Body) {
		t.Errorf("redrawn within the minute")
	}
	a.clock.Advance(time.Second)
	later := a.page(path)
	if bytes.Equal(later.Body, r.Body) {
		t.Errorf("not redrawn after a minute though the totals changed")
	}
	if r := a.page(path, "If-None-Match", later.Header.Get("ETag")); r.Status != 304 {
		t.Errorf("revalidation: %d", r.Status)
	}
	// With a cover, the picture fills a panel on the right (where the plain image is background).
	before := color.RGBAModel.Convert(img.At(1000, 315)).(color.RGBA)
	if up := a.upload("PUT", "/api/v1/campaigns/"+c.id+"/cover", c.owner, "cover.jpg", jpegBytes(t, 1600, 1000), "Linen on the cutting table"); up.Status != 200 {
		t.Fatalf("cover upload: %d %s", up.Status, up.Body)
	}
	a.clock.Advance(time.Minute)
	withCover, err := png.Decode(bytes.NewReader(a.page(path).Body))
	if err != nil {
		t.Fatal(err)
	}
	if after := color.RGBAModel.Convert(withCover.At(1000, 315)).(color.RGBA); after == before {
		t.Errorf("the cover is not drawn: the panel is still %v", after)
	}
	if edge := color.RGBAModel.Convert(withCover.At(30, 600)).(color.RGBA); edge != color.RGBAModel.Convert(img.At(30, 600)).(color.RGBA) {
		t.Errorf("the cover spilled onto the text side: %v", edge)
	}
	if r := a.page("/campaigns/no-such-campaign/share.png"); r.Status != 404 {
		t.Errorf("unknown campaign: %d", r.Status)
	}
	page := string(a.page("/campaigns/" + c.slug).Body)
	for _, want := range []string{`<meta property="og:image" content="http://localhost:8080/campaigns/` + c.slug + `/share.png">`,
		`<link rel="canonical" href="http://localhost:8080/campaigns/` + c.slug + `">`, `<meta name="twitter:card" content="summary_large_image">`,
		`https://wa.me/?text=`, `ref%3Dwhatsapp`, `mailto:?subject=`} {
		if !strings.Contains(page, want) {
			t.Errorf("campaign page lacks %s", want)
		}
	}
}
