package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testzip"
)

// deployResult deploys files to b's environment and returns the finished
// operation, successful or not.
func (b *testBundle) deployResult(t *testing.T, files map[string]string) *api.Operation {
	t.Helper()
	ctx := context.Background()
	uri, err := b.api.GenerateUploadURL(ctx, b.org, b.env)
	require.NoError(t, err)
	require.NoError(t, b.api.UploadArchive(ctx, uri, strings.NewReader(string(testzip.Files(t, files)))))
	op, err := b.api.CreateArchiveDeployment(ctx, b.org, b.env, uri, nil)
	require.NoError(t, err)
	id := op.Name[strings.LastIndex(op.Name, "/")+1:]
	require.Eventually(t, func() bool {
		op, err = b.api.GetOperation(ctx, b.org, id)
		require.NoError(t, err)
		return op.Done
	}, 20*time.Second, 20*time.Millisecond)
	return op
}

// A deployer points targets at the management API itself, at loopback
// and at the metadata address: with the default fence every such
// deployment fails, naming the target and why.
func TestTargetFence_DeploymentNamingFencedTargetsFails(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{StrictTargets: true})
	b := tenant(t, srv, "fenced", "dev")
	apiHostPort := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct{ target, want string }{
		{srv.URL, `proxy "echo" target "default": target ` + apiHostPort + ` is not allowed: it is the management API's own listen address`},
		{"http://127.0.0.2:9", `target 127.0.0.2:9 is not allowed: a loopback address, refused unless KEYPLANE_GATEWAY_TARGETS_ALLOW allows it`},
		{"http://localhost:9", `target localhost is not allowed: a loopback name`},
		{"http://[::1]:9", `target [::1]:9 is not allowed: a loopback address`},
		{"http://169.254.169.254/computeMetadata/v1/", `target 169.254.169.254:80 is not allowed: a metadata address`},
		{"http://169.254.10.1/", `a link-local address`},
		{"http://metadata.google.internal/", `target metadata.google.internal is not allowed: a metadata name`},
		{"http://[::ffff:127.0.0.1]:9", `a loopback address`},
	} {
		op := b.deployResult(t, plainArchive(b.env, tc.target))
		require.NotNil(t, op.Error, "deploying a target at %s must fail", tc.target)
		require.Equal(t, 3, op.Error.Code)
		require.Contains(t, op.Error.Message, tc.want, tc.target)
		require.True(t, strings.HasPrefix(op.Error.Message, "generic::invalid_argument: "))
	}

	// A target server of the environment is checked as well.
	_, err := b.api.CreateTargetServer(context.Background(), b.org, b.env, api.TargetServer{Name: "meta", Host: "169.254.169.254", Port: 80})
	require.NoError(t, err)
	op := b.deployResult(t, configurableArchiveUsing(b.env, "meta"))
	require.NotNil(t, op.Error)
	require.Contains(t, op.Error.Message, `proxy "mtls" target server "meta": target 169.254.169.254:80 is not allowed: a metadata address`)
}

// configurableArchiveUsing is a configurable proxy at /mtls whose target
// is the environment's target server name.
func configurableArchiveUsing(env, name string) map[string]string {
	files := configurableArchive(env, 1, "")
	delete(files, "src/main/apigee/environments/"+env+"/targetservers.json")
	files["src/main/apigee/apiproxies/mtls/config.yaml"] = strings.ReplaceAll(files["src/main/apigee/apiproxies/mtls/config.yaml"], "mtlstarget-docs", name)
	return files
}

// The operator's lists change the default: an allowed range is reachable,
// a denied one never is, even where the default would allow it.
func TestTargetFence_OperatorListsAllowAndDeny(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{StrictTargets: true, TargetsAllow: "127.0.0.0/8", TargetsDeny: "10.0.0.0/8,.internal.example"})
	b := tenant(t, srv, "lists", "dev")
	be := plainBackend(t, "allowed")
	op := b.deployResult(t, plainArchive(b.env, be))
	require.Nil(t, op.Error, "127.0.0.0/8 is allowed: %+v", op.Error)
	for target, want := range map[string]string{
		"http://10.1.2.3/":                                 "target 10.1.2.3:80 is not allowed: KEYPLANE_GATEWAY_TARGETS_DENY refuses it",
		"http://api.internal.example/":                     "target api.internal.example is not allowed: KEYPLANE_GATEWAY_TARGETS_DENY refuses it",
		"http://" + strings.TrimPrefix(srv.URL, "http://"): "the management API's own listen address",
	} {
		op := b.deployResult(t, plainArchive(b.env, target))
		require.NotNil(t, op.Error, target)
		require.Contains(t, op.Error.Message, want)
	}
	g := b.startGateway(t)
	status, body, _ := g.get(t, "lists-dev.localhost", "/echo/x")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "allowed", body)
}

// The gateway checks the address it dials, after DNS resolution: a target
// that passed at deployment (here: under a more lenient server) but now
// leads to a fenced address is not connected to, and the answer is the
// same as for any port that cannot be reached.
func TestTargetFence_GatewayRefusesFencedAddressAtConnectTime(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	b := tenant(t, srv, "rebind", "dev")
	be := plainBackend(t, "must not be reached")
	b.deploy(t, plainArchive(b.env, strings.Replace(be, "127.0.0.1", "localhost", 1)))
	strict, err := egress.Parse("", "")
	require.NoError(t, err)
	logs := &servertest.LogBuffer{}
	g := &runningGateway{Gateway: servertest.StartGateway(t, srv, servertest.GatewayOptions{Log: logs, Targets: strict}), log: logs}
	g.url = g.Gateway.URL
	status, body, _ := g.get(t, "rebind-dev.localhost", "/echo/x")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", body)
	lines := g.logLines(t, "gateway upstream connection failed")
	require.NotEmpty(t, lines)
	require.Contains(t, fmt.Sprint(lines[0]["error"]), "is not allowed")
}
