//go:build !production

package app_test

import (
	"encoding/base64"
	"testing"
)

// The public list's cursor tells nothing about campaigns the list does not show: a draft's id, an
// unknown id, garbage, an edited cursor and another list's cursor are all refused alike (before
// the fix, a draft's id answered 200 and an unknown one 422).
func TestListCursorRevealsNoHiddenCampaign(t *testing.T) {
	s := startService(t, nil)
	tok, _ := s.designer("Pia")
	admin := s.admin()
	for _, title := range []string{"Capsule one", "Capsule two"} {
		s.liveCampaign(tok, admin, title)
	}
	draft := s.must(201, "POST", "/api/v1/campaigns", tok, s.campaignBody("Secret draft"))["id"].(string)
	first := s.must(200, "GET", "/api/v1/campaigns?limit=1", "", nil)
	next := first["next_cursor"].(string)
	// Another instance on the same store takes it too: the signing key lives in the store.
	other := s.secondInstance(nil)
	if page := other.must(200, "GET", "/api/v1/campaigns?limit=1&cursor="+next, "", nil); len(page["data"].([]any)) != 1 {
		t.Fatalf("a cursor the API gave out does not page on another instance: %v", page)
	}
	raw, err := base64.RawURLEncoding.DecodeString(next)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", next, err)
	}
	raw[len(raw)/2] ^= 1
	adminCursor := s.must(200, "GET", "/api/v1/admin/campaigns?status=live&limit=1", admin, nil)["next_cursor"].(string)

	type answer struct {
		status int
		code   any
		detail any
		errors string
	}
	var want *answer
	for name, cursor := range map[string]string{
		"draft id": draft, "unknown id": "cam_0000000000000000", "garbage": "not-a-cursor",
		"edited cursor": base64.RawURLEncoding.EncodeToString(raw), "admin list's cursor": adminCursor,
	} {
		r := s.call("GET", "/api/v1/campaigns?cursor="+cursor, "", nil)
		p := r.JSON(t)
		got := answer{status: r.Status, code: p["code"], detail: p["detail"]}
		if errs, _ := p["errors"].([]any); len(errs) > 0 {
			got.errors = errs[0].(map[string]any)["message"].(string)
		}
		if got.status != 422 {
			t.Errorf("%s as cursor: %d %s", name, r.Status, r.Body)
		}
		if want == nil {
			want = &got
		} else if got != *want {
			t.Errorf("%s as cursor answers %+v, others %+v", name, got, *want)
		}
	}
}
