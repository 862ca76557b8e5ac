package csrf

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// serve runs a form and its POST behind the guard on a loopback port.
func serve(t *testing.T) string {
	t.Helper()
	key := []byte("0123456789abcdef0123456789abcdef")
	g := New(func(context.Context, string) ([]byte, error) { return key, nil }, false)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/form", func(c *fiber.Ctx) error {
		tok, err := g.Token(c)
		if err != nil {
			return err
		}
		return c.SendString(tok)
	})
	app.Post("/form", func(c *fiber.Ctx) error {
		if err := g.Check(c); err != nil {
			if errors.Is(err, ErrForged) {
				return c.SendStatus(http.StatusForbidden)
			}
			return err
		}
		return c.SendString("ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String() + "/form"
}

type visitor struct {
	t *testing.T
	c *http.Client
}

func newVisitor(t *testing.T) visitor {
	jar, _ := cookiejar.New(nil)
	return visitor{t, &http.Client{Jar: jar}}
}

func (v visitor) token(addr string) string {
	resp, err := v.c.Get(addr)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (v visitor) post(addr, token string, header map[string]string) int {
	req, _ := http.NewRequest(http.MethodPost, addr, strings.NewReader(url.Values{FieldName: {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, val := range header {
		req.Header.Set(k, val)
	}
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestFormsOnlyAcceptTheirOwnToken(t *testing.T) {
	addr := serve(t)
	alice, mallory := newVisitor(t), newVisitor(t)
	tok := alice.token(addr)
	if again := alice.token(addr); again != tok {
		t.Fatalf("a second form for the same visitor got another token: %q vs %q", again, tok)
	}
	if got := alice.post(addr, tok, nil); got != http.StatusOK {
		t.Fatalf("own form: %d, want 200", got)
	}
	if got := alice.post(addr, tok, map[string]string{"Sec-Fetch-Site": "same-origin"}); got != http.StatusOK {
		t.Fatalf("own form, same-origin: %d, want 200", got)
	}
	malloryTok := mallory.token(addr)
	cases := []struct {
		name   string
		v      visitor
		token  string
		header map[string]string
	}{
		{"no token", alice, "", nil},
		{"another visitor's token", alice, malloryTok, nil},
		{"token replayed without its cookie", newVisitor(t), tok, nil},
		{"tampered token", alice, tok[:len(tok)-2] + "AA", nil},
		{"posted from another site", alice, tok, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, c := range cases {
		if got := c.v.post(addr, c.token, c.header); got != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, got)
		}
	}
}

func TestCookieIsHttpOnlyAndLax(t *testing.T) {
	addr := serve(t)
	resp, err := http.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{CookieName + "=", "HttpOnly", "SameSite=Lax", "path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
}
