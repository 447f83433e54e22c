// Package environment holds the rules for organizations and environments:
// their names, the proxy and deployment types an environment may have, and
// the operation that reports an environment's creation.
package environment

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/postgres"
)

// Store is the storage the service needs; *postgres.DB implements it.
type Store interface {
	CreateOrganization(ctx context.Context, org *api.Organization, op *postgres.OperationRecord, respond func(*api.Organization) (json.RawMessage, error)) error
	GetOrganization(ctx context.Context, name string) (*api.Organization, error)
	ListOrganizations(ctx context.Context) ([]string, error)
	CreateEnvironment(ctx context.Context, org string, env *api.Environment, op *postgres.OperationRecord) error
	GetEnvironment(ctx context.Context, org, name string) (*api.Environment, error)
	ListEnvironments(ctx context.Context, org string) ([]string, error)
	DeleteEnvironment(ctx context.Context, org, name string, op *postgres.OperationRecord, respond func(*api.Environment) (json.RawMessage, error)) (*api.Environment, error)
}

// Service applies the rules of organizations and environments.
type Service struct {
	store   Store
	tracker *operation.Tracker
}

// NewService returns a service over store, reporting the operations of
// environments to tracker (nil: to none).
func NewService(store Store, tracker *operation.Tracker) *Service {
	return &Service{store: store, tracker: tracker}
}

// CreateOrganization creates an organization; org is filled in with what
// was stored. parent is the Google Cloud project Apigee asks for
// (`projects/{p}`), which keyplane has no use for except as the default
// name: Apigee names an organization after its project. With a parent the
// creation is reported, as Apigee reports it, by an operation that is
// already done, which is returned; without one (keyplane's own clients)
// the operation is nil.
func (s *Service) CreateOrganization(ctx context.Context, org *api.Organization, parent string) (*api.Operation, error) {
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
	var op *postgres.OperationRecord
	if parent != "" {
		op = operation.Pending(org.Name, operation.TypeInsert, "organizations/"+org.Name)
		op.State = api.StateFinished
	}
	respond := func(o *api.Organization) (json.RawMessage, error) {
		return operation.WithType(o, api.OrganizationType)
	}
	if err := s.store.CreateOrganization(ctx, org, op, respond); err != nil {
		return nil, err
	}
	if op == nil {
		return nil, nil
	}
	return operation.View(op), nil
}

// GetOrganization returns one organization.
func (s *Service) GetOrganization(ctx context.Context, name string) (*api.Organization, error) {
	return s.store.GetOrganization(ctx, name)
}

// ListOrganizations returns the names of every organization.
func (s *Service) ListOrganizations(ctx context.Context) ([]string, error) {
	return s.store.ListOrganizations(ctx)
}

// EnvironmentType is the @type of an environment in an operation response.
const EnvironmentType = "type.googleapis.com/google.cloud.apigee.v1.Environment"

// CreateEnvironment creates an environment and returns the operation that
// reports it, finished at once as Apigee's own is for an empty environment.
// Types default to PROXY deployments of PROGRAMMABLE proxies.
func (s *Service) CreateEnvironment(ctx context.Context, org string, env *api.Environment) (*api.Operation, error) {
	if err := keyplane.CheckName("name", env.Name); err != nil {
		return nil, err
	}
	switch env.DeploymentType {
	case "", "DEPLOYMENT_TYPE_UNSPECIFIED":
		env.DeploymentType = api.DeploymentTypeProxy
	case api.DeploymentTypeProxy, api.DeploymentTypeArchive:
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "deploymentType %q is invalid: use PROXY or ARCHIVE", env.DeploymentType)
	}
	switch env.APIProxyType {
	case "", "API_PROXY_TYPE_UNSPECIFIED":
		env.APIProxyType = api.ProxyTypeProgrammable
	case api.ProxyTypeProgrammable, api.ProxyTypeConfigurable:
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "apiProxyType %q is invalid: use PROGRAMMABLE or CONFIGURABLE", env.APIProxyType)
	}
	started := time.Now()
	env.CreatedAt = started.UnixMilli()
	env.LastModifiedAt = env.CreatedAt
	target := keyplane.EnvName(org, env.Name)
	op, err := operation.Finished(org, operation.TypeInsert, target, env, EnvironmentType)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateEnvironment(ctx, org, env, op); err != nil {
		return nil, err
	}
	s.tracker.Finished(ctx, operation.Name(org, op.UUID), operation.KindEnvironmentCreate, started)
	return operation.View(op), nil
}

// GetEnvironment returns one environment.
func (s *Service) GetEnvironment(ctx context.Context, org, name string) (*api.Environment, error) {
	return s.store.GetEnvironment(ctx, org, name)
}

// ListEnvironments returns the names of an organization's environments.
func (s *Service) ListEnvironments(ctx context.Context, org string) ([]string, error) {
	return s.store.ListEnvironments(ctx, org)
}

// DeleteEnvironment deletes an empty environment and returns the finished
// operation that reports it, as Apigee does.
func (s *Service) DeleteEnvironment(ctx context.Context, org, name string) (*api.Operation, error) {
	started := time.Now()
	target := keyplane.EnvName(org, name)
	op := operation.Pending(org, operation.TypeDelete, target)
	op.State = api.StateFinished
	respond := func(env *api.Environment) (json.RawMessage, error) {
		return operation.WithType(env, EnvironmentType)
	}
	if _, err := s.store.DeleteEnvironment(ctx, org, name, op, respond); err != nil {
		return nil, err
	}
	s.tracker.Finished(ctx, operation.Name(org, op.UUID), operation.KindEnvironmentDelete, started)
	return operation.View(op), nil
}
