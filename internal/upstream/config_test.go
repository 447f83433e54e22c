package upstream_test

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testcerts"
	"github.com/keyplane/keyplane/internal/upstream"
)

func TestConfig_InvalidSettings_NameTheField(t *testing.T) {
	t.Parallel()
	noKey := testcerts.New(t, testcerts.Options{CommonName: "client"}).TLS()
	noKey.PrivateKey = nil
	tests := []struct {
		name     string
		settings *keyplane.SSLInfo
		host     string
		material upstream.Material
		want     string
	}{
		{"unknown protocol", &keyplane.SSLInfo{Protocols: []string{"TLSv1.2", "SSLv3"}}, backendHost, upstream.Material{},
			`sSLInfo.protocols: unknown protocol "SSLv3": use TLSv1.2 or TLSv1.3`},
		{"long protocol is clipped", &keyplane.SSLInfo{Protocols: []string{strings.Repeat("x", 100)}}, backendHost, upstream.Material{},
			`sSLInfo.protocols: unknown protocol "` + strings.Repeat("x", 64) + `…": use TLSv1.2 or TLSv1.3`},
		{"unknown cipher", &keyplane.SSLInfo{Ciphers: []string{"ECDHE-RSA-AES128-GCM-SHA256"}}, backendHost, upstream.Material{},
			`sSLInfo.ciphers: unknown cipher suite "ECDHE-RSA-AES128-GCM-SHA256": use an IANA name such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`},
		{"client auth without key alias", &keyplane.SSLInfo{ClientAuthEnabled: true, KeyStore: "ks"}, backendHost, upstream.Material{},
			`sSLInfo.keyAlias: keyAlias is required for client authentication`},
		{"client auth without certificate", &keyplane.SSLInfo{ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "client"}, backendHost, upstream.Material{},
			`sSLInfo.keyAlias: client authentication needs the certificate and private key of key alias "client", and none was given`},
		{"client auth without private key", &keyplane.SSLInfo{ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "client"}, backendHost, upstream.Material{Certificate: &noKey},
			`sSLInfo.keyAlias: client authentication needs the certificate and private key of key alias "client", and none was given`},
		{"no host", &keyplane.SSLInfo{}, "", upstream.Material{},
			`host: the target's host name is required for TLS`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := upstream.Config(tt.settings, tt.host, tt.material)
			require.Nil(t, cfg)
			require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
			require.Equal(t, tt.want, keyplane.ErrorMessage(err))
		})
	}
}

func TestConfig_Settings(t *testing.T) {
	t.Parallel()
	cfg, err := upstream.Config(&keyplane.SSLInfo{
		Protocols: []string{"tlsv1.3", " TLSv1.2 "},
		Ciphers:   []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"},
	}, "[::1]", upstream.Material{})
	require.NoError(t, err)
	require.Equal(t, "::1", cfg.ServerName)
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	require.Equal(t, uint16(tls.VersionTLS13), cfg.MaxVersion)
	// Insecure suites that deployment validation allows with a warning are
	// honoured.
	require.Equal(t, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA}, cfg.CipherSuites)
	require.Nil(t, cfg.GetClientCertificate, "no client authentication, nothing to present")

	cfg, err = upstream.Config(nil, backendHost, upstream.Material{})
	require.NoError(t, err)
	require.Zero(t, cfg.MinVersion, "Go's defaults")
	require.Zero(t, cfg.MaxVersion, "Go's defaults")
	require.Nil(t, cfg.CipherSuites, "Go's defaults")
}
