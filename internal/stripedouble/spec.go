package stripedouble

import (
	"fmt"
	"sync"

	"github.com/stripe/stripe-mock/embedded"
	"github.com/stripe/stripe-mock/server"
)

// The stub server is immutable once built and takes about a second to parse
// Stripe's OpenAPI spec, so every Double in a process shares one.
var (
	stubOnce sync.Once
	stubSrv  *server.StubServer
	stubErr  error
)

func sharedStub() (*server.StubServer, error) {
	stubOnce.Do(func() {
		spec, err := server.LoadSpec(embedded.OpenAPISpec, "")
		if err != nil {
			stubErr = fmt.Errorf("stripedouble: load stripe-mock spec: %w", err)
			return
		}
		fixtures, err := server.LoadFixtures(embedded.OpenAPIFixtures, "")
		if err != nil {
			stubErr = fmt.Errorf("stripedouble: load stripe-mock fixtures: %w", err)
			return
		}
		stubSrv, stubErr = server.NewStubServer(fixtures, spec, false, false)
		if stubErr != nil {
			stubErr = fmt.Errorf("stripedouble: start stripe-mock stub: %w", stubErr)
		}
	})
	return stubSrv, stubErr
}
