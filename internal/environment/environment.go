// Package environment holds the rules for organizations and environments:
// their names, the proxy and deployment types an environment may have, and
// the operation that reports an environment's creation.
//
// Storage is the Store interface declared in this package, in the domain's
// types (package keyplane), and implemented by internal/postgres. Every
// service is built this way, though each has one implementation: the
// interface is the list of what the rules may do to the database, readable
// beside them, and it keeps the service from reaching into the SQL layer.
package environment

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/operation"
)

// Store is the storage of organizations and environments the service
// needs (internal/postgres implements it), declared here in the domain's
// types. Creations and deletions record their operation in the same
// transaction, so a client never sees one without the other.
type Store interface {
	CreateOrganization(ctx context.Context, org *keyplane.Organization, op *keyplane.Operation, respond func(*keyplane.Organization) (json.RawMessage, error)) error
	GetOrganization(ctx context.Context, name string) (*keyplane.Organization, error)
	ListOrganizations(ctx context.Context) ([]string, error)
	CreateEnvironment(ctx context.Context, org string, env *keyplane.Environment, op *keyplane.Operation) error
	GetEnvironment(ctx context.Context, org, name string) (*keyplane.Environment, error)
	ListEnvironments(ctx context.Context, org string) ([]string, error)
	DeleteEnvironment(ctx context.Context, org, name string, op *keyplane.Operation, respond func(*keyplane.Environment) (json.RawMessage, error)) (*keyplane.Environment, error)
}

// Service applies the rules of organizations and environments.
type Service struct {
	store   Store
	tracker *operation.Tracker
	encode  operation.Encoder
}

// NewService returns a service over store, reporting the operations of
// environments to tracker (nil: to none), with their responses encoded by
// encode.
func NewService(store Store, tracker *operation.Tracker, encode operation.Encoder) *Service {
	return &Service{store: store, tracker: tracker, encode: encode}
}

// CreateOrganization creates an organization; org is filled in with what
// was stored. parent is the Google Cloud project Apigee asks for
// (`projects/{p}`), which keyplane has no use for except as the default
// name: Apigee names an organization after its project. With a parent the
// creation is reported, as Apigee reports it, by an operation that is
// already done, which is returned; without one (keyplane's own clients)
// the operation is nil.
func (s *Service) CreateOrganization(ctx context.Context, org *keyplane.Organization, parent string) (*keyplane.Operation, error) {
	if parent != "" {
		project, ok := strings.CutPrefix(parent, "projects/")
		if !ok || project == "" || strings.Contains(project, "/") {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "parent %.100q is invalid: use projects/{project}", parent)
		}
		if org.Name == "" {
			org.Name = project
		}
	}
	if err := keyplane.CheckName("name", org.Name); err != nil {
		return nil, err
	}
	var op *keyplane.Operation
	if parent != "" {
		op = operation.Pending(org.Name, operation.TypeInsert, "organizations/"+org.Name)
		op.State = keyplane.StateFinished
	}
	respond := func(o *keyplane.Organization) (json.RawMessage, error) { return s.encode(o) }
	if err := s.store.CreateOrganization(ctx, org, op, respond); err != nil {
		return nil, err
	}
	return op, nil
}

// GetOrganization returns one organization.
func (s *Service) GetOrganization(ctx context.Context, name string) (*keyplane.Organization, error) {
	return s.store.GetOrganization(ctx, name)
}

// ListOrganizations returns the names of every organization.
func (s *Service) ListOrganizations(ctx context.Context) ([]string, error) {
	return s.store.ListOrganizations(ctx)
}

// CreateEnvironment creates an environment and returns the operation that
// reports it, finished at once as Apigee's own is for an empty environment.
// Types default to PROXY deployments of PROGRAMMABLE proxies.
func (s *Service) CreateEnvironment(ctx context.Context, org string, env *keyplane.Environment) (*keyplane.Operation, error) {
	if err := keyplane.CheckName("name", env.Name); err != nil {
		return nil, err
	}
	switch env.DeploymentType {
	case "", "DEPLOYMENT_TYPE_UNSPECIFIED":
		env.DeploymentType = keyplane.DeploymentTypeProxy
	case keyplane.DeploymentTypeProxy, keyplane.DeploymentTypeArchive:
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "deploymentType %q is invalid: use PROXY or ARCHIVE", env.DeploymentType)
	}
	switch env.APIProxyType {
	case "", "API_PROXY_TYPE_UNSPECIFIED":
		env.APIProxyType = keyplane.ProxyTypeProgrammable
	case keyplane.ProxyTypeProgrammable, keyplane.ProxyTypeConfigurable:
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "apiProxyType %q is invalid: use PROGRAMMABLE or CONFIGURABLE", env.APIProxyType)
	}
	started := time.Now()
	// Times are kept to the millisecond the wire shows, so that the
	// environment reads back as its creation reported it.
	env.CreatedAt = started.Truncate(time.Millisecond)
	env.LastModifiedAt = env.CreatedAt
	target := keyplane.EnvName(org, env.Name)
	response, err := s.encode(env)
	if err != nil {
		return nil, err
	}
	op := operation.Finished(org, operation.TypeInsert, target, response)
	if err := s.store.CreateEnvironment(ctx, org, env, op); err != nil {
		return nil, err
	}
	s.tracker.Finished(ctx, op.ResourceName(), operation.KindEnvironmentCreate, started)
	return op, nil
}

// GetEnvironment returns one environment.
func (s *Service) GetEnvironment(ctx context.Context, org, name string) (*keyplane.Environment, error) {
	return s.store.GetEnvironment(ctx, org, name)
}

// ListEnvironments returns the names of an organization's environments.
func (s *Service) ListEnvironments(ctx context.Context, org string) ([]string, error) {
	return s.store.ListEnvironments(ctx, org)
}

// DeleteEnvironment deletes an empty environment and returns the finished
// operation that reports it, as Apigee does.
func (s *Service) DeleteEnvironment(ctx context.Context, org, name string) (*keyplane.Operation, error) {
	started := time.Now()
	target := keyplane.EnvName(org, name)
	op := operation.Pending(org, operation.TypeDelete, target)
	op.State = keyplane.StateFinished
	respond := func(env *keyplane.Environment) (json.RawMessage, error) { return s.encode(env) }
	if _, err := s.store.DeleteEnvironment(ctx, org, name, op, respond); err != nil {
		return nil, err
	}
	s.tracker.Finished(ctx, op.ResourceName(), operation.KindEnvironmentDelete, started)
	return op, nil
}
