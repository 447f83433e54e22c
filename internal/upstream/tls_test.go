package upstream_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/upstream"
)

// TestServerCertificate_Rules runs the server certificate rules of SSLInfo
// against real backends, each presenting one kind of certificate.
func TestServerCertificate_Rules(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	otherRoot := testcerts.New(t, testcerts.Options{CommonName: "Other Root CA", IsCA: true})
	selfSigned := testcerts.New(t, testcerts.Options{CommonName: backendHost, DNSNames: []string{backendHost}})
	certs := map[string]tls.Certificate{
		"good":            p.serverCert(p.leaf),
		"expired":         p.serverCert(p.serverLeaf(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}, NotBefore: past.Add(-time.Hour), NotAfter: past})),
		"notYetValid":     p.serverCert(p.serverLeaf(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}, NotBefore: future})),
		"otherCA":         testcerts.New(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}, Parent: otherRoot}).TLS(),
		"selfSigned":      selfSigned.TLS(),
		"otherCAWithRoot": testcerts.New(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}, Parent: otherRoot}).TLS(otherRoot),
		"clientOnly":      p.serverCert(p.serverLeaf(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})),
		"otherHost":       p.serverCert(p.serverLeaf(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{"other.test"}})),
	}
	backends := map[string]*backend{}
	for name, cert := range certs {
		backends[name] = tlsBackend(t, cert, nil)
	}
	truststore := trusting(p.root)
	none := upstream.Material{}
	verifyFailed := func(problem string) string { return tlsFailure(problem + ":CERTIFICATE_VERIFY_FAILED") }

	tests := []struct {
		name     string
		backend  string
		settings keyplane.SSLInfo
		material upstream.Material
		want     string // failure body; "" means the backend answers
	}{
		{"truststore/good", "good", keyplane.SSLInfo{}, truststore, ""},
		{"truststore/expired", "expired", keyplane.SSLInfo{}, truststore, verifyFailed("certificate has expired")},
		{"truststore/notYetValid", "notYetValid", keyplane.SSLInfo{}, truststore, verifyFailed("certificate is not yet valid")},
		{"truststore/otherCA", "otherCA", keyplane.SSLInfo{}, truststore, verifyFailed("unable to get local issuer certificate")},
		{"truststore/selfSigned", "selfSigned", keyplane.SSLInfo{}, truststore, verifyFailed("self-signed certificate")},
		{"truststore/otherHost", "otherHost", keyplane.SSLInfo{}, truststore, verifyFailed("hostname mismatch")},
		{"truststore/otherCAWithRoot", "otherCAWithRoot", keyplane.SSLInfo{}, truststore, verifyFailed("self-signed certificate in certificate chain")},
		{"truststore/clientOnly", "clientOnly", keyplane.SSLInfo{}, truststore, verifyFailed("unsupported certificate purpose")},
		// The system's roots are never consulted without enforce: a truststore
		// that lacks the root refuses the chain.
		{"truststore/otherRoot", "good", keyplane.SSLInfo{}, trusting(otherRoot), verifyFailed("unable to get local issuer certificate")},
		// A self-signed certificate that the truststore holds is trusted.
		{"truststore/selfSignedTrusted", "selfSigned", keyplane.SSLInfo{}, trusting(selfSigned), ""},
		{"truststore/selfSignedTrusted/enforce", "selfSigned", keyplane.SSLInfo{Enforce: true}, trusting(selfSigned), ""},

		{"ignoreValidationErrors/expired", "expired", keyplane.SSLInfo{IgnoreValidationErrors: true}, truststore, ""},
		{"ignoreValidationErrors/notYetValid", "notYetValid", keyplane.SSLInfo{IgnoreValidationErrors: true}, truststore, ""},
		{"ignoreValidationErrors/otherCA", "otherCA", keyplane.SSLInfo{IgnoreValidationErrors: true}, truststore, ""},
		{"ignoreValidationErrors/selfSigned", "selfSigned", keyplane.SSLInfo{IgnoreValidationErrors: true}, truststore, ""},
		{"ignoreValidationErrors/otherHost", "otherHost", keyplane.SSLInfo{IgnoreValidationErrors: true}, truststore, verifyFailed("hostname mismatch")},

		{"enforce/good", "good", keyplane.SSLInfo{Enforce: true}, truststore, ""},
		{"enforce/expired", "expired", keyplane.SSLInfo{Enforce: true, IgnoreValidationErrors: true}, truststore, verifyFailed("certificate has expired")},
		{"enforce/otherCA", "otherCA", keyplane.SSLInfo{Enforce: true, IgnoreValidationErrors: true}, truststore, verifyFailed("unable to get local issuer certificate")},
		{"enforce/selfSigned", "selfSigned", keyplane.SSLInfo{Enforce: true, IgnoreValidationErrors: true}, truststore, verifyFailed("self-signed certificate")},
		{"enforce/otherHost", "otherHost", keyplane.SSLInfo{Enforce: true, IgnoreValidationErrors: true}, truststore, verifyFailed("hostname mismatch")},
		// Without a truststore, enforce verifies against the system's roots,
		// which do not hold the test root.
		{"enforce/systemRoots", "good", keyplane.SSLInfo{Enforce: true}, none, verifyFailed("unable to get local issuer certificate")},

		// Without a truststore nor enforce, nothing is validated, as in Apigee.
		{"noTruststore/good", "good", keyplane.SSLInfo{}, none, ""},
		{"noTruststore/expired", "expired", keyplane.SSLInfo{}, none, ""},
		{"noTruststore/selfSigned", "selfSigned", keyplane.SSLInfo{}, none, ""},
		{"noTruststore/otherHost", "otherHost", keyplane.SSLInfo{}, none, ""},
		// ignoreValidationErrors skips chain checks, never the host name.
		{"noTruststore/ignoreValidationErrors/otherHost", "otherHost", keyplane.SSLInfo{IgnoreValidationErrors: true}, none, verifyFailed("hostname mismatch")},
		{"noTruststore/ignoreValidationErrors/selfSigned", "selfSigned", keyplane.SSLInfo{IgnoreValidationErrors: true}, none, ""},

		// commonName replaces the host-name check.
		{"commonName/match", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "api.backend.test"}}, truststore, ""},
		{"commonName/matchIgnoringCase", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "API.Backend.Test"}}, truststore, ""},
		{"commonName/otherHostButCommonNameMatches", "otherHost", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "api.backend.test"}}, truststore, ""},
		{"commonName/mismatch", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "web.backend.test"}}, truststore, verifyFailed("common name mismatch")},
		{"commonName/wildcard", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "*.backend.test", WildcardMatch: true}}, truststore, ""},
		{"commonName/wildcardNotAsked", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "*.backend.test"}}, truststore, verifyFailed("common name mismatch")},
		{"commonName/wildcardOneLabelOnly", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "*.test", WildcardMatch: true}}, truststore, verifyFailed("common name mismatch")},
		{"commonName/mismatch/ignoreValidationErrors", "good", keyplane.SSLInfo{IgnoreValidationErrors: true, CommonName: &keyplane.CommonName{Value: "web.backend.test"}}, truststore, verifyFailed("common name mismatch")},
		{"commonName/mismatch/noTruststore", "good", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "web.backend.test"}}, none, verifyFailed("common name mismatch")},
		{"commonName/match/expired", "expired", keyplane.SSLInfo{CommonName: &keyplane.CommonName{Value: "api.backend.test"}}, truststore, verifyFailed("certificate has expired")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := call(t, backends[tt.backend], &tt.settings, tt.material)
			if tt.want == "" {
				require.Equal(t, http.StatusOK, got.Status, got.Body)
				require.Equal(t, helloBody, got.Body)
				return
			}
			require.Equal(t, response{Status: http.StatusServiceUnavailable, Body: tt.want}, got)
		})
	}
}

// TestServerCertificate_ErrorSaysWhatFailed checks that the handshake error
// is a *CertificateError naming the certificate, for the log line.
func TestServerCertificate_ErrorSaysWhatFailed(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	expired := p.serverLeaf(t, testcerts.Options{CommonName: "api.backend.test", DNSNames: []string{backendHost}, NotBefore: past.Add(-time.Hour), NotAfter: past})
	b := tlsBackend(t, p.serverCert(expired), nil)
	cfg, err := upstream.Config(&keyplane.SSLInfo{}, backendHost, trusting(p.root))
	require.NoError(t, err)

	conn, err := tls.Dial("tcp", b.Addr, cfg)
	if conn != nil {
		conn.Close()
	}
	var ce *upstream.CertificateError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, upstream.Expired, ce.Problem)
	require.Equal(t, expired.Cert.Raw, ce.Cert.Raw)
	require.Contains(t, err.Error(), `target certificate verify failed: certificate has expired (subject "CN=api.backend.test,O=keyplane tests"): x509: certificate has expired`)
}

// TestClientAuth runs mutual TLS against a backend that requires and
// verifies a client certificate issued through an intermediate.
func TestClientAuth(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.clientRoot.Cert)
	mtls := func(t *testing.T, maxVersion uint16, h2 bool) *backend {
		return startBackend(t, &tls.Config{
			Certificates: []tls.Certificate{p.serverCert(p.leaf)},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs,
			MaxVersion:   maxVersion,
		}, h2, nil)
	}
	mutual := &keyplane.SSLInfo{Enabled: true, ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "client", TrustStore: "ts"}
	oneWay := &keyplane.SSLInfo{Enabled: true, TrustStore: "ts"}

	for _, tc := range []struct {
		name       string
		maxVersion uint16
		h2         bool
	}{
		{"TLS1.3", tls.VersionTLS13, false},
		{"TLS1.3/h2", tls.VersionTLS13, true},
		{"TLS1.2", tls.VersionTLS12, false},
	} {
		t.Run(tc.name+"/presentsChain", func(t *testing.T) {
			t.Parallel()
			got := call(t, mtls(t, tc.maxVersion, tc.h2), mutual, p.clientMaterial())
			require.Equal(t, http.StatusOK, got.Status, got.Body)
			require.Equal(t, "gateway-client", got.Header.Get("X-Client-CN"))
			require.Equal(t, tls.VersionName(tc.maxVersion), got.Header.Get("X-TLS-Version"))
		})
	}

	t.Run("TLS1.3/missing", func(t *testing.T) {
		t.Parallel()
		got := call(t, mtls(t, tls.VersionTLS13, false), oneWay, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("the target requires a client certificate:TLSV1_ALERT_CERTIFICATE_REQUIRED")}, got)
	})
	t.Run("TLS1.3/h2/missing", func(t *testing.T) {
		t.Parallel()
		got := call(t, mtls(t, tls.VersionTLS13, true), oneWay, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("the target requires a client certificate:TLSV1_ALERT_CERTIFICATE_REQUIRED")}, got)
	})
	t.Run("TLS1.2/missing", func(t *testing.T) {
		t.Parallel()
		got := call(t, mtls(t, tls.VersionTLS12, false), oneWay, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("handshake refused by the target, no common cipher suite or missing client certificate:SSLV3_ALERT_HANDSHAKE_FAILURE")}, got)
	})
	stranger := testcerts.New(t, testcerts.Options{CommonName: "stranger"}).TLS()
	untrusted := upstream.Material{Certificate: &stranger, Roots: []*x509.Certificate{p.root.Cert}}
	t.Run("TLS1.2/untrusted", func(t *testing.T) {
		t.Parallel()
		got := call(t, mtls(t, tls.VersionTLS12, false), mutual, untrusted)
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("the target does not trust the client certificate's issuer:TLSV1_ALERT_UNKNOWN_CA")}, got)
	})
	t.Run("TLS1.3/h2/untrusted", func(t *testing.T) {
		t.Parallel()
		// The target's alert comes after the handshake: when HTTP/2 gives
		// up on the connection before reading it, the refusal is inferred
		// and cannot say why the certificate was refused.
		got := call(t, mtls(t, tls.VersionTLS13, true), mutual, untrusted)
		require.Equal(t, http.StatusServiceUnavailable, got.Status)
		require.Contains(t, []string{
			tlsFailure("the target does not trust the client certificate's issuer:TLSV1_ALERT_UNKNOWN_CA"),
			tlsFailure("the target rejected the client certificate:SSLV3_ALERT_BAD_CERTIFICATE"),
		}, got.Body)
	})
	t.Run("keyAliasWithoutClientAuthEnabled", func(t *testing.T) {
		t.Parallel()
		// ClientAuthEnabled is what enables two-way TLS: a key alias named
		// without it is not presented, and a target that demands a
		// client certificate refuses the connection.
		got := call(t, mtls(t, tls.VersionTLS13, false), &keyplane.SSLInfo{KeyStore: "ks", KeyAlias: "client", TrustStore: "ts"}, p.clientMaterial())
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("the target requires a client certificate:TLSV1_ALERT_CERTIFICATE_REQUIRED")}, got)
	})
	t.Run("notAskedNotSent", func(t *testing.T) {
		t.Parallel()
		b := tlsBackend(t, p.serverCert(p.leaf), &tls.Config{ClientAuth: tls.RequestClientCert})
		got := call(t, b, oneWay, p.clientMaterial())
		require.Equal(t, http.StatusOK, got.Status, got.Body)
		require.Empty(t, got.Header.Get("X-Client-CN"))
	})
}

// TestProtocols checks that protocols bound the versions offered.
func TestProtocols(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	tls13Only := tlsBackend(t, p.serverCert(p.leaf), &tls.Config{MinVersion: tls.VersionTLS13})
	tls12Only := tlsBackend(t, p.serverCert(p.leaf), &tls.Config{MaxVersion: tls.VersionTLS12})
	noCommonVersion := tlsFailure("no protocol version in common with the target:TLSV1_ALERT_PROTOCOL_VERSION")

	tests := []struct {
		name      string
		backend   *backend
		protocols []string
		want      string // failure body, or the version negotiated
	}{
		{"TLSv1.2 against TLS 1.3 only", tls13Only, []string{"TLSv1.2"}, noCommonVersion},
		{"TLSv1.3 against TLS 1.2 only", tls12Only, []string{"TLSv1.3"}, noCommonVersion},
		{"both against TLS 1.3 only", tls13Only, []string{"TLSv1.2", "TLSv1.3"}, "TLS 1.3"},
		{"both against TLS 1.2 only", tls12Only, []string{"TLSv1.3", "TLSv1.2"}, "TLS 1.2"},
		{"short names", tls13Only, []string{"1.3"}, "TLS 1.3"},
		{"default", tls13Only, nil, "TLS 1.3"},
		{"old versions never negotiated", tls12Only, []string{"TLSv1", "TLSv1.1", "TLSv1.2"}, "TLS 1.2"},
		{"only old versions", tls12Only, []string{"TLSv1.1"}, tlsFailure("no protocol version enabled, TLSv1 and TLSv1.1 are not supported:NO_SUPPORTED_VERSIONS_ENABLED")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := call(t, tt.backend, &keyplane.SSLInfo{Protocols: tt.protocols}, trusting(p.root))
			if got.Status == http.StatusOK {
				require.Equal(t, tt.want, got.Header.Get("X-TLS-Version"))
				return
			}
			require.Equal(t, response{Status: http.StatusServiceUnavailable, Body: tt.want}, got)
		})
	}
}

// TestCiphers checks that ciphers restricts the TLS 1.2 cipher suites.
func TestCiphers(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const only = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
	b := tlsBackend(t, p.serverCert(p.leaf), &tls.Config{
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	})

	t.Run("matching", func(t *testing.T) {
		t.Parallel()
		got := call(t, b, &keyplane.SSLInfo{Ciphers: []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", only}}, trusting(p.root))
		require.Equal(t, http.StatusOK, got.Status, got.Body)
		require.Equal(t, only, got.Header.Get("X-Cipher"))
	})
	t.Run("noneInCommon", func(t *testing.T) {
		t.Parallel()
		got := call(t, b, &keyplane.SSLInfo{Ciphers: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}, trusting(p.root))
		require.Equal(t, response{Status: http.StatusServiceUnavailable,
			Body: tlsFailure("handshake refused by the target, no common cipher suite or missing client certificate:SSLV3_ALERT_HANDSHAKE_FAILURE")}, got)
	})
	t.Run("TLS 1.3 suites are not configurable", func(t *testing.T) {
		t.Parallel()
		b13 := tlsBackend(t, p.serverCert(p.leaf), &tls.Config{MinVersion: tls.VersionTLS13})
		got := call(t, b13, &keyplane.SSLInfo{Ciphers: []string{"TLS_AES_256_GCM_SHA384"}}, trusting(p.root))
		require.Equal(t, http.StatusOK, got.Status, got.Body)
		require.Equal(t, "TLS 1.3", got.Header.Get("X-TLS-Version"))
	})
}

// TestHTTPVersion checks that HTTP/2 is used when a TLS target offers it,
// and HTTP/1.1 otherwise.
func TestHTTPVersion(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cert := p.serverCert(p.leaf)
	tests := []struct {
		name string
		b    *backend
		tls  *keyplane.SSLInfo
		want string
	}{
		{"h2 offered", startBackend(t, &tls.Config{Certificates: []tls.Certificate{cert}}, true, nil), &keyplane.SSLInfo{}, "HTTP/2.0"},
		{"h2 not offered", startBackend(t, &tls.Config{Certificates: []tls.Certificate{cert}}, false, nil), &keyplane.SSLInfo{}, "HTTP/1.1"},
		{"plain HTTP", startBackend(t, nil, false, nil), nil, "HTTP/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := call(t, tt.b, tt.tls, trusting(p.root))
			require.Equal(t, http.StatusOK, got.Status, got.Body)
			require.Equal(t, tt.want, got.Proto)
			require.Equal(t, tt.want, got.Header.Get("X-Proto"))
		})
	}
}
