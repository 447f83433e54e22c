package route

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/testzip"
)

// Paths of the sample environment's files, as the zip names them.
const (
	apigeeDir       = "src/main/apigee/"
	deploymentsPath = apigeeDir + "environments/dev/deployments.json"
	legacyDir       = apigeeDir + "apiproxies/legacy/apiproxy/"
	legacyProxyPath = legacyDir + "proxies/default.xml"
)

// tree reads the source folder testdata/{name} into a map from path (as
// the zip names it) to content.
func tree(t testing.TB, name string) map[string]string {
	return testzip.Tree(t, filepath.Join("testdata", name))
}

// with returns a copy of files with the given files replaced or added; an
// empty content removes the file.
func with(files, changes map[string]string) map[string]string { return testzip.With(files, changes) }

// bundleOf reads files as an archive and parses what it deploys to dev, as
// a deployment does.
func bundleOf(t testing.TB, files map[string]string) *archive.Bundle {
	t.Helper()
	a, err := archive.Read(testzip.Files(t, files), archive.DefaultLimits())
	require.NoError(t, err)
	b, err := a.Bundle("dev")
	require.NoError(t, err)
	return b
}

// compileEnv compiles the sample environment testdata/env.
func compileEnv(t testing.TB) *Table {
	t.Helper()
	table, err := Compile(bundleOf(t, tree(t, "env")))
	require.NoError(t, err)
	return table
}

// request builds a request for target ("/path?query") with the given
// headers, as a server hands it to its handler.
func request(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// requireInvalid asserts that err is an InvalidArgument *keyplane.Error
// whose message is exactly "generic::invalid_argument: " + want.
func requireInvalid(t testing.TB, err error, want string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err), "error %v", err)
	require.Equal(t, "generic::invalid_argument: "+want, keyplane.ErrorMessage(err))
}
