package keyplane

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// Operation states.
const (
	StateNotStarted = "NOT_STARTED"
	StateInProgress = "IN_PROGRESS"
	StateFinished   = "FINISHED"
)

// Operation is a long-running operation of an organization: an
// environment's creation or deletion, an archive deployment.
type Operation struct {
	UUID   uuid.UUID
	Org    string
	Type   string // INSERT or DELETE
	State  string
	Target string // the resource name the operation acts on
	// ErrorCode and ErrorMessage are the google.rpc.Status of an
	// operation that finished with an error.
	ErrorCode    *int
	ErrorMessage *string
	// Response is the resource a successful operation reports, as the JSON
	// its client is answered with; the domain does not read it.
	Response  []byte
	Warnings  []string
	CreatedAt time.Time
}

// Done reports whether the operation is finished: it is derived from the
// state, so the two can never disagree.
func (op *Operation) Done() bool { return op.State == StateFinished }

// ResourceName is the operation's full resource name.
func (op *Operation) ResourceName() string { return OperationName(op.Org, op.UUID) }

// OperationName is the resource name of an operation.
func OperationName(org string, id uuid.UUID) string {
	return "organizations/" + org + "/operations/" + id.String()
}

// Status is the error of a finished operation: a google.rpc.Code number
// and a message safe to show.
type Status struct {
	Code    int
	Message string
}

// OperationFilter narrows a list of operations; its zero fields do not.
type OperationFilter struct {
	// Done, when set, keeps finished (true) or unfinished (false)
	// operations.
	Done *bool
	// State, Type and Target keep operations that have that state,
	// operation type or target resource name.
	State, Type, Target string
}

// ErrOperationFinished is returned when the work of an operation that
// another worker has already finished is to be done: it must not be done
// twice.
var ErrOperationFinished = errors.New("operation already finished")
