package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"strings"

	"github.com/keyplane/keyplane"
)

// Material is the TLS material an SSLInfo names, already resolved by the
// caller.
type Material struct {
	// Certificate is the key alias's certificate chain (leaf first) with its
	// private key, presented when client authentication is on; nil when the
	// settings name no key alias.
	Certificate *tls.Certificate
	// Roots are the certificates of the truststore the settings name; empty
	// when none.
	Roots []*x509.Certificate
}

// Config builds the client TLS configuration for reaching host (used for SNI
// and host-name checks) with the SSLInfo t; a nil t is TLS with every
// setting at its default. Invalid settings (unknown protocol or cipher name,
// client authentication without a certificate) are a *keyplane.Error
// InvalidArgument naming the field. The package documentation gives the
// rules.
func Config(t *keyplane.SSLInfo, host string, m Material) (*tls.Config, error) {
	if t == nil {
		t = &keyplane.SSLInfo{}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "host: the target's host name is required for TLS")
	}
	minV, maxV, err := versions(t.Protocols)
	if err != nil {
		return nil, err
	}
	suites, err := cipherSuites(t.Ciphers)
	if err != nil {
		return nil, err
	}
	cert, err := clientCertificate(t, m)
	if err != nil {
		return nil, err
	}
	v := &verifier{host: host}
	if t.CommonName != nil && t.CommonName.Value != "" {
		v.commonName = t.CommonName
	}
	switch {
	case t.Enforce:
		v.chain, v.identity = true, true
		if len(m.Roots) > 0 {
			v.roots = pool(m.Roots)
		}
	case len(m.Roots) > 0:
		v.chain, v.identity = !t.IgnoreValidationErrors, true
		v.roots = pool(m.Roots)
	default:
		// Nothing to verify a chain against; the name is still checked
		// when the settings ask for it: a commonName, or
		// ignoreValidationErrors, which skips chain checks but never the
		// host name.
		v.identity = v.commonName != nil || t.IgnoreValidationErrors
	}
	cfg := &tls.Config{
		ServerName: host,
		// Go's own verification cannot express these rules (no system
		// roots without enforce, chain checks skipped but not the host
		// name); verify does it all, inside the handshake.
		InsecureSkipVerify: true,
		VerifyConnection:   v.verify,
		MinVersion:         minV,
		MaxVersion:         maxV,
		CipherSuites:       suites,
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg, nil
}

// pool is a certificate pool of certs.
func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// protocolVersions are the names protocols accepts (lower case) and the
// versions they stand for.
var protocolVersions = map[string]uint16{
	"tlsv1": tls.VersionTLS10, "tlsv1.0": tls.VersionTLS10, "1.0": tls.VersionTLS10,
	"tlsv1.1": tls.VersionTLS11, "1.1": tls.VersionTLS11,
	"tlsv1.2": tls.VersionTLS12, "1.2": tls.VersionTLS12,
	"tlsv1.3": tls.VersionTLS13, "1.3": tls.VersionTLS13,
}

// versions returns the lowest and highest version protocols lists, both 0
// (Go's defaults) when it lists none. Versions below TLS 1.2 are never
// enabled: a list of only those gives a range no handshake can satisfy.
func versions(protocols []string) (minV, maxV uint16, err error) {
	for _, p := range protocols {
		v, ok := protocolVersions[strings.ToLower(strings.TrimSpace(p))]
		if !ok {
			return 0, 0, keyplane.Errorf(keyplane.InvalidArgument,
				"sSLInfo.protocols: unknown protocol %q: use TLSv1.2 or TLSv1.3", keyplane.Clip(p, 64))
		}
		if minV == 0 || v < minV {
			minV = v
		}
		if v > maxV {
			maxV = v
		}
	}
	if maxV == 0 {
		return 0, 0, nil
	}
	return max(minV, tls.VersionTLS12), maxV, nil
}

// cipherSuiteIDs are the IANA names of the cipher suites crypto/tls
// implements, secure or not, as deployment validation knows them.
var cipherSuiteIDs = func() map[string]uint16 {
	ids := map[string]uint16{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids[c.Name] = c.ID
	}
	return ids
}()

// cipherSuites returns the suites ciphers names, nil (Go's defaults) when it
// names none.
func cipherSuites(ciphers []string) ([]uint16, error) {
	var ids []uint16
	for _, c := range ciphers {
		id, ok := cipherSuiteIDs[strings.TrimSpace(c)]
		if !ok {
			return nil, keyplane.Errorf(keyplane.InvalidArgument,
				"sSLInfo.ciphers: unknown cipher suite %q: use an IANA name such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", keyplane.Clip(c, 64))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// clientCertificate returns the certificate to present, nil when client
// authentication does not apply: it applies when clientAuthEnabled is set,
// which is what enables two-way TLS; a keyAlias named without it is not
// presented.
func clientCertificate(t *keyplane.SSLInfo, m Material) (*tls.Certificate, error) {
	if !t.ClientAuthEnabled {
		return nil, nil
	}
	c := m.Certificate
	switch {
	case t.KeyAlias == "":
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "sSLInfo.keyAlias: keyAlias is required for client authentication")
	case c == nil || len(c.Certificate) == 0 || c.PrivateKey == nil:
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"sSLInfo.keyAlias: client authentication needs the certificate and private key of key alias %q, and none was given", keyplane.Clip(t.KeyAlias, 64))
	}
	return c, nil
}
