package operation

import (
	"context"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/listfilter"
)

// Store is the storage of operations the service reads (internal/postgres
// implements it), declared here in the domain's types.
type Store interface {
	GetOperation(ctx context.Context, org string, id uuid.UUID) (*keyplane.Operation, error)
	ListOperations(ctx context.Context, org string, f keyplane.OperationFilter, after keyplane.Cursor, limit int) ([]*keyplane.Operation, error)
}

// Service reads operations.
type Service struct{ store Store }

// NewService returns a service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// Get returns one operation of an organization.
func (s *Service) Get(ctx context.Context, org, id string) (*keyplane.Operation, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, keyplane.Errorf(keyplane.NotFound, "operation \"organizations/%s/operations/%s\" not found", org, keyplane.Clip(id, 64))
	}
	return s.store.GetOperation(ctx, org, u)
}

// List returns a page of an organization's operations, newest first.
func (s *Service) List(ctx context.Context, org string, pageSize int, pageToken string) ([]*keyplane.Operation, string, error) {
	return s.ListMatching(ctx, org, "", pageSize, pageToken)
}

// FilterFields are the fields an operation list filters on (see package
// listfilter for the syntax): done, and the metadata's state, operation
// type and target resource name.
var FilterFields = []string{"done", "metadata.state", "metadata.operationType", "metadata.targetResourceName"}

// ListMatching returns one page of the organization's operations that match
// filter, newest first.
// It returns the token of the next page too, empty on the last.
func (s *Service) ListMatching(ctx context.Context, org, filter string, pageSize int, pageToken string) ([]*keyplane.Operation, string, error) {
	conds, err := listfilter.Parse(filter, FilterFields)
	if err != nil {
		return nil, "", err
	}
	var f keyplane.OperationFilter
	for _, c := range conds {
		switch c.Field {
		case "done":
			done, err := listfilter.Bool(filter, c)
			if err != nil {
				return nil, "", err
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
	return keyplane.KeysetPage(pageSize, pageToken, true,
		func(after keyplane.Cursor, limit int) ([]*keyplane.Operation, error) {
			return s.store.ListOperations(ctx, org, f, after, limit)
		},
		func(op *keyplane.Operation) keyplane.Cursor {
			return keyplane.Cursor{Time: op.CreatedAt, ID: op.UUID.String()}
		})
}
