package keystore

import (
	"context"

	"github.com/keyplane/keyplane"
)

// checkReference validates the fields of a reference write.
func checkReference(ref *keyplane.Reference) error {
	if err := keyplane.CheckName("name", ref.Name); err != nil {
		return err
	}
	switch ref.ResourceType {
	case keyplane.ResourceTypeKeyStore, keyplane.ResourceTypeTrustStore:
	case "":
		return keyplane.Errorf(keyplane.InvalidArgument, "resourceType is required: KeyStore or TrustStore")
	default:
		return keyplane.Errorf(keyplane.InvalidArgument, "resourceType %q is invalid: use KeyStore or TrustStore", ref.ResourceType)
	}
	if ref.Refers == "" {
		return keyplane.Errorf(keyplane.InvalidArgument, "refers is required: the name of a keystore of the same environment")
	}
	return keyplane.CheckName("refers", ref.Refers)
}

// CreateReference creates a reference to an existing keystore.
func (s *Service) CreateReference(ctx context.Context, org, env string, ref *keyplane.Reference) (*keyplane.Reference, error) {
	if err := checkReference(ref); err != nil {
		return nil, err
	}
	if err := s.store.CreateReference(ctx, org, env, ref); err != nil {
		return nil, err
	}
	return ref, nil
}

// GetReference returns one reference.
func (s *Service) GetReference(ctx context.Context, org, env, name string) (*keyplane.Reference, error) {
	ref, err := s.store.GetReference(ctx, org, env, name)
	if err != nil {
		return nil, err
	}
	ref.EnvProxyType = ""
	return ref, nil
}

// ListReferences returns the names of an environment's references.
func (s *Service) ListReferences(ctx context.Context, org, env string) ([]string, error) {
	return s.store.ListReferences(ctx, org, env)
}

// UpdateReference re-points a reference. Configurable-proxy environments
// refuse: there a change is a new reference in a new deployment.
func (s *Service) UpdateReference(ctx context.Context, org, env, name string, ref *keyplane.Reference) (*keyplane.Reference, error) {
	if ref.Name == "" {
		ref.Name = name
	}
	if ref.Name != name {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "name %q does not match the reference %q in the URL; a reference cannot be renamed", ref.Name, name)
	}
	// The environment's rule comes first: in a configurable environment no
	// update is possible, so the caller learns that before any detail of
	// the body.
	cur, err := s.store.GetReference(ctx, org, env, name)
	if err != nil {
		return nil, err
	}
	if cur.EnvProxyType == keyplane.ProxyTypeConfigurable {
		return nil, &keyplane.Error{Code: keyplane.FailedPrecondition, Message: referenceUpdateDisabled}
	}
	if err := checkReference(ref); err != nil {
		return nil, err
	}
	if err := s.store.UpdateReference(ctx, org, env, ref); err != nil {
		return nil, err
	}
	return ref, nil
}

// DeleteReference deletes a reference and returns it as it was.
func (s *Service) DeleteReference(ctx context.Context, org, env, name string) (*keyplane.Reference, error) {
	return s.store.DeleteReference(ctx, org, env, name)
}
