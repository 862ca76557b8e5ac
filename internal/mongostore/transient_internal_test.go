package mongostore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// What a replica set answers during an election, and what it answers to a bad request: the first
// kind is transient (503 or a retried compare-and-set), the second is not.
func TestTransientClassifiesTheDriversErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"NotWritablePrimary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, true},
		{"PrimarySteppedDown", mongo.CommandError{Code: 189, Name: "PrimarySteppedDown"}, true},
		{"InterruptedDueToReplStateChange", mongo.CommandError{Code: 11602}, true},
		{"NotPrimaryNoSecondaryOk", mongo.CommandError{Code: 13435}, true},
		{"RetryableWriteError label", mongo.CommandError{Code: 1, Labels: []string{"RetryableWriteError"}}, true},
		{"TransientTransactionError label", mongo.CommandError{Code: 1, Labels: []string{"TransientTransactionError"}}, true},
		{"write concern error in a write", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 10107}}, true},
		{"network error", mongo.CommandError{Labels: []string{"NetworkError"}, Wrapped: &net.OpError{Op: "read", Err: errors.New("reset")}}, true},
		{"server selection timeout", topology.ServerSelectionError{Wrapped: topology.ErrServerSelectionTimeout}, true},
		{"wrapped by the store", fmt.Errorf("update pledge p: %w", mongo.CommandError{Code: 189}), true},
		{"duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, false},
		{"bad query", mongo.CommandError{Code: 2, Name: "BadValue"}, false},
		{"cancelled by the client", fmt.Errorf("find: %w", context.Canceled), false},
		{"no document", mongo.ErrNoDocuments, false},
		{"a Writer's busy files", fmt.Errorf("replace 1 pledges: %w", busyFiles{}), true},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("%s: Transient = %v, want %v", c.name, got, c.want)
		}
		classified := classify(c.err)
		e, ok := errors.AsType[*backstitch.Error](classified)
		if c.want != (ok && e.Code == backstitch.CodeUnavailable && e.RetryAfter > 0) {
			t.Errorf("%s: classified as %v", c.name, classified)
		}
		if Transient(classified) != c.want || !strings.Contains(classified.Error(), c.err.Error()) {
			t.Errorf("%s: the classified error %q lost its cause", c.name, classified)
		}
	}
}

// A connection string cannot weaken what the service's consistency rests on.
func TestClientOptionsKeepMajorityAndRetryableWrites(t *testing.T) {
	opts := clientOptions(Options{URI: "mongodb://db.example:27017/?w=1&retryWrites=false&retryReads=false&replicaSet=rs0"})
	if opts.WriteConcern == nil || opts.WriteConcern.W != writeconcern.Majority().W {
		t.Errorf("write concern %+v, want majority", opts.WriteConcern)
	}
	if opts.RetryWrites == nil || !*opts.RetryWrites {
		t.Error("retryable writes are off")
	}
	if opts.RetryReads == nil || !*opts.RetryReads {
		t.Error("retryable reads are off")
	}
}

// busyFiles is what embedded.BusyError says of itself.
type busyFiles struct{}

func (busyFiles) Error() string { return "database is locked" }
func (busyFiles) Busy() bool    { return true }
