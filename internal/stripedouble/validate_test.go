package stripedouble

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// stripe-mock's own StubServer prints every request with its parameters to
// stdout, where the service may write only JSON log lines; the double's
// validation must print nothing, for valid and invalid requests alike.
func TestValidationWritesNothingToStdout(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = pw
	restore := func() {
		os.Stdout = stdout
		_ = pw.Close()
	}
	defer restore()
	printed := make(chan string)
	go func() {
		b, _ := io.ReadAll(pr)
		printed <- string(b)
	}()

	// Building is covered too: sharedValidator may already have run.
	if _, err := newValidator(); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	post := func(path, form string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
		r.Header.Set("Authorization", "Bearer "+testKey)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		d.ServeHTTP(w, r)
		return w
	}

	valid := []*httptest.ResponseRecorder{
		post("/v1/customers", "email=backer%40example.com"),
		post("/v1/payment_intents", "amount=1000&currency=usd"),
	}
	missingAmount := post("/v1/payment_intents", "currency=usd")
	unknownParam := post("/v1/customers", "email=backer%40example.com&bogus=1")

	restore()
	if out := <-printed; out != "" {
		t.Errorf("validation wrote to stdout:\n%s", out)
	}
	for _, w := range valid {
		if w.Code != http.StatusOK {
			t.Errorf("valid request: %d %s", w.Code, w.Body)
		}
	}
	for name, c := range map[string]struct {
		w    *httptest.ResponseRecorder
		want string
	}{
		"missing amount":    {missingAmount, "object property 'amount' is required"},
		"unknown parameter": {unknownParam, "additional properties are not allowed"},
	} {
		var body map[string]map[string]string
		if err := json.Unmarshal(c.w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", name, err, c.w.Body)
		}
		e := body["error"]
		if c.w.Code != http.StatusBadRequest || len(body) != 1 || len(e) != 2 ||
			e["type"] != "invalid_request_error" || !strings.Contains(e["message"], c.want) {
			t.Errorf("%s: %d %s, want 400 invalid_request_error with %q", name, c.w.Code, c.w.Body, c.want)
		}
	}
}
