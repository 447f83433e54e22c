package server

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// A valid master key and database URL, which every command needs.
const (
	testKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	testURL = "postgres://keyplane@localhost/keyplane"
)

// source is the environment vars (NAME=value pairs) on top of a database
// URL and a master key, with the flags given, logging to a pipe so that
// the default log format does not depend on the terminal tests run in.
func source(t *testing.T, flags map[string]string, vars ...string) Source {
	t.Helper()
	env := map[string]string{"DATABASE_URL": testURL, "KEYPLANE_MASTER_KEY": testKey}
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		env[name] = value
	}
	_, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return Source{Flags: flags, Getenv: func(name string) string { return env[name] }, Stderr: w}
}

// readBoth reads the settings of both commands from one source and returns
// their errors.
func readBoth(t *testing.T, vars ...string) (serveErr, gatewayErr error) {
	t.Helper()
	_, serveErr = ReadServe(source(t, nil, vars...))
	_, gatewayErr = ReadGateway(source(t, nil, vars...))
	return serveErr, gatewayErr
}

func TestReadServe_Defaults(t *testing.T) {
	s, err := ReadServe(source(t, nil))
	require.NoError(t, err)
	require.Equal(t, DefaultAddr, s.Addr)
	require.True(t, s.TokenGenerated)
	require.Len(t, s.Config.AdminToken, 43, "a generated token is 256 random bits")
	require.Nil(t, s.Config.TLS)
	require.Zero(t, s.Config.ShutdownTimeout)
	require.Zero(t, s.Config.Timeouts)
	require.Zero(t, s.Config.Quotas)
	require.Zero(t, s.Config.AliasQuota)
	require.Zero(t, s.Config.MaxConnsPerAddr)

	s, err = ReadServe(source(t, nil, "KEYPLANE_BOOTSTRAP_TOKEN=tok"))
	require.NoError(t, err)
	require.False(t, s.TokenGenerated)
	require.Equal(t, "tok", s.Config.AdminToken)
}

// TestRead_FlagBeatsVariableBeatsDefault: --addr, when given, wins over
// KEYPLANE_ADDR (or KEYPLANE_GATEWAY_ADDR), which wins over the default;
// and the API's address the target fence refuses is the one it listens on.
func TestRead_FlagBeatsVariableBeatsDefault(t *testing.T) {
	for _, tt := range []struct {
		flag, env, want string
	}{
		{"", "", DefaultAddr},
		{"", "127.0.0.1:21001", "127.0.0.1:21001"},
		{"127.0.0.1:21002", "127.0.0.1:21001", "127.0.0.1:21002"},
		{"127.0.0.1:21002", "", "127.0.0.1:21002"},
	} {
		flags := map[string]string{}
		if tt.flag != "" {
			flags["KEYPLANE_ADDR"] = tt.flag
		}
		s, err := ReadServe(source(t, flags, "KEYPLANE_ADDR="+tt.env))
		require.NoError(t, err)
		require.Equal(t, tt.want, s.Addr, "flag %q, variable %q", tt.flag, tt.env)
		var refused *egress.RefusedError
		require.ErrorAs(t, s.Config.Targets.CheckAddr(netip.MustParseAddrPort(tt.want)), &refused)
		require.Contains(t, refused.Why, "own listen address")

		flags = map[string]string{}
		if tt.flag != "" {
			flags["KEYPLANE_GATEWAY_ADDR"] = tt.flag
		}
		g, err := ReadGateway(source(t, flags, "KEYPLANE_GATEWAY_ADDR="+tt.env))
		require.NoError(t, err)
		want := strings.Replace(tt.want, DefaultAddr, DefaultGatewayAddr, 1)
		require.Equal(t, want, g.Addr, "gateway: flag %q, variable %q", tt.flag, tt.env)
	}

	// The gateway refuses the API's addresses, which it reads from the
	// API's variables, as targets.
	g, err := ReadGateway(source(t, nil, "KEYPLANE_ADDR=127.0.0.1:21003", "KEYPLANE_METRICS_ADDR=127.0.0.1:21004",
		"KEYPLANE_GATEWAY_TARGETS_ALLOW=127.0.0.0/8"))
	require.NoError(t, err)
	for _, own := range []string{"127.0.0.1:21003", "127.0.0.1:21004"} {
		require.Error(t, g.Config.Targets.CheckAddr(netip.MustParseAddrPort(own)), own)
	}
	require.NoError(t, g.Config.Targets.CheckAddr(netip.MustParseAddrPort("127.0.0.1:21005")))
}

// TestRead_DurationRules: a duration is written like 30s; a bad one is
// refused naming the variable and what was expected, by both commands
// alike where both read it; waits and periods must be above zero, and the
// settings where zero means the default or none may be zero, never less.
func TestRead_DurationRules(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		err         string
	}{
		{"KEYPLANE_SHUTDOWN_GRACE", "soon", `KEYPLANE_SHUTDOWN_GRACE "soon" is not a positive duration such as 30s`},
		{"KEYPLANE_SHUTDOWN_GRACE", "0s", `KEYPLANE_SHUTDOWN_GRACE "0s" is not a positive duration such as 30s`},
		{"KEYPLANE_SHUTDOWN_GRACE", "-1m", `KEYPLANE_SHUTDOWN_GRACE "-1m" is not a positive duration such as 30s`},
		{"KEYPLANE_SHUTDOWN_GRACE", "30", `KEYPLANE_SHUTDOWN_GRACE "30" is not a positive duration such as 30s`},
	} {
		serveErr, gatewayErr := readBoth(t, tt.name+"="+tt.value)
		require.EqualError(t, serveErr, tt.err, "serve")
		require.EqualError(t, gatewayErr, tt.err, "gateway")
	}
	for _, tt := range []struct {
		name, value string
		err         string
	}{
		{"KEYPLANE_JOB_TIMEOUT", "soon", `KEYPLANE_JOB_TIMEOUT "soon" is not a duration such as 30s`},
		{"KEYPLANE_RESCUE_AFTER", "-1m", `KEYPLANE_RESCUE_AFTER "-1m" is negative: give 0 or a duration such as 30s`},
		{"KEYPLANE_DEPLOY_DELAY", "1 minute", `KEYPLANE_DEPLOY_DELAY "1 minute" is not a duration such as 30s`},
		{"KEYPLANE_BODY_IDLE_TIMEOUT", "0s", `KEYPLANE_BODY_IDLE_TIMEOUT "0s" is not a positive duration such as 30s`},
		{"KEYPLANE_REQUEST_TIMEOUT", "forever", `KEYPLANE_REQUEST_TIMEOUT "forever" is not a positive duration such as 30s`},
	} {
		_, err := ReadServe(source(t, nil, tt.name+"="+tt.value))
		require.EqualError(t, err, tt.err)
	}
	for _, tt := range []struct {
		name, value string
		err         string
	}{
		{"KEYPLANE_GATEWAY_RESYNC", "soon", `KEYPLANE_GATEWAY_RESYNC "soon" is not a positive duration such as 30s`},
		{"KEYPLANE_GATEWAY_RESYNC", "0s", `KEYPLANE_GATEWAY_RESYNC "0s" is not a positive duration such as 30s`},
		{"KEYPLANE_GATEWAY_WRITE_TIMEOUT", "-5s", `KEYPLANE_GATEWAY_WRITE_TIMEOUT "-5s" is not a positive duration such as 30s`},
	} {
		_, err := ReadGateway(source(t, nil, tt.name+"="+tt.value))
		require.EqualError(t, err, tt.err)
	}

	s, err := ReadServe(source(t, nil, "KEYPLANE_JOB_TIMEOUT=5m", "KEYPLANE_RESCUE_AFTER=0s", "KEYPLANE_DEPLOY_DELAY=200ms",
		"KEYPLANE_SHUTDOWN_GRACE=90s", "KEYPLANE_HEADER_TIMEOUT=3s", "KEYPLANE_IDLE_TIMEOUT=1h"))
	require.NoError(t, err)
	require.Equal(t, 5*time.Minute, s.Config.JobTimeout)
	require.Zero(t, s.Config.RescueAfter, "0 means the default")
	require.Equal(t, 200*time.Millisecond, s.Config.ValidationDelay)
	require.Equal(t, 90*time.Second, s.Config.ShutdownTimeout)
	require.Equal(t, Timeouts{ReadHeader: 3 * time.Second, Idle: time.Hour}, s.Config.Timeouts)

	g, err := ReadGateway(source(t, nil, "KEYPLANE_GATEWAY_RESYNC=5s", "KEYPLANE_SHUTDOWN_GRACE=90s",
		"KEYPLANE_GATEWAY_BODY_TIMEOUT=1m", "KEYPLANE_BODY_TIMEOUT=2m"))
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, g.Config.Resync)
	require.Equal(t, 90*time.Second, g.Config.ShutdownTimeout)
	require.Equal(t, Timeouts{Read: time.Minute}, g.Config.Timeouts, "the gateway reads its own client limits")
}

// TestReadServe_CountAndSizeRules: sizes and counts are decimal numbers; 0
// turns a limit off (stored as -1, the fields' "no limit"), and a bad
// value is refused naming the variable.
func TestReadServe_CountAndSizeRules(t *testing.T) {
	s, err := ReadServe(source(t, nil, "KEYPLANE_QUOTA_ARCHIVE_BYTES=1048576", "KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY=0",
		"KEYPLANE_QUOTA_ALIASES=5", "KEYPLANE_MAX_CONNS_PER_ADDR=0", "KEYPLANE_MAX_CONCURRENT_UPLOADS=3", "KEYPLANE_KEEP_ARCHIVES=2"))
	require.NoError(t, err)
	require.EqualValues(t, 1048576, s.Config.Quotas.ArchiveBytes)
	require.Equal(t, -1, s.Config.Quotas.DeploymentsPerDay)
	require.Equal(t, 5, s.Config.AliasQuota)
	require.Equal(t, -1, s.Config.MaxConnsPerAddr)
	require.Equal(t, 3, s.Config.MaxConcurrentUploads)
	require.Equal(t, 2, s.Config.KeepArchives)

	s, err = ReadServe(source(t, nil, "KEYPLANE_QUOTA_ARCHIVE_BYTES=0", "KEYPLANE_QUOTA_ALIASES=0"))
	require.NoError(t, err)
	require.EqualValues(t, -1, s.Config.Quotas.ArchiveBytes)
	require.Equal(t, -1, s.Config.AliasQuota)

	for _, tt := range []struct{ kv, err string }{
		{"KEYPLANE_QUOTA_ARCHIVE_BYTES=10GiB", `KEYPLANE_QUOTA_ARCHIVE_BYTES "10GiB" is not a number (0 for no limit)`},
		{"KEYPLANE_QUOTA_ARCHIVE_BYTES=-1", `KEYPLANE_QUOTA_ARCHIVE_BYTES "-1" is not a number (0 for no limit)`},
		{"KEYPLANE_QUOTA_ALIASES=many", `KEYPLANE_QUOTA_ALIASES "many" is not a number (0 for no limit)`},
		{"KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY=1.5", `KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY "1.5" is not a number (0 for no limit)`},
		{"KEYPLANE_MAX_CONCURRENT_UPLOADS=0", `KEYPLANE_MAX_CONCURRENT_UPLOADS "0" is not a positive number`},
		{"KEYPLANE_KEEP_ARCHIVES=-3", `KEYPLANE_KEEP_ARCHIVES "-3" is not a positive number`},
		{"KEYPLANE_MAX_CONNS_PER_ADDR=lots", `KEYPLANE_MAX_CONNS_PER_ADDR "lots" is not a number of connections (0 for no limit)`},
	} {
		_, err := ReadServe(source(t, nil, tt.kv))
		require.EqualError(t, err, tt.err)
	}
	_, err = ReadGateway(source(t, nil, "KEYPLANE_GATEWAY_MAX_CONNS_PER_ADDR=-2"))
	require.EqualError(t, err, `KEYPLANE_GATEWAY_MAX_CONNS_PER_ADDR "-2" is not a number of connections (0 for no limit)`)
}

// TestRead_SharedVariablesRefusedAlike: what both commands read, both
// refuse with the same words, before touching any database.
func TestRead_SharedVariablesRefusedAlike(t *testing.T) {
	for _, tt := range []struct {
		vars []string
		err  string
	}{
		{[]string{"DATABASE_URL="}, "DATABASE_URL is not set"},
		{[]string{"KEYPLANE_MASTER_KEY=not a key"}, "KEYPLANE_MASTER_KEY: master key 1 is not valid base64"},
		{[]string{"KEYPLANE_LOG_FORMAT=xml"}, `KEYPLANE_LOG_FORMAT "xml" is not a format: use json or text`},
		{[]string{"KEYPLANE_LOG_LEVEL=loud"}, `KEYPLANE_LOG_LEVEL "loud" is not a level: use debug, info, warn or error`},
		{[]string{"KEYPLANE_GATEWAY_TARGETS_DENY=10.0.0.0/33"}, "KEYPLANE_GATEWAY_TARGETS_DENY: "},
		{[]string{"KEYPLANE_METRICS_ADDR=nowhere"}, `listen address "nowhere": `},
	} {
		serveErr, gatewayErr := readBoth(t, tt.vars...)
		require.ErrorContains(t, serveErr, tt.err, "serve, %v", tt.vars)
		require.ErrorContains(t, gatewayErr, tt.err, "gateway, %v", tt.vars)
		require.Equal(t, serveErr.Error(), gatewayErr.Error())
	}
}

// TestRead_TLSFiles: both commands load their certificate chain and key by
// one rule, refusing a missing file or a key of another certificate
// naming the two variables, and serve TLS 1.2 and newer only.
func TestRead_TLSFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	one := testcerts.New(t, testcerts.Options{CommonName: "localhost", DNSNames: []string{"localhost"}})
	other := testcerts.New(t, testcerts.Options{CommonName: "other"})
	cert, key, otherKey := write("c.pem", one.CertPEM()), write("k.pem", one.KeyPEM(t)), write("o.pem", other.KeyPEM(t))

	for _, cmd := range []struct {
		certVar, keyVar string
		read            func(Source) (*tls.Config, error)
	}{
		{"KEYPLANE_TLS_CERT", "KEYPLANE_TLS_KEY", func(src Source) (*tls.Config, error) {
			s, err := ReadServe(src)
			return s.Config.TLS, err
		}},
		{"KEYPLANE_GATEWAY_TLS_CERT", "KEYPLANE_GATEWAY_TLS_KEY", func(src Source) (*tls.Config, error) {
			s, err := ReadGateway(src)
			return s.Config.TLS, err
		}},
	} {
		prefix := cmd.certVar + "/" + cmd.keyVar + ": "
		cfg, err := cmd.read(source(t, nil, cmd.certVar+"="+cert, cmd.keyVar+"="+key))
		require.NoError(t, err)
		require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
		require.Len(t, cfg.Certificates, 1)
		require.Equal(t, one.Cert.Raw, cfg.Certificates[0].Certificate[0])

		_, err = cmd.read(source(t, nil, cmd.certVar+"="+filepath.Join(dir, "missing.pem"), cmd.keyVar+"="+key))
		require.ErrorContains(t, err, prefix)
		require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
		_, err = cmd.read(source(t, nil, cmd.certVar+"="+cert))
		require.ErrorContains(t, err, prefix, "a certificate without its key")
		_, err = cmd.read(source(t, nil, cmd.certVar+"="+cert, cmd.keyVar+"="+otherKey))
		require.ErrorContains(t, err, prefix+"tls: private key does not match public key")
	}
}

// TestRead_EveryVariableIsDocumented: every variable the two commands
// read appears in the README's settings tables (the gateway's client
// limits under their KEYPLANE_ names, as the README says).
func TestRead_EveryVariableIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)`(?:, `([A-Z_]+)`)? \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]], documented[m[2]] = true, true
	}
	var read []string
	src := source(t, nil)
	getenv := src.Getenv
	src.Getenv = func(name string) string { read = append(read, name); return getenv(name) }
	_, err = ReadServe(src)
	require.NoError(t, err)
	_, err = ReadGateway(src)
	require.NoError(t, err)
	require.Contains(t, read, "KEYPLANE_GATEWAY_RESYNC")
	for _, name := range slices.Compact(slices.Sorted(slices.Values(read))) {
		for _, limit := range []string{"_TIMEOUT", "MAX_CONNS_PER_ADDR"} {
			if strings.HasSuffix(name, limit) {
				name = strings.Replace(name, "KEYPLANE_GATEWAY_", "KEYPLANE_", 1)
			}
		}
		require.True(t, documented[name], "%s is read but not in the README's settings tables", name)
	}
}

// TestReadGateway_UpstreamKeepAliveSwitch: keep-alive to targets is on
// unless KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE says off, and a value that is
// neither is refused naming the variable.
func TestReadGateway_UpstreamKeepAliveSwitch(t *testing.T) {
	for value, disabled := range map[string]bool{"": false, "on": false, "TRUE": false, "off": true, " no ": true, "0": true} {
		s, err := ReadGateway(source(t, nil, "KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE="+value))
		require.NoError(t, err, value)
		require.Equal(t, disabled, s.Config.DisableUpstreamKeepAlives, value)
	}
	_, err := ReadGateway(source(t, nil, "KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE=sometimes"))
	require.EqualError(t, err, `KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE "sometimes": want on or off`)
}
