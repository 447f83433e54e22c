// Package operation turns stored long-running operations into the
// google.longrunning.Operation that Apigee clients poll, and maps errors to
// the operation's google.rpc.Status in one place.
package operation

import (
	"encoding/json"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/postgres"
)

// Operation types, as Apigee reports them in metadata.operationType.
const (
	TypeInsert = "INSERT"
	TypeDelete = "DELETE"
)

// Name is the resource name of an operation.
func Name(org string, id uuid.UUID) string {
	return "organizations/" + org + "/operations/" + id.String()
}

// Finished returns a record of an operation that is already done, such as
// an environment creation, with response as its result.
func Finished(org, opType, target string, response any, responseType string) (*postgres.OperationRecord, error) {
	body, err := WithType(response, responseType)
	if err != nil {
		return nil, err
	}
	op := Pending(org, opType, target)
	op.State, op.Response = api.StateFinished, body
	return op, nil
}

// Pending returns a record of a new operation that has not started.
func Pending(org, opType, target string) *postgres.OperationRecord {
	return &postgres.OperationRecord{UUID: uuid.New(), Org: org, Type: opType, State: api.StateNotStarted, Target: target}
}

// WithType encodes v as JSON with an "@type" field, the shape of a
// google.protobuf.Any in JSON.
func WithType(v any, typeURL string) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	fields["@type"], _ = json.Marshal(typeURL)
	return json.Marshal(fields)
}

// View is the wire form of a stored operation. done is derived from state,
// so the two can never disagree.
func View(op *postgres.OperationRecord) *api.Operation {
	out := &api.Operation{
		Name: Name(op.Org, op.UUID),
		Metadata: api.OperationMetadata{
			Type:               api.OperationMetadataType,
			OperationType:      op.Type,
			State:              op.State,
			TargetResourceName: op.Target,
			Warnings:           op.Warnings,
		},
		Done: op.State == api.StateFinished,
	}
	if !out.Done {
		return out
	}
	if op.ErrorCode != nil {
		msg := ""
		if op.ErrorMessage != nil {
			msg = *op.ErrorMessage
		}
		out.Error = &api.Status{Code: *op.ErrorCode, Message: msg}
	} else {
		out.Response = op.Response
	}
	return out
}

// Status maps an error to the operation error that reports it: an
// application error keeps its message and its gRPC code; anything else is
// reported as internal, its details left to the log.
func Status(err error) *api.Status {
	return &api.Status{Code: keyplane.GRPCCode(keyplane.ErrorCode(err)), Message: keyplane.ErrorMessage(err)}
}
