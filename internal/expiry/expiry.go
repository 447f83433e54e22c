// Package expiry makes certificate expiry hard to miss: the organization's
// expiry view (every certificate of every alias, soonest expiry first, with
// what uses it) and the Prometheus gauge of each alias's expiry.
package expiry

import (
	"context"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

// Store is the storage the expiry view reads; *postgres.DB implements it.
type Store interface {
	ListCertificates(ctx context.Context, org string, before time.Time, after keyplane.Cursor, limit int) ([]*keyplane.Certificate, error)
}

// Service answers the expiry view.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a service over store.
func NewService(store Store) *Service { return &Service{store: store, now: time.Now} }

// List returns a page of an organization's certificates, soonest expiry
// first. expiringWithin, when not empty, keeps those that expire within
// that window from now (expired ones included); it takes what
// api.ParseWithin reads.
func (s *Service) List(ctx context.Context, org, expiringWithin string, pageSize int, pageToken string) (*api.ListCertificatesResponse, error) {
	now := s.now()
	var before time.Time
	if expiringWithin != "" {
		within, err := api.ParseWithin(expiringWithin)
		if err != nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "expiringWithin %q is invalid: %v", keyplane.Clip(expiringWithin, 64), err)
		}
		before = now.Add(within)
	}
	certs, next, err := keyplane.KeysetPage(pageSize, pageToken, false,
		func(after keyplane.Cursor, limit int) ([]*keyplane.Certificate, error) {
			return s.store.ListCertificates(ctx, org, before, after, limit)
		},
		(*keyplane.Certificate).Cursor)
	if err != nil {
		return nil, err
	}
	out := &api.ListCertificatesResponse{Certificates: []api.CertificateExpiry{}, NextPageToken: next}
	for _, c := range certs {
		out.Certificates = append(out.Certificates, view(org, c, now))
	}
	return out, nil
}

// view is the wire form of a certificate of the expiry view, as of now.
func view(org string, c *keyplane.Certificate, now time.Time) api.CertificateExpiry {
	env := keyplane.EnvName(org, c.Env)
	used := api.CertificateUsers{Deployments: []string{}, References: []string{}}
	for _, d := range c.Deployments {
		used.Deployments = append(used.Deployments, env+"/archiveDeployments/"+d)
	}
	for _, r := range c.References {
		used.References = append(used.References, env+"/references/"+r)
	}
	return api.CertificateExpiry{
		Name:         env + "/keystores/" + c.Keystore + "/aliases/" + c.Alias,
		Environment:  c.Env,
		Keystore:     c.Keystore,
		Alias:        c.Alias,
		Index:        c.Index,
		Subject:      c.Subject,
		Issuer:       c.Issuer,
		SerialNumber: c.SerialNumber,
		ExpiryDate:   c.NotAfter.UnixMilli(),
		DaysLeft:     api.DaysLeft(now, c.NotAfter),
		Expired:      now.After(c.NotAfter),
		UsedBy:       used,
		InUse:        len(used.Deployments) > 0 || len(used.References) > 0,
	}
}
