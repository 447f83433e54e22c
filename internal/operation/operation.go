// Package operation holds the rules of long-running operations: how a new
// one starts, how an error becomes the google.rpc.Status of a finished one,
// and how they are listed and filtered.
//
// Storage is the Store interface declared in this package, in the domain's
// types (package keyplane), and implemented by internal/postgres, as for
// every service: the interface is the list of what the rules may do to the
// database, readable beside them.
package operation

import (
	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
)

// Operation types, as Apigee reports them in metadata.operationType.
const (
	TypeInsert = "INSERT"
	TypeDelete = "DELETE"
)

// Encoder encodes the resource an operation reports (an organization, an
// environment, an archive deployment) as the response its clients read.
// The wire format is not the services' to know: internal/httpapi provides
// it (httpapi.OperationResponse), and the server hands it to the services
// that record operations.
type Encoder func(resource any) ([]byte, error)

// Finished returns an operation that is already done, such as an
// environment creation, with response as its result.
func Finished(org, opType, target string, response []byte) *keyplane.Operation {
	op := Pending(org, opType, target)
	op.State, op.Response = keyplane.StateFinished, response
	return op
}

// Pending returns a new operation that has not started.
func Pending(org, opType, target string) *keyplane.Operation {
	return &keyplane.Operation{UUID: uuid.New(), Org: org, Type: opType, State: keyplane.StateNotStarted, Target: target}
}

// Status maps an error to the operation error that reports it: an
// application error keeps its message and its gRPC code; anything else is
// reported as internal, its details left to the log.
func Status(err error) *keyplane.Status {
	return &keyplane.Status{Code: keyplane.GRPCCode(keyplane.ErrorCode(err)), Message: keyplane.ErrorMessage(err)}
}
