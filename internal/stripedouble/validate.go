package stripedouble

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/stripe/stripe-mock/embedded"
	"github.com/stripe/stripe-mock/param"
	"github.com/stripe/stripe-mock/param/coercer"
	"github.com/stripe/stripe-mock/server"
	"github.com/stripe/stripe-mock/spec"
)

// validator refuses requests exactly as stripe-mock v0.203.0's
// server.StubServer.HandleRequest would, with the same statuses and error
// bodies. It repeats that method's steps from stripe-mock's exported pieces
// instead of calling it, because the StubServer prints every request and its
// parameters (backers' emails among them) to os.Stdout, which must carry only
// the service's JSON log lines. None of the pieces used here print.
type validator struct {
	routes map[string][]validationRoute // by upper-case HTTP method
}

// validationRoute is one operation of the spec, as in stripe-mock's
// stubServerRoute.
type validationRoute struct {
	pattern    *regexp.Regexp
	pathParams int
	mediaType  string       // expected request Content-Type; unused for GET
	schema     *spec.Schema // what parameters are coerced against
	validate   func(any) error
}

// rejection is stripe-mock's answer to a request it refuses.
type rejection struct {
	status  int
	message string
}

// Error messages copied from stripe-mock's server package, which does not
// export them.
const (
	mockInvalidAuthorization = "Please authenticate by specifying an " +
		"`Authorization` header with any valid looking testmode secret API " +
		"key. For example, `Authorization: Bearer sk_test_123`. " +
		"Authorization was '%s'."
	mockInvalidRoute          = "Unrecognized request URL (%s: %s)."
	mockContentTypeEmpty      = "Request's `Content-Type` header was empty. Expected: `%s`."
	mockContentTypeMismatched = "Request's `Content-Type` didn't match the path's expected media type. Expected: `%s`. Was: `%s`."
)

// Building the validators parses Stripe's OpenAPI spec and compiles a JSON
// schema per operation, about half a second, and the result never changes, so
// every Double in a process shares one.
var (
	validatorOnce sync.Once
	sharedVal     *validator
	sharedValErr  error
)

func sharedValidator() (*validator, error) {
	validatorOnce.Do(func() {
		sharedVal, sharedValErr = newValidator()
		if sharedValErr != nil {
			sharedValErr = fmt.Errorf("stripedouble: build stripe-mock validation: %w", sharedValErr)
		}
	})
	return sharedVal, sharedValErr
}

// newValidator mirrors StubServer.initializeRouter.
func newValidator() (*validator, error) {
	oas, err := server.LoadSpec(embedded.OpenAPISpec, "")
	if err != nil {
		return nil, err
	}
	components := spec.GetComponentsForValidation(&oas.Components)
	v := &validator{routes: map[string][]validationRoute{}}
	for path, verbs := range oas.Paths {
		pattern, pathParams := compileSpecPath(path)
		for verb, op := range verbs {
			rt := validationRoute{pattern: pattern, pathParams: pathParams}
			// Like stripe-mock, GET validates a pseudo-schema built from the
			// query parameters, without the shared components, and every
			// other verb the body schema.
			var comps *spec.ComponentsForValidation
			if verb == "get" {
				rt.schema = spec.BuildQuerySchema(op)
			} else {
				// stripe-mock dereferences the body schema of every non-GET
				// request unchecked; the embedded spec gives every such
				// operation one, and a spec that did not would make
				// stripe-mock panic, so refuse it here.
				var ok bool
				if rt.mediaType, rt.schema, ok = requestBodySchema(op); !ok {
					return nil, fmt.Errorf("%s %s has no request body schema", verb, path)
				}
				comps = components
			}
			jv, err := spec.GetValidatorForOpenAPI3Schema(rt.schema, comps)
			if err != nil {
				return nil, err
			}
			rt.validate = jv.Validate
			method := strings.ToUpper(string(verb))
			v.routes[method] = append(v.routes[method], rt)
		}
	}
	for _, rts := range v.routes {
		// Static paths before parametrized ones, so that
		// /v1/invoices/upcoming is not taken for /v1/invoices/{invoice}.
		// stripe-mock leaves ties in map order; sorting them by pattern
		// makes the choice repeatable.
		slices.SortFunc(rts, func(a, b validationRoute) int {
			return cmp.Or(cmp.Compare(a.pathParams, b.pathParams),
				cmp.Compare(a.pattern.String(), b.pattern.String()))
		})
	}
	return v, nil
}

// specPathParam and compileSpecPath copy stripe-mock's unexported compilePath:
// an OpenAPI path such as /v1/customers/{customer} becomes an anchored
// regular expression with one capture group per parameter.
var specPathParam = regexp.MustCompile(`\{(\w+)\}`)

func compileSpecPath(path spec.Path) (*regexp.Regexp, int) {
	pattern, params := `\A`, 0
	for _, part := range strings.Split(string(path), "/") {
		if part == "" {
			continue
		}
		m := specPathParam.FindStringSubmatch(part)
		if m == nil {
			pattern += `/` + part
			continue
		}
		pattern += `/(?P<` + m[1] + `>[\w@:%-._~!$&'()*+,;=]+)`
		params++
	}
	return regexp.MustCompile(pattern + `\z`), params
}

// requestBodySchema copies stripe-mock's getRequestBodySchema: Stripe's
// operations have at most one request media type.
func requestBodySchema(op *spec.Operation) (string, *spec.Schema, bool) {
	if op.RequestBody == nil {
		return "", nil, false
	}
	for mediaType, content := range op.RequestBody.Content {
		return mediaType, content.Schema, content.Schema != nil
	}
	return "", nil, false
}

// check returns stripe-mock's rejection of r, or nil if stripe-mock accepts
// it. It reads r's body.
func (v *validator) check(r *http.Request) *rejection {
	auth := r.Header.Get("Authorization")
	if !validAuth(auth) {
		return &rejection{http.StatusUnauthorized, fmt.Sprintf(mockInvalidAuthorization, auth)}
	}
	rt, err := v.route(r.Method, r.URL.Path)
	if err != nil {
		return invalidRequest(fmt.Sprintf("Couldn't parse path parameters: %v", err))
	}
	if rt == nil {
		return &rejection{http.StatusNotFound, fmt.Sprintf(mockInvalidRoute, r.Method, r.URL.Path)}
	}
	// Here stripe-mock answers 500 for an operation without a JSON or PDF
	// 200 response, which the double never took as a refusal; the embedded
	// spec has no such operation.
	data, err := param.ParseParams(r)
	if err != nil {
		return invalidRequest(fmt.Sprintf("Couldn't parse query/body: %v", err))
	}
	// The rest mirrors stripe-mock's validateAndCoerceRequest, which checks
	// the Content-Type of neither GET nor DELETE.
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		contentType := r.Header.Get("Content-Type")
		if contentType == "" {
			return invalidRequest(fmt.Sprintf(mockContentTypeEmpty, rt.mediaType))
		}
		contentType, _, _ = strings.Cut(contentType, ";")
		if contentType != rt.mediaType {
			return invalidRequest(fmt.Sprintf(mockContentTypeMismatched, rt.mediaType, contentType))
		}
	}
	if err := coercer.CoerceParams(rt.schema, data); err != nil {
		return invalidRequest(fmt.Sprintf("Request coercion error: %v", err))
	}
	if err := rt.validate(data); err != nil {
		return invalidRequest(fmt.Sprintf("Request validation error: %v", err))
	}
	return nil
}

func invalidRequest(message string) *rejection {
	return &rejection{http.StatusBadRequest, message}
}

// route mirrors StubServer.routeRequest. stripe-mock answers 400 when a path
// parameter does not unescape, so that is checked even though the double
// takes its ids from the path itself.
func (v *validator) route(method, path string) (*validationRoute, error) {
	for i := range v.routes[method] {
		rt := &v.routes[method][i]
		m := rt.pattern.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		for j := 1; j < len(m); j++ {
			if _, err := url.QueryUnescape(m[j]); err != nil {
				return nil, fmt.Errorf("Failed to unescape path parameter %v: %v", j, err)
			}
		}
		return rt, nil
	}
	return nil, nil
}

// validAuth copies stripe-mock's validateAuth: any Bearer or Basic
// credential shaped like a test-mode secret or restricted key.
func validAuth(auth string) bool {
	parts := strings.Split(auth, " ")
	if len(parts) != 2 || parts[1] == "" {
		return false
	}
	key := parts[1]
	switch parts[0] {
	case "Basic":
		b, err := base64.StdEncoding.DecodeString(parts[1])
		if err != nil {
			return false
		}
		key = string(b)
	case "Bearer":
	default:
		return false
	}
	keyParts := strings.Split(key, "_")
	return len(keyParts) == 3 && (keyParts[0] == "sk" || keyParts[0] == "rk") &&
		keyParts[1] == "test" && keyParts[2] != ""
}

// write answers with the rejection as stripe-mock does: its headers and its
// ResponseError JSON.
func (rej *rejection) write(w http.ResponseWriter, r *http.Request) {
	// stripe-mock sets these only once the API key has passed.
	if rej.status != http.StatusUnauthorized {
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			w.Header().Set("Idempotency-Key", key)
		}
		w.Header().Set("Request-Id", "req_123")
	}
	// stripe-mock labels errors on its one PDF route (a quote's PDF)
	// application/pdf; the body is JSON either way, so say so.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Stripe-Mock-Version", server.Version)
	var body server.ResponseError
	body.ErrorInfo.Type = "invalid_request_error"
	body.ErrorInfo.Message = rej.message
	b, _ := json.Marshal(body) // two strings: cannot fail
	w.WriteHeader(rej.status)
	_, _ = w.Write(b)
}
