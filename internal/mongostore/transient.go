package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// UnavailableRetryAfter is what a client is told to wait after the store failed transiently: an
// election on a replica set takes about ten seconds at most, usually one or two.
const UnavailableRetryAfter = 2 * time.Second

// Server error codes that mean "this node cannot take the request now, another one soon will":
// the replica set is electing a primary, or a node is shutting down or unreachable.
var transientCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	189,   // PrimarySteppedDown
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
	134,   // ReadConcernMajorityNotAvailableYet
	64,    // WriteConcernFailed: the write may or may not be applied, as after a lost connection
}

// Transient reports whether err is the store being unreachable or between primaries rather than
// refusing the request: a network error, a server selection timeout, one of the codes above, an
// error the server or driver labels as safe to retry, or a Writer's busy store. The outcome of a
// write that failed so is unknown: it may have been applied.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if mongo.IsNetworkError(err) || waitedForServer(err) {
		return true
	}
	// A Writer's files held by another writer past its wait (embedded.BusyError).
	if b, ok := errors.AsType[busyError](err); ok && b.Busy() {
		return true
	}
	if se := mongo.ServerError(nil); errors.As(err, &se) {
		if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError") ||
			se.HasErrorLabel("NetworkError") {
			return true
		}
		for _, code := range transientCodes {
			if se.HasErrorCode(code) {
				return true
			}
		}
	}
	if le := mongo.LabeledError(nil); errors.As(err, &le) {
		return le.HasErrorLabel("RetryableWriteError") || le.HasErrorLabel("TransientTransactionError")
	}
	return false
}

// busyError is how a Writer says nothing was written because its store stayed busy.
type busyError interface {
	error
	Busy() bool
}

// waitedForServer reports a failure that already spent the whole server selection timeout
// waiting for a primary: trying again at once would only make the caller wait as long again.
func waitedForServer(err error) bool {
	return errors.Is(err, topology.ErrServerSelectionTimeout) || errors.As(err, &topology.ServerSelectionError{}) ||
		errors.As(err, &topology.WaitQueueTimeoutError{})
}

// unavailableError is a transient store failure as the rest of the service sees it: a domain
// error (unavailable, with Retry-After) that the web layer answers with 503, which still unwraps
// to the driver's error for logs and for Transient.
type unavailableError struct {
	cause error
	user  *backstitch.Error
}

func (e *unavailableError) Error() string   { return e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.user, e.cause} }

// classify turns a transient failure into an unavailableError and leaves anything else as it is.
func classify(err error) error {
	if !Transient(err) {
		return err
	}
	if _, done := errors.AsType[*unavailableError](err); done {
		return err
	}
	return &unavailableError{cause: err, user: &backstitch.Error{Code: backstitch.CodeUnavailable,
		Message: "The database is not reachable right now. Please try again in a moment.", RetryAfter: UnavailableRetryAfter}}
}

// storeError is fmt.Errorf for every error the store returns: transient failures become
// unavailable (503 with Retry-After), never an internal error.
func storeError(format string, args ...any) error {
	return classify(fmt.Errorf(format, args...))
}

// casBackoff bounds how often a compare-and-set that failed transiently is tried again; with the
// pauses in casBackoff it spans about the few seconds an election takes.
var casBackoff = []time.Duration{50 * time.Millisecond, 250 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond}

// retryCAS runs a compare-and-set and, when it fails transiently, asks applied whether the lost
// attempt was carried out after all (its answer was lost, not its write) before trying again:
// repeating a compare-and-set is safe, because a write that applied changed what it compares,
// and applied is what tells "it was us" from "someone else wrote meanwhile". It gives up with the
// transient error, classified, after casBackoff, or at once when it already waited a whole
// server selection timeout for a primary.
func retryCAS(ctx context.Context, attempt func() (bool, error), applied func() (bool, error)) (bool, error) {
	ok, err := attempt()
	retried := false
	for i := 0; ; i++ {
		if err == nil {
			// A refused retry may be refused by the lost attempt's own write, which the server
			// carried out after applied last looked.
			if !ok && retried {
				if done, rerr := applied(); rerr == nil && done {
					return true, nil
				}
			}
			return ok, nil
		}
		if !Transient(err) || waitedForServer(err) || i == len(casBackoff) {
			return false, classify(err)
		}
		select {
		case <-ctx.Done():
			return false, classify(err)
		case <-time.After(casBackoff[i]):
		}
		retried = true
		done, rerr := applied()
		switch {
		case rerr != nil:
			err = rerr
		case done:
			return true, nil
		default:
			ok, err = attempt()
		}
	}
}
