package operation

import (
	"context"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/postgres"
)

// Store is the storage the service reads; *postgres.DB implements it.
type Store interface {
	GetOperation(ctx context.Context, org string, id uuid.UUID) (*postgres.OperationRecord, error)
	ListOperations(ctx context.Context, org string, after postgres.Cursor, limit int) ([]*postgres.OperationRecord, error)
}

// Service reads operations.
type Service struct{ store Store }

// NewService returns a service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// Get returns one operation of an organization.
func (s *Service) Get(ctx context.Context, org, id string) (*api.Operation, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, keyplane.Errorf(keyplane.NotFound, "operation \"organizations/%s/operations/%s\" not found", org, truncate(id))
	}
	op, err := s.store.GetOperation(ctx, org, u)
	if err != nil {
		return nil, err
	}
	return View(op), nil
}

// Page sizes of lists: the default and the most one page may hold.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageSize checks a requested page size, 0 meaning the default.
func PageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0:
		return 0, keyplane.Errorf(keyplane.InvalidArgument, "pageSize must not be negative")
	case n > MaxPageSize:
		return MaxPageSize, nil
	default:
		return n, nil
	}
}

// List returns a page of an organization's operations, newest first.
func (s *Service) List(ctx context.Context, org string, pageSize int, pageToken string) (*api.ListOperationsResponse, error) {
	size, err := PageSize(pageSize)
	if err != nil {
		return nil, err
	}
	after, err := postgres.ParseCursor(pageToken)
	if err != nil {
		return nil, err
	}
	ops, err := s.store.ListOperations(ctx, org, after, size+1)
	if err != nil {
		return nil, err
	}
	out := &api.ListOperationsResponse{Operations: []api.Operation{}}
	for i, op := range ops {
		if i == size {
			last := ops[size-1]
			out.NextPageToken = postgres.Cursor{Time: last.CreatedAt, ID: last.UUID.String()}.Token()
			break
		}
		out.Operations = append(out.Operations, *View(op))
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
