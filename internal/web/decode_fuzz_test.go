package web

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
	"github.com/backstitch/backstitch/internal/update"
)

// decodeTargets makes a fresh value of every input type a handler decodes a JSON body into;
// TestDecodeTargetsCoverEveryHandler keeps the list complete.
var decodeTargets = []func() any{
	func() any { return new(account.SignupFields) },
	func() any { return new(account.Login) },
	func() any { return new(account.ProfileFields) },
	func() any { return new(campaign.Fields) },
	func() any { return new(campaign.TierFields) },
	func() any { return new(campaign.SessionFields) },
	func() any { return new(transitionInput) },
	func() any { return new(pledge.Request) },
	func() any { return new(pledge.Change) },
	func() any { return new(pledge.FulfilmentChange) },
	func() any { return new(pledge.SurveyAnswers) },
	func() any { return new(confirmInput) },
	func() any { return new(refundInput) },
	func() any { return new(inviteInput) },
	func() any { return new(runInput) },
	func() any { return new(reconcile.ResolveRequest) },
	func() any { return new(update.Fields) },
}

// decodeBody runs decode on a request with the given Content-Type and body.
func decodeBody(contentType string, body []byte, dst any) error {
	app := fiber.New()
	c := app.AcquireCtx(&fasthttp.RequestCtx{})
	defer app.ReleaseCtx(c)
	if contentType != "" {
		c.Request().Header.SetContentType(contentType)
	}
	c.Request().SetBody(body)
	return decode(c, dst)
}

// FuzzDecode sends any body to every request decoder: it never panics, refuses with one of the
// three codes a body can earn (malformed_request, validation_failed with a named field,
// unsupported_media_type), and what it accepts encodes back to JSON that decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `null`, `{"email":"a@b.example","password":"linen and wool"}`,
		`{"tier_id":"tir_1","amount":{"amount":9000,"currency":"CHF"},"backer":{"email":"b@example.com","name":"Bea"}}`,
		`{"title":"Coats","goal":{"amount":1500000,"currency":"CHF"},"deadline":"2026-12-07","timezone":"Europe/Zurich"}`,
		`{"status":"live"}`, `{"amount":1e400}`, `{"limit":-1}`, `{"limit":null}`, `{"a":1}{"b":2}`, `{"x":"\ud800"}`,
		`{"title":"\u0000"}`, `{"title":1}`, `{"goal":{"amount":"12"}}`, `{"answers":{"size":["M"]}}`,
	} {
		f.Add("application/json", []byte(seed), uint8(0))
	}
	f.Add("application/merge-patch+json", []byte(`{"title":null}`), uint8(2))
	f.Add("text/plain", []byte(`{}`), uint8(1))
	f.Add("application/json; charset=\"", []byte(`{}`), uint8(3))
	f.Fuzz(func(t *testing.T, contentType string, body []byte, which uint8) {
		dst := decodeTargets[int(which)%len(decodeTargets)]()
		err := decodeBody(contentType, body, dst)
		if err != nil {
			checkDecodeRefusal(t, err, body)
			return
		}
		again, err := json.Marshal(dst)
		if err != nil {
			t.Fatalf("%T accepted %q but does not encode: %v", dst, body, err)
		}
		back := reflect.New(reflect.TypeOf(dst).Elem()).Interface()
		if err := decodeBody("application/json", again, back); err != nil {
			t.Fatalf("%T accepted %q, encoded it as %s, and refuses that: %v", dst, body, again, err)
		}
		if !reflect.DeepEqual(dst, back) {
			t.Fatalf("%T: %q decodes to %+v, its encoding %s to %+v", dst, body, dst, again, back)
		}
	})
}

func checkDecodeRefusal(t *testing.T, err error, body []byte) {
	t.Helper()
	e, ok := err.(*backstitch.Error)
	if !ok {
		t.Fatalf("body %q: %T %v, want a *backstitch.Error", body, err, err)
	}
	switch e.Code {
	case backstitch.CodeMalformed, backstitch.CodeUnsupportedMedia:
	case backstitch.CodeValidation:
		if len(e.Fields) == 0 {
			t.Fatalf("body %q: validation_failed without a field", body)
		}
		for _, fe := range e.Fields {
			if fe.Field == "" || (fe.Code != "invalid_type" && fe.Code != "unknown_field") {
				t.Fatalf("body %q: field error %+v", body, fe)
			}
		}
	default:
		t.Fatalf("body %q: code %s, want malformed_request, validation_failed or unsupported_media_type", body, e.Code)
	}
}

// Every handler that decodes a body decodes into a type FuzzDecode covers: a new endpoint with a
// new input type fails here until it is added to decodeTargets.
func TestDecodeTargetsCoverEveryHandler(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`var in ([A-Za-z_.]+)\n(?:[^\n]*\n){0,6}?[^\n]*decode\(c, &in\)`)
	var used []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		calls := strings.Count(string(src), "decode(c, ")
		found := decl.FindAllStringSubmatch(string(src), -1)
		if len(found) != calls {
			t.Fatalf("%s: %d calls of decode, %d found as `var in T` shortly before `decode(c, &in)`: keep that shape so this test sees each type", name, calls, len(found))
		}
		for _, m := range found {
			typ := m[1]
			if !strings.Contains(typ, ".") {
				typ = "web." + typ
			}
			used = append(used, typ)
		}
	}
	var covered []string
	for _, mk := range decodeTargets {
		covered = append(covered, strings.TrimPrefix(fmt.Sprintf("%T", mk()), "*"))
	}
	for _, typ := range used {
		if !slices.Contains(covered, typ) {
			t.Errorf("handlers decode into %s, which FuzzDecode does not cover: add it to decodeTargets", typ)
		}
	}
	if len(used) == 0 {
		t.Fatal("found no decode calls")
	}
}
