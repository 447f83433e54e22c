package targetserver_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/targetserver"
)

// newService is the service over a fresh database holding environment
// o/e, with truststore "expired" whose only certificate expired yesterday
// and truststore "valid" whose certificate is good for a year.
func newService(t *testing.T) (*targetserver.Service, *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	for _, sql := range []string{
		`INSERT INTO organizations (name) VALUES ('o')`,
		`INSERT INTO environments (org, name, deployment_type, api_proxy_type) VALUES ('o', 'e', 'PROXY', 'PROGRAMMABLE')`,
		`INSERT INTO keystores (org, env, name) VALUES ('o', 'e', 'expired'), ('o', 'e', 'valid')`,
	} {
		_, err := db.Pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	for ks, notAfter := range map[string]time.Time{"expired": time.Now().Add(-24 * time.Hour), "valid": time.Now().AddDate(1, 0, 0)} {
		_, err := db.Pool.Exec(ctx, `
			INSERT INTO aliases (keystore_id, name, type, chain_pem, certs_info, not_before, not_after)
			SELECT id, 'ca', 'CERT', 'PEM', $2, $3::timestamptz - interval '2 years', $3 FROM keystores WHERE name = $1`,
			ks, `[{"expiryDate":"`+strconv.FormatInt(notAfter.UnixMilli(), 10)+`"}]`, notAfter)
		require.NoError(t, err)
	}
	return targetserver.NewService(db), db
}

// server is a target server of the test's backend; tls, when set, are
// its TLS settings.
func server(name string, tls *keyplane.SSLInfo) *keyplane.TargetServer {
	return &keyplane.TargetServer{Name: name, Host: "backend.example.com", Port: 443, SSLInfo: tls}
}

func requireCode(t *testing.T, err error, code keyplane.Code, msg string) {
	t.Helper()
	require.Equal(t, [2]string{string(code), msg}, [2]string{string(keyplane.ErrorCode(err)), keyplane.ErrorMessage(err)}, "%v", err)
}

// TestCreate_FieldsAreCheckedAndDefaulted: host, port and protocol are
// refused naming the field and the reason, and an accepted target server
// is stored with its protocol (HTTP) and enabled state (true) filled in.
func TestCreate_FieldsAreCheckedAndDefaulted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	for _, tt := range []struct {
		edit func(*keyplane.TargetServer)
		msg  string
	}{
		{func(ts *keyplane.TargetServer) { ts.Host = "" }, "host is required"},
		{func(ts *keyplane.TargetServer) { ts.Host = strings.Repeat("h", 254) }, "host is longer than 253 characters"},
		{func(ts *keyplane.TargetServer) { ts.Port = 0 }, "port 0 is invalid: it must be between 1 and 65535"},
		{func(ts *keyplane.TargetServer) { ts.Port = 65536 }, "port 65536 is invalid: it must be between 1 and 65535"},
		{func(ts *keyplane.TargetServer) { ts.Protocol = "FTP" }, `protocol "FTP" is invalid: use HTTP, HTTP2, GRPC, GRPC_TARGET or EXTERNAL_CALLOUT`},
	} {
		ts := server("ts", nil)
		tt.edit(ts)
		_, err := s.Create(ctx, "o", "e", ts)
		requireCode(t, err, keyplane.InvalidArgument, tt.msg)
	}
	names, err := s.List(ctx, "o", "e")
	require.NoError(t, err)
	require.Empty(t, names, "nothing refused is stored")

	_, err = s.Create(ctx, "o", "e", server("ts", nil))
	require.NoError(t, err)
	got, err := s.Get(ctx, "o", "e", "ts")
	require.NoError(t, err)
	require.Equal(t, "HTTP", got.Protocol)
	require.NotNil(t, got.IsEnabled)
	require.True(t, *got.IsEnabled)
	disabled := false
	ts := server("off", nil)
	ts.IsEnabled, ts.Protocol = &disabled, "GRPC"
	_, err = s.Create(ctx, "o", "e", ts)
	require.NoError(t, err)
	got, err = s.Get(ctx, "o", "e", "off")
	require.NoError(t, err)
	require.False(t, *got.IsEnabled)
	require.Equal(t, "GRPC", got.Protocol)
}

// TestUpdate_KeepsItsName: an update names the target server in the URL;
// a body without a name takes it, and one with another name is refused.
func TestUpdate_KeepsItsName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	_, err := s.Create(ctx, "o", "e", server("ts", nil))
	require.NoError(t, err)

	_, err = s.Update(ctx, "o", "e", "ts", server("renamed", nil))
	requireCode(t, err, keyplane.InvalidArgument, `name "renamed" does not match the target server "ts" in the URL; a target server cannot be renamed`)
	ts := server("", nil)
	ts.Port = 8443
	updated, err := s.Update(ctx, "o", "e", "ts", ts)
	require.NoError(t, err)
	require.Equal(t, "ts", updated.Name)
	got, err := s.Get(ctx, "o", "e", "ts")
	require.NoError(t, err)
	require.EqualValues(t, 8443, got.Port)
	_, err = s.Update(ctx, "o", "e", "gone", server("gone", nil))
	requireCode(t, err, keyplane.NotFound, `target server "organizations/o/environments/e/targetservers/gone" not found`)
}

// TestCreate_TLSSettingsAreValidatedAsADeploymentWould: enabled TLS
// settings must resolve to TLS material that exists and has not expired,
// with a deployment's texts; disabled ones are not looked at. A refused
// create or update changes nothing.
func TestCreate_TLSSettingsAreValidatedAsADeploymentWould(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	for _, tt := range []struct {
		tls *keyplane.SSLInfo
		msg string
	}{
		{&keyplane.SSLInfo{Enabled: true, TrustStore: "ref://nope"}, `reference "organizations/o/environments/e/references/nope" does not exist`},
		{&keyplane.SSLInfo{Enabled: true, TrustStore: "expired"}, `truststore "organizations/o/environments/e/keystores/expired" contains an invalid certificate within alias "organizations/o/environments/e/keystores/expired/aliases/ca": certificate has expired`},
		{&keyplane.SSLInfo{Enabled: true, TrustStore: "valid", Protocols: []string{"SSLv2"}}, `unknown protocol "SSLv2"`},
	} {
		_, err := s.Create(ctx, "o", "e", server("ts", tt.tls))
		requireCode(t, err, keyplane.InvalidArgument, `target server "ts" contains invalid TLS settings: `+tt.msg)
	}
	_, err := s.Create(ctx, "o", "e", server("off", &keyplane.SSLInfo{Enabled: false, TrustStore: "ref://nope"}))
	require.NoError(t, err, "disabled settings are not validated")
	_, err = s.Create(ctx, "o", "e", server("ts", &keyplane.SSLInfo{Enabled: true, TrustStore: "valid"}))
	require.NoError(t, err)

	_, err = s.Update(ctx, "o", "e", "ts", server("ts", &keyplane.SSLInfo{Enabled: true, TrustStore: "expired"}))
	require.Error(t, err)
	got, err := s.Get(ctx, "o", "e", "ts")
	require.NoError(t, err)
	require.Equal(t, "valid", got.SSLInfo.TrustStore, "a refused update changes nothing")
}
