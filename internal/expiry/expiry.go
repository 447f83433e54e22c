// Package expiry makes certificate expiry hard to miss: the organization's
// expiry view (every certificate of every alias, soonest expiry first, with
// what uses it) and the Prometheus gauge of each alias's expiry.
//
// Storage is the Store (and Source, for the gauge) interface declared in
// this package, in the domain's types (package keyplane), and implemented by
// internal/postgres. Every service is built this way, though each has one
// implementation: the interface is the list of what the rules may do to the
// database, readable beside them, and it keeps the service from reaching
// into the SQL layer.
package expiry

import (
	"context"
	"time"

	"github.com/keyplane/keyplane"
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

// Page is one page of the expiry view, as of Now: whether a certificate
// has expired, and how many days it has left, are read at that instant.
type Page struct {
	Certificates []*keyplane.Certificate
	// NextPageToken is the token of the next page, empty on the last.
	NextPageToken string
	Now           time.Time
}

// List returns a page of an organization's certificates, soonest expiry
// first. within, when not nil, keeps those that expire within that window
// from now (expired ones included).
func (s *Service) List(ctx context.Context, org string, within *time.Duration, pageSize int, pageToken string) (*Page, error) {
	now := s.now()
	var before time.Time
	if within != nil {
		before = now.Add(*within)
	}
	certs, next, err := keyplane.KeysetPage(pageSize, pageToken, false,
		func(after keyplane.Cursor, limit int) ([]*keyplane.Certificate, error) {
			return s.store.ListCertificates(ctx, org, before, after, limit)
		},
		(*keyplane.Certificate).Cursor)
	if err != nil {
		return nil, err
	}
	return &Page{Certificates: certs, NextPageToken: next, Now: now}, nil
}
