package operation

import (
	"context"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/listfilter"
	"github.com/keyplane/keyplane/internal/postgres"
)

// Store is the storage the service reads; *postgres.DB implements it.
type Store interface {
	GetOperation(ctx context.Context, org string, id uuid.UUID) (*postgres.OperationRecord, error)
	ListOperations(ctx context.Context, org string, f postgres.OperationFilter, after postgres.Cursor, limit int) ([]*postgres.OperationRecord, error)
}

// Service reads operations.
type Service struct{ store Store }

// NewService returns a service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// Get returns one operation of an organization.
func (s *Service) Get(ctx context.Context, org, id string) (*api.Operation, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, keyplane.Errorf(keyplane.NotFound, "operation \"organizations/%s/operations/%s\" not found", org, keyplane.Clip(id, 64))
	}
	op, err := s.store.GetOperation(ctx, org, u)
	if err != nil {
		return nil, err
	}
	return View(op), nil
}

// List returns a page of an organization's operations, newest first.
func (s *Service) List(ctx context.Context, org string, pageSize int, pageToken string) (*api.ListOperationsResponse, error) {
	return s.ListMatching(ctx, org, "", pageSize, pageToken)
}

// FilterFields are the fields an operation list filters on (see package
// listfilter for the syntax): done, and the metadata's state, operation
// type and target resource name.
var FilterFields = []string{"done", "metadata.state", "metadata.operationType", "metadata.targetResourceName"}

// ListMatching returns one page of the organization's operations that match
// filter, newest first.
func (s *Service) ListMatching(ctx context.Context, org, filter string, pageSize int, pageToken string) (*api.ListOperationsResponse, error) {
	conds, err := listfilter.Parse(filter, FilterFields)
	if err != nil {
		return nil, err
	}
	var f postgres.OperationFilter
	for _, c := range conds {
		switch c.Field {
		case "done":
			done, err := listfilter.Bool(filter, c)
			if err != nil {
				return nil, err
			}
			f.Done = &done
		case "metadata.state":
			f.State = c.Value
		case "metadata.operationType":
			f.Type = c.Value
		case "metadata.targetResourceName":
			f.Target = c.Value
		}
	}
	ops, next, err := postgres.KeysetPage(pageSize, pageToken, true,
		func(after postgres.Cursor, limit int) ([]*postgres.OperationRecord, error) {
			return s.store.ListOperations(ctx, org, f, after, limit)
		},
		func(op *postgres.OperationRecord) postgres.Cursor {
			return postgres.Cursor{Time: op.CreatedAt, ID: op.UUID.String()}
		})
	if err != nil {
		return nil, err
	}
	out := &api.ListOperationsResponse{Operations: []api.Operation{}, NextPageToken: next}
	for _, op := range ops {
		out.Operations = append(out.Operations, *View(op))
	}
	return out, nil
}
