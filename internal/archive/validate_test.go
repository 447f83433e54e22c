package archive

import (
	"testing"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/stretchr/testify/require"
)

var (
	now      = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	valid    = []Cert{{NotAfter: now.AddDate(1, 0, 0)}, {NotAfter: now.AddDate(5, 0, 0)}}
	outdated = []Cert{{NotAfter: now.AddDate(0, 0, -1)}}
)

// snapshot returns the environment myorg/dev in which the archives of
// testdata deploy without a problem, along with keystores that the tests
// point at to cause one.
func snapshot() *Snapshot {
	return &Snapshot{
		Org: "myorg",
		Env: "dev",
		Now: now,
		Keystores: map[string]Keystore{
			"mtls-keystore":    {Aliases: map[string]Alias{"my_alias": {ID: 11, HasKey: true, Certs: valid}}},
			"mtls-truststore":  {Aliases: map[string]Alias{"ca": {ID: 21, Certs: valid}, "ca-old": {ID: 22, Certs: valid[:1]}}},
			"expired-keystore": {Aliases: map[string]Alias{"expired": {ID: 31, Certs: outdated}, "fine": {ID: 32, Certs: valid}}},
			"expired-key":      {Aliases: map[string]Alias{"my_alias": {ID: 41, HasKey: true, Certs: append(append([]Cert{}, valid[:1]...), outdated...)}}},
			"cert-only":        {Aliases: map[string]Alias{"my_alias": {ID: 51, Certs: valid}}},
			"empty-truststore": {Aliases: map[string]Alias{}},
			"keyless":          {Aliases: map[string]Alias{"empty": {ID: 61}}},
		},
		References: map[string]keyplane.Reference{
			"mtls-keystore-ref":   {Name: "mtls-keystore-ref", ResourceType: keyplane.ResourceTypeKeyStore, Refers: "mtls-keystore"},
			"mtls-truststore-ref": {Name: "mtls-truststore-ref", ResourceType: keyplane.ResourceTypeTrustStore, Refers: "mtls-truststore"},
		},
		TargetServers: map[string]keyplane.TargetServer{
			"backend-1": {Name: "backend-1", Host: "b1.example.com", Port: 443},
			"backend-2": {Name: "backend-2", Host: "b2.example.com", Port: 443},
		},
	}
}

// The three messages a deployment answers when the TLS material a target
// server names is missing or expired, byte for byte as Apigee words them,
// for the archive of testdata/configurable.
const (
	designMissingKeystore   = `generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: missing required private key for "alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\""; missing required certificate(s) for "alias \"organizations/myorg/environments/dev/keystores/does-not-exist/aliases/my_alias\""`
	designMissingTruststore = `generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/does-not-exist"`
	designExpired           = `generic::invalid_argument: proxy "organizations/myorg/apis/mtls/revisions/1" contains reference(s) to invalid target server(s): target server "mtlstarget-docs" contains invalid TLS settings: truststore "organizations/myorg/environments/dev/keystores/expired-keystore" contains an invalid certificate within alias "organizations/myorg/environments/dev/keystores/expired-keystore/aliases/expired": certificate has expired`
)

func TestValidate_DesignExamples_ReportDocumentedMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ref  keyplane.Reference
		want string
	}{
		{"missing keystore", keyplane.Reference{Name: "mtls-keystore-ref", ResourceType: keyplane.ResourceTypeKeyStore, Refers: "does-not-exist"}, designMissingKeystore},
		{"missing truststore", keyplane.Reference{Name: "mtls-truststore-ref", ResourceType: keyplane.ResourceTypeTrustStore, Refers: "does-not-exist"}, designMissingTruststore},
		{"expired truststore", keyplane.Reference{Name: "mtls-truststore-ref", ResourceType: keyplane.ResourceTypeTrustStore, Refers: "expired-keystore"}, designExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := bundleOf(t, tree(t, "configurable"))
			require.NoError(t, err)
			s := snapshot()
			s.References[tt.ref.Name] = tt.ref

			res, err := Validate(b, s, map[string]int{"mtls": 1})
			require.Nil(t, res)
			requireInvalid(t, err, tt.want)
		})
	}
}

func TestValidate_ValidArchive_PinsWhatItChecked(t *testing.T) {
	t.Parallel()
	b, err := bundleOf(t, tree(t, "configurable"))
	require.NoError(t, err)

	res, err := Validate(b, snapshot(), map[string]int{"mtls": 7})
	require.NoError(t, err)
	require.Equal(t, &Result{
		Proxies:       []ProxyRevision{{Name: "mtls", Type: keyplane.ProxyTypeConfigurable, Revision: 7}},
		TargetServers: []string{"mtlstarget-docs"},
		Pins: []Pin{
			{Keystore: "mtls-keystore", Alias: "my_alias", AliasID: 11},
			{Keystore: "mtls-truststore", Alias: "ca", AliasID: 21},
			{Keystore: "mtls-truststore", Alias: "ca-old", AliasID: 22},
		},
	}, res)
}

func TestValidate_Programmable_ChecksEndpointsAndLoadBalancers(t *testing.T) {
	t.Parallel()
	b, err := bundleOf(t, tree(t, "programmable"))
	require.NoError(t, err)

	res, err := Validate(b, snapshot(), map[string]int{"legacy": 3})
	require.NoError(t, err)
	require.Equal(t, []string{"backend-1", "backend-2"}, res.TargetServers)
	require.Len(t, res.Pins, 3)

	s := snapshot()
	delete(s.TargetServers, "backend-2")
	s.TargetServers["backend-1"] = keyplane.TargetServer{Name: "backend-1", SSLInfo: &keyplane.SSLInfo{Enabled: true, TrustStore: "empty-truststore"}}
	delete(s.Keystores, "mtls-truststore")
	_, err = Validate(b, s, map[string]int{"legacy": 3})
	requireInvalid(t, err, `generic::invalid_argument: `+
		`proxy "organizations/myorg/apis/legacy/revisions/3" contains reference(s) to invalid target server(s): `+
		`target server "backend-1" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/empty-truststore"; `+
		`target server "backend-2" does not exist; `+
		`proxy "organizations/myorg/apis/legacy/revisions/3" contains invalid TLS settings in target endpoint "default": missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/mtls-truststore"`)
}

func TestValidate_TLSProblems_ReportFullMessages(t *testing.T) {
	t.Parallel()
	const (
		prefix   = `generic::invalid_argument: proxy "organizations/myorg/apis/hello/revisions/1" contains reference(s) to invalid target server(s): target server "ts" contains invalid TLS settings: `
		keystore = "organizations/myorg/environments/dev/keystores/"
	)
	mtls := func(change func(*keyplane.SSLInfo)) *keyplane.SSLInfo {
		t := &keyplane.SSLInfo{
			Enabled:           true,
			ClientAuthEnabled: true,
			KeyStore:          "ref://mtls-keystore-ref",
			KeyAlias:          "my_alias",
			TrustStore:        "ref://mtls-truststore-ref",
		}
		change(t)
		return t
	}
	tests := []struct {
		name     string
		tls      *keyplane.SSLInfo
		want     string   // the problems after prefix; "" for none
		warnings []string // when valid
	}{
		{
			name: "missing keystore",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore = "nope" }),
			want: `missing required private key for "alias \"` + keystore + `nope/aliases/my_alias\""; missing required certificate(s) for "alias \"` + keystore + `nope/aliases/my_alias\""`,
		},
		{
			name: "missing alias",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyAlias = "other" }),
			want: `missing required private key for "alias \"` + keystore + `mtls-keystore/aliases/other\""; missing required certificate(s) for "alias \"` + keystore + `mtls-keystore/aliases/other\""`,
		},
		{
			name: "certificate-only alias used as key alias",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore = "cert-only" }),
			want: `missing required private key for "alias \"` + keystore + `cert-only/aliases/my_alias\""`,
		},
		{
			name: "alias with neither key nor certificate",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore, t.KeyAlias = "keyless", "empty" }),
			want: `missing required private key for "alias \"` + keystore + `keyless/aliases/empty\""; missing required certificate(s) for "alias \"` + keystore + `keyless/aliases/empty\""`,
		},
		{
			name: "expired certificate in key alias",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore = "expired-key" }),
			want: `keystore "` + keystore + `expired-key" contains an invalid certificate within alias "` + keystore + `expired-key/aliases/my_alias": certificate has expired`,
		},
		{
			name: "key alias without client auth flag is still checked",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.ClientAuthEnabled, t.KeyStore = false, "cert-only" }),
			want: `missing required private key for "alias \"` + keystore + `cert-only/aliases/my_alias\""`,
		},
		{
			name: "client auth without keystore or alias",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore, t.KeyAlias = "", "" }),
			want: `keyStore is required for client authentication; keyAlias is required for client authentication`,
		},
		{
			name: "missing truststore",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.TrustStore = "nope" }),
			want: `missing required certificate(s) for truststore "` + keystore + `nope"`,
		},
		{
			name: "empty truststore",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.TrustStore = "empty-truststore" }),
			want: `missing required certificate(s) for truststore "` + keystore + `empty-truststore"`,
		},
		{
			name: "truststore whose aliases hold no certificate",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.TrustStore = "keyless" }),
			want: `missing required certificate(s) for truststore "` + keystore + `keyless"`,
		},
		{
			name: "expired certificate in truststore",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.TrustStore = "expired-keystore" }),
			want: `truststore "` + keystore + `expired-keystore" contains an invalid certificate within alias "` + keystore + `expired-keystore/aliases/expired": certificate has expired`,
		},
		{
			name: "dangling keystore reference",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore = "ref://gone" }),
			want: `reference "organizations/myorg/environments/dev/references/gone" does not exist`,
		},
		{
			name: "dangling truststore reference",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.TrustStore = "ref://gone" }),
			want: `reference "organizations/myorg/environments/dev/references/gone" does not exist`,
		},
		{
			name: "truststore reference used as keystore",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyStore = "ref://mtls-truststore-ref" }),
			want: `reference "organizations/myorg/environments/dev/references/mtls-truststore-ref" has resourceType "TrustStore", but keyStore requires "KeyStore"`,
		},
		{
			name: "keystore reference used as truststore",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.TrustStore = "ref://mtls-keystore-ref" }),
			want: `reference "organizations/myorg/environments/dev/references/mtls-keystore-ref" has resourceType "KeyStore", but trustStore requires "TrustStore"`,
		},
		{
			name: "unknown protocol and cipher",
			tls: mtls(func(t *keyplane.SSLInfo) {
				t.Protocols = []string{"TLSv1.2", "SSLv3", "1.3", "TLSv9"}
				t.Ciphers = []string{"TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"}
			}),
			want: `unknown protocol "SSLv3"; unknown protocol "TLSv9"; unknown cipher "ECDHE-RSA-AES128-GCM-SHA256"`,
		},
		{
			name: "several problems in the documented order",
			tls: mtls(func(t *keyplane.SSLInfo) {
				t.KeyStore, t.TrustStore = "expired-key", "expired-keystore"
				t.Protocols, t.Ciphers = []string{"TLSv0"}, []string{"NULL"}
			}),
			want: `keystore "` + keystore + `expired-key" contains an invalid certificate within alias "` + keystore + `expired-key/aliases/my_alias": certificate has expired; ` +
				`truststore "` + keystore + `expired-keystore" contains an invalid certificate within alias "` + keystore + `expired-keystore/aliases/expired": certificate has expired; ` +
				`unknown protocol "TLSv0"; unknown cipher "NULL"`,
		},
		{
			name: "flow variables are warned about, not checked",
			tls: mtls(func(t *keyplane.SSLInfo) {
				t.KeyStore, t.TrustStore = "{ssl.keystore}", "{ssl.truststore}"
			}),
			warnings: []string{
				`target server "ts": keyStore "{ssl.keystore}" is a flow variable, resolved only at runtime; it was not validated`,
				`target server "ts": trustStore "{ssl.truststore}" is a flow variable, resolved only at runtime; it was not validated`,
			},
		},
		{
			name: "flow variable key alias",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.KeyAlias = "{ssl.alias}" }),
			warnings: []string{
				`target server "ts": keyAlias "{ssl.alias}" is a flow variable, resolved only at runtime; it was not validated`,
			},
		},
		{
			name: "insecure protocols and ciphers are warned about",
			tls: mtls(func(t *keyplane.SSLInfo) {
				t.Protocols = []string{"TLSv1.1", "1.0", "tlsv1.3"}
				t.Ciphers = []string{"TLS_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
			}),
			warnings: []string{
				`target server "ts": protocol "TLSv1.1" is insecure`,
				`target server "ts": protocol "1.0" is insecure`,
				`target server "ts": cipher "TLS_RSA_WITH_RC4_128_SHA" is insecure`,
			},
		},
		{
			name: "disabled TLS is not checked",
			tls:  mtls(func(t *keyplane.SSLInfo) { t.Enabled, t.KeyStore, t.Protocols = false, "nope", []string{"SSLv2"} }),
		},
		{
			name: "one-way TLS needs no keystore",
			tls:  &keyplane.SSLInfo{Enabled: true, KeyStore: "nope", TrustStore: "mtls-truststore"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &Bundle{
				Env:           "dev",
				Proxies:       []Proxy{{Name: "hello", Type: keyplane.ProxyTypeConfigurable, TargetServerIDs: []string{"ts"}}},
				TargetServers: map[string]keyplane.TargetServer{"ts": {Name: "ts", SSLInfo: tt.tls}},
			}
			res, err := Validate(b, snapshot(), map[string]int{"hello": 1})
			if tt.want != "" {
				requireInvalid(t, err, prefix+tt.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.warnings, res.Warnings)
		})
	}
}

func TestValidate_SeveralProxies_AreSortedAndJoined(t *testing.T) {
	t.Parallel()
	bad := &keyplane.SSLInfo{Enabled: true, TrustStore: "nope"}
	b := &Bundle{
		Env: "dev",
		Proxies: []Proxy{
			{Name: "beta", TargetServerIDs: []string{"ts-a"}, Endpoints: []TargetEndpoint{
				{Name: "off", TLS: &keyplane.SSLInfo{Protocols: []string{"x"}}},
				{Name: "default", TLS: &keyplane.SSLInfo{Enabled: true, Protocols: []string{"x"}}},
			}},
		},
		TargetServers: map[string]keyplane.TargetServer{
			"ts-a": {Name: "ts-a", SSLInfo: bad},
			"ts-b": {Name: "ts-b", SSLInfo: bad},
			"fine": {Name: "fine"},
		},
	}
	b.Proxies = append(b.Proxies, Proxy{Name: "alpha", TargetServerIDs: []string{"ts-b", "ts-a", "fine"}})
	_, err := Validate(b, snapshot(), map[string]int{"alpha": 2, "beta": 5})
	requireInvalid(t, err, `generic::invalid_argument: `+
		`proxy "organizations/myorg/apis/alpha/revisions/2" contains reference(s) to invalid target server(s): `+
		`target server "ts-a" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/nope"; `+
		`target server "ts-b" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/nope"; `+
		`proxy "organizations/myorg/apis/beta/revisions/5" contains reference(s) to invalid target server(s): `+
		`target server "ts-a" contains invalid TLS settings: missing required certificate(s) for truststore "organizations/myorg/environments/dev/keystores/nope"; `+
		`proxy "organizations/myorg/apis/beta/revisions/5" contains invalid TLS settings in target endpoint "default": unknown protocol "x"`)
}

func TestValidate_ArchiveTargetServers_TakePrecedence(t *testing.T) {
	t.Parallel()
	b := &Bundle{
		Env:           "dev",
		Proxies:       []Proxy{{Name: "hello", TargetServerIDs: []string{"backend-1", "ts"}}},
		TargetServers: map[string]keyplane.TargetServer{"ts": {Name: "ts"}},
	}
	s := snapshot()
	s.TargetServers["ts"] = keyplane.TargetServer{Name: "ts", SSLInfo: &keyplane.SSLInfo{Enabled: true, TrustStore: "nope"}}
	res, err := Validate(b, s, map[string]int{"hello": 1})
	require.NoError(t, err)
	require.Equal(t, []string{"backend-1", "ts"}, res.TargetServers)
}

func TestValidate_MissingRevision_IsACallerMistake(t *testing.T) {
	t.Parallel()
	b := &Bundle{Env: "dev", Proxies: []Proxy{{Name: "hello"}}}
	_, err := Validate(b, snapshot(), nil)
	require.EqualError(t, err, `archive: no revision given for proxy "hello"`)
}

func TestBundle_NamesToLoad_CoverWhatValidationReads(t *testing.T) {
	t.Parallel()
	b := &Bundle{
		Env: "dev",
		Proxies: []Proxy{
			{Name: "a", TargetServerIDs: []string{"env-ts", "local-ts", "nowhere"}},
			{Name: "b", TargetServerIDs: []string{"env-ts"}, Endpoints: []TargetEndpoint{
				{Name: "default", TLS: &keyplane.SSLInfo{Enabled: true, TrustStore: "ref://ep-ts-ref", KeyStore: "unused-without-client-auth"}},
				{Name: "off", TLS: &keyplane.SSLInfo{TrustStore: "disabled"}},
			}},
		},
		TargetServers: map[string]keyplane.TargetServer{
			"local-ts": {Name: "local-ts", SSLInfo: &keyplane.SSLInfo{Enabled: true, ClientAuthEnabled: true, KeyStore: "ks", KeyAlias: "a", TrustStore: "{ssl.ts}"}},
		},
	}
	require.Equal(t, []string{"env-ts", "nowhere"}, b.EnvTargetServerNames())

	env := map[string]keyplane.TargetServer{
		"env-ts": {Name: "env-ts", SSLInfo: &keyplane.SSLInfo{Enabled: true, KeyAlias: "a", KeyStore: "ref://ks-ref", TrustStore: "ref://ts-ref"}},
	}
	require.Equal(t, []string{"ep-ts-ref", "ks-ref", "ts-ref"}, b.ReferenceNames(env))

	refs := map[string]keyplane.Reference{
		"ks-ref": {Name: "ks-ref", ResourceType: keyplane.ResourceTypeKeyStore, Refers: "ks-2"},
		"ts-ref": {Name: "ts-ref", ResourceType: keyplane.ResourceTypeTrustStore, Refers: "ts-2"},
	}
	m := b.Material(env, refs)
	require.Equal(t, []string{"ks", "ks-2", "ts-2"}, m.Keystores())
	require.Equal(t, map[string][]string{"ks": {"a"}, "ks-2": {"a"}}, m.KeyAliases)
	require.Equal(t, []string{"ts-2"}, m.Truststores)
}
