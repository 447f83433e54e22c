// Package targetserver holds the rules for an environment's own target
// servers: the backends proxies reach, with the TLS settings to reach them.
// Their TLS settings are validated at create and update with the checks and
// texts of a deployment (see internal/archive): the keystore, key alias and
// truststore they name must exist and hold valid certificates.
//
// Storage is the Store interface declared in this package, in the domain's
// types (package keyplane), and implemented by internal/postgres. Every
// service is built this way, though each has one implementation: the
// interface is the list of what the rules may do to the database, readable
// beside them, and it keeps the service from reaching into the SQL layer.
package targetserver

import (
	"context"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
)

// Store is the storage of target servers the service needs
// (internal/postgres implements it), declared here in the domain's types.
// ReadTLS runs fn over a reader of the environment's TLS material (T), in
// one transaction, the way a deployment reads it.
type Store[T archive.TLSSource] interface {
	CreateTargetServer(ctx context.Context, org, env string, ts *keyplane.TargetServer) error
	GetTargetServer(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error)
	ListTargetServers(ctx context.Context, org, env string) ([]string, error)
	UpdateTargetServer(ctx context.Context, org, env string, ts *keyplane.TargetServer) error
	DeleteTargetServer(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error)
	ReadTLS(ctx context.Context, fn func(T) error) error
}

// Service applies the rules of target servers.
type Service struct {
	store store
	// readTLS is store's ReadTLS with the reader seen as an
	// archive.TLSSource, whatever its type.
	readTLS func(ctx context.Context, fn func(archive.TLSSource) error) error
	now     func() time.Time
}

// store is Store without its reader's type.
type store interface {
	CreateTargetServer(ctx context.Context, org, env string, ts *keyplane.TargetServer) error
	GetTargetServer(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error)
	ListTargetServers(ctx context.Context, org, env string) ([]string, error)
	UpdateTargetServer(ctx context.Context, org, env string, ts *keyplane.TargetServer) error
	DeleteTargetServer(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error)
}

// NewService returns a service over s; T, the type of its TLS reader, is
// inferred from s.
func NewService[T archive.TLSSource](s Store[T]) *Service {
	return &Service{store: s, now: time.Now,
		readTLS: func(ctx context.Context, fn func(archive.TLSSource) error) error {
			return s.ReadTLS(ctx, func(tx T) error { return fn(tx) })
		}}
}

// checkTLS validates a target server's TLS settings against its
// environment's references and TLS material, as a deployment would.
func (s *Service) checkTLS(ctx context.Context, org, env string, ts *keyplane.TargetServer) error {
	if ts.SSLInfo == nil || !ts.SSLInfo.Enabled {
		return nil
	}
	return s.readTLS(ctx, func(tx archive.TLSSource) error {
		snap, _, err := archive.LoadSnapshot(ctx, tx, org, env, archive.TargetServerBundle(*ts), s.now())
		if err != nil {
			return err
		}
		_, err = archive.CheckTargetServer(*ts, snap)
		return err
	})
}

// protocols are the target server protocols Apigee knows.
var protocols = map[string]bool{"": true, "HTTP": true, "HTTP2": true, "GRPC": true, "GRPC_TARGET": true, "EXTERNAL_CALLOUT": true}

// check validates a target server's fields and fills defaults.
func check(ts *keyplane.TargetServer) error {
	if err := keyplane.CheckName("name", ts.Name); err != nil {
		return err
	}
	if ts.Host == "" {
		return keyplane.Errorf(keyplane.InvalidArgument, "host is required")
	}
	if len(ts.Host) > 253 {
		return keyplane.Errorf(keyplane.InvalidArgument, "host is longer than 253 characters")
	}
	if ts.Port < 1 || ts.Port > 65535 {
		return keyplane.Errorf(keyplane.InvalidArgument, "port %d is invalid: it must be between 1 and 65535", ts.Port)
	}
	if !protocols[ts.Protocol] {
		return keyplane.Errorf(keyplane.InvalidArgument, "protocol %q is invalid: use HTTP, HTTP2, GRPC, GRPC_TARGET or EXTERNAL_CALLOUT", ts.Protocol)
	}
	if ts.Protocol == "" {
		ts.Protocol = "HTTP"
	}
	if ts.IsEnabled == nil {
		enabled := true
		ts.IsEnabled = &enabled
	}
	return nil
}

// Create creates a target server.
func (s *Service) Create(ctx context.Context, org, env string, ts *keyplane.TargetServer) (*keyplane.TargetServer, error) {
	if err := check(ts); err != nil {
		return nil, err
	}
	if err := s.checkTLS(ctx, org, env, ts); err != nil {
		return nil, err
	}
	if err := s.store.CreateTargetServer(ctx, org, env, ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// Get returns one target server.
func (s *Service) Get(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error) {
	return s.store.GetTargetServer(ctx, org, env, name)
}

// List returns the names of an environment's target servers.
func (s *Service) List(ctx context.Context, org, env string) ([]string, error) {
	return s.store.ListTargetServers(ctx, org, env)
}

// Update replaces a target server; it cannot be renamed.
func (s *Service) Update(ctx context.Context, org, env, name string, ts *keyplane.TargetServer) (*keyplane.TargetServer, error) {
	if ts.Name == "" {
		ts.Name = name
	}
	if ts.Name != name {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "name %q does not match the target server %q in the URL; a target server cannot be renamed", ts.Name, name)
	}
	if err := check(ts); err != nil {
		return nil, err
	}
	if err := s.checkTLS(ctx, org, env, ts); err != nil {
		return nil, err
	}
	if err := s.store.UpdateTargetServer(ctx, org, env, ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// Delete deletes a target server and returns it as it was.
func (s *Service) Delete(ctx context.Context, org, env, name string) (*keyplane.TargetServer, error) {
	return s.store.DeleteTargetServer(ctx, org, env, name)
}
