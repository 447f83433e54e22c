// Package keystore holds the rules for keystores, aliases and references:
// what may be uploaded, what an alias reports about its certificates, which
// changes an environment allows, and that private keys are sealed before they
// are stored and never leave the service.
//
// Storage is the Store (and Resealer, for master-key rotation) interface
// declared in this package, in the domain's types (package keyplane), and
// implemented by internal/postgres. Every service is built this way, though
// each has one implementation: the interface is the list of what the rules
// may do to the database, readable beside them, and it keeps the service
// from reaching into the SQL layer.
package keystore

import (
	"context"
	"crypto"
	"crypto/x509"
	"slices"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/certs"
	"github.com/keyplane/keyplane/internal/seal"
)

// Store is the storage of keystores, aliases and references that the
// service needs (internal/postgres implements it). It is declared here, in
// the domain's types, so that the rules can be read without the SQL.
type Store interface {
	CreateKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error)
	GetKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error)
	ListKeystores(ctx context.Context, org, env string) ([]string, error)
	DeleteKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error)

	// CreateAlias stores a new alias unless its organization already
	// holds quota aliases (quota > 0), which it reports as full.
	CreateAlias(ctx context.Context, a *keyplane.Alias, quota int) (full bool, err error)
	GetAlias(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error)
	AliasView(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error)
	ReplaceAliasCertificate(ctx context.Context, a *keyplane.Alias) error
	DeleteAlias(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error)

	CreateReference(ctx context.Context, org, env string, ref *keyplane.Reference) error
	GetReference(ctx context.Context, org, env, name string) (*keyplane.Reference, error)
	ListReferences(ctx context.Context, org, env string) ([]string, error)
	UpdateReference(ctx context.Context, org, env string, ref *keyplane.Reference) error
	DeleteReference(ctx context.Context, org, env, name string) (*keyplane.Reference, error)
}

// Service applies the rules of keystores, aliases and references.
type Service struct {
	store Store
	keys  *seal.Keyring
	now   func() time.Time
	// aliasQuota bounds each organization's aliases (see WithAliasQuota).
	aliasQuota int
}

// NewService returns a service over store that seals private keys with keys.
func NewService(store Store, keys *seal.Keyring) *Service {
	return &Service{store: store, keys: keys, now: time.Now}
}

// The exact messages Apigee answers for keystore changes in
// configurable-proxy environments.
const (
	aliasUpdateDisabled = "Alias updates are currently disabled for configurable proxy environments. " +
		"To update the certificate, create a new alias and reference it within a new archive deployment."
	referenceUpdateDisabled = "Reference updates are currently disabled for configurable proxy environments. " +
		"To update the reference, create a new reference and reference it within a new archive deployment."
)

// CreateKeystore creates an empty keystore.
func (s *Service) CreateKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error) {
	if err := keyplane.CheckName("name", name); err != nil {
		return nil, err
	}
	return s.store.CreateKeystore(ctx, org, env, name)
}

// GetKeystore returns a keystore with the names of its aliases.
func (s *Service) GetKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error) {
	return s.store.GetKeystore(ctx, org, env, name)
}

// ListKeystores returns the names of an environment's keystores.
func (s *Service) ListKeystores(ctx context.Context, org, env string) ([]string, error) {
	return s.store.ListKeystores(ctx, org, env)
}

// DeleteKeystore deletes a keystore that nothing refers to.
func (s *Service) DeleteKeystore(ctx context.Context, org, env, name string) (*keyplane.Keystore, error) {
	return s.store.DeleteKeystore(ctx, org, env, name)
}

// Upload is an alias create request, decoded from the wire.
type Upload struct {
	Alias          string
	Format         string
	CertPEM        []byte
	KeyPEM         []byte
	PKCS12         []byte
	Password       string
	SelfSigned     *keyplane.SelfSignedCertRequest
	IgnoreExpiry   bool
	IgnoreNewlines bool
}

// The alias formats the alias-create endpoint accepts in its `format`
// query parameter, as Apigee names them.
const (
	FormatKeyCertFile    = "keycertfile"
	FormatPKCS12         = "pkcs12"
	FormatSelfSignedCert = "selfsignedcert"
)

// CreateAlias parses, checks and stores an alias. Nothing is stored unless
// every check passes.
func (s *Service) CreateAlias(ctx context.Context, org, env, keystore string, up *Upload) (*keyplane.Alias, error) {
	if up.Alias == "" && up.SelfSigned != nil {
		up.Alias = up.SelfSigned.Alias
	}
	if err := keyplane.CheckName("alias", up.Alias); err != nil {
		return nil, err
	}
	opt := certs.Options{Now: s.now(), IgnoreExpiry: up.IgnoreExpiry, IgnoreNewline: up.IgnoreNewlines}
	var m *certs.Material
	var err error
	switch up.Format {
	case FormatKeyCertFile:
		if len(up.CertPEM) == 0 {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "certFile is required for format=keycertfile")
		}
		m, err = certs.ParseKeyCertFile(up.CertPEM, up.KeyPEM, up.Password, opt)
	case FormatPKCS12:
		if len(up.PKCS12) == 0 {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "file is required for format=pkcs12")
		}
		m, err = certs.ParsePKCS12(up.PKCS12, up.Password, opt)
	case FormatSelfSignedCert:
		if up.SelfSigned == nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "a JSON body is required for format=selfsignedcert")
		}
		m, err = certs.SelfSigned(*up.SelfSigned, opt)
	case "":
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "format is required: keycertfile, pkcs12 or selfsignedcert")
	default:
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "format %q is not supported: use keycertfile, pkcs12 or selfsignedcert", up.Format)
	}
	if err != nil {
		return nil, err
	}
	rec := &keyplane.Alias{Org: org, Env: env, Keystore: keystore, Name: up.Alias}
	if err := s.fill(rec, m); err != nil {
		return nil, err
	}
	full, err := s.store.CreateAlias(ctx, rec, s.aliasQuota)
	if err != nil {
		return nil, err
	}
	if full {
		return nil, errAliasQuota(org, s.aliasQuota)
	}
	return s.view(rec), nil
}

// fill sets the record's chain, certificate facts and sealed key from m.
func (s *Service) fill(rec *keyplane.Alias, m *certs.Material) error {
	s.setChain(rec, m.Chain)
	rec.Type = keyplane.AliasTypeCert
	if m.Key == nil {
		return nil
	}
	der, err := certs.MarshalKey(m.Key)
	if err != nil {
		return err
	}
	rec.KeyID, rec.KeySealed, err = s.keys.Seal(der, []byte(rec.ResourceName()))
	clear(der)
	rec.Type = keyplane.AliasTypeKeyCert
	return err
}

// setChain stores a chain in rec with the facts read from it: its PEM,
// its certsInfo and the span in which all of it is valid.
func (s *Service) setChain(rec *keyplane.Alias, chain []*x509.Certificate) {
	rec.ChainPEM = string(certs.EncodeChain(chain))
	rec.CertsInfo = certs.Info(chain, s.now())
	rec.NotBefore, rec.NotAfter = validity(chain)
}

// validity is the span in which every certificate of the chain is valid.
func validity(chain []*x509.Certificate) (notBefore, notAfter time.Time) {
	for i, c := range chain {
		if i == 0 || c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return notBefore, notAfter
}

// GetAlias returns an alias with its certificates described as of now.
func (s *Service) GetAlias(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error) {
	rec, err := s.store.AliasView(ctx, org, env, keystore, name)
	if err != nil {
		return nil, err
	}
	return s.view(rec), nil
}

// view is an alias as it is shown: its name, type and certificate facts,
// without the chain or the sealed key. isValid is computed at reading time
// because it changes while the row does not.
func (s *Service) view(rec *keyplane.Alias) *keyplane.Alias {
	now := s.now().UnixMilli()
	info := slices.Clone(rec.CertsInfo)
	for i := range info {
		info[i].IsValid = "No"
		if info[i].ValidFrom <= now && now <= info[i].ExpiryDate {
			info[i].IsValid = "Yes"
		}
	}
	return &keyplane.Alias{Org: rec.Org, Env: rec.Env, Keystore: rec.Keystore, Name: rec.Name, Type: rec.Type, CertsInfo: info}
}

// UpdateAlias replaces an alias's certificate, keeping its key. The new
// leaf must match the stored key. Configurable-proxy environments refuse,
// before the upload is even read: certFile reads it only once the update is
// allowed.
func (s *Service) UpdateAlias(ctx context.Context, org, env, keystore, name string, certFile func() ([]byte, error), ignoreExpiry, ignoreNewlines bool) (*keyplane.Alias, error) {
	rec, err := s.store.GetAlias(ctx, org, env, keystore, name)
	if err != nil {
		return nil, err
	}
	if rec.EnvProxyType == keyplane.ProxyTypeConfigurable {
		return nil, &keyplane.Error{Code: keyplane.FailedPrecondition, Message: aliasUpdateDisabled}
	}
	certPEM, err := certFile()
	if err != nil {
		return nil, err
	}
	if len(certPEM) == 0 {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "certFile is required")
	}
	key, err := s.openKey(rec)
	if err != nil {
		return nil, err
	}
	m, err := certs.ReplaceCertificate(certPEM, key, certs.Options{Now: s.now(), IgnoreExpiry: ignoreExpiry, IgnoreNewline: ignoreNewlines})
	if err != nil {
		return nil, err
	}
	s.setChain(rec, m.Chain)
	if err := s.store.ReplaceAliasCertificate(ctx, rec); err != nil {
		return nil, err
	}
	return s.view(rec), nil
}

// openKey unseals an alias's private key; nil for a certificate-only alias.
func (s *Service) openKey(rec *keyplane.Alias) (crypto.Signer, error) {
	if rec.KeySealed == nil {
		return nil, nil
	}
	return certs.OpenAliasKey(s.keys, rec)
}

// DeleteAlias deletes an alias and returns it as it was.
func (s *Service) DeleteAlias(ctx context.Context, org, env, keystore, name string) (*keyplane.Alias, error) {
	rec, err := s.store.DeleteAlias(ctx, org, env, keystore, name)
	if err != nil {
		return nil, err
	}
	return s.view(rec), nil
}

// Certificate returns an alias's chain as PEM, leaf first.
func (s *Service) Certificate(ctx context.Context, org, env, keystore, name string) ([]byte, error) {
	rec, err := s.store.GetAlias(ctx, org, env, keystore, name)
	if err != nil {
		return nil, err
	}
	return []byte(rec.ChainPEM), nil
}

// CSR returns a certificate signing request for an alias's key, with the
// subject and names of its current certificate.
func (s *Service) CSR(ctx context.Context, org, env, keystore, name string) ([]byte, error) {
	rec, err := s.store.GetAlias(ctx, org, env, keystore, name)
	if err != nil {
		return nil, err
	}
	if rec.KeySealed == nil {
		return nil, keyplane.Errorf(keyplane.FailedPrecondition,
			"alias %q holds no private key; a CSR needs one", name)
	}
	key, err := s.openKey(rec)
	if err != nil {
		return nil, err
	}
	chain, err := certs.DecodeChain([]byte(rec.ChainPEM))
	if err != nil {
		return nil, err
	}
	return certs.CSR(key, chain[0])
}
