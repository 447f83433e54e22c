package archive

import (
	"archive/zip"
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testzip"
)

// proxyBundleFiles is the programmable proxy "legacy" of testdata, laid out
// as an imported bundle: its apiproxy/ folder at the root.
func proxyBundleFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, content := range tree(t, "programmable") {
		if rest, ok := strings.CutPrefix(name, proxiesDir+"legacy/"); ok {
			out[rest] = content
		}
	}
	require.Contains(t, out, "apiproxy/targets/default.xml")
	return out
}

func TestReadProxyBundle_ParsesAsAnArchiveProxy(t *testing.T) {
	t.Parallel()
	files := proxyBundleFiles(t)
	files["apiproxy/policies/AM-1.xml"] = `<AssignMessage/>`
	files["apiproxy/policies/nested/ignored.xml"] = `<AssignMessage/>`
	files["apiproxy/resources/jsc/a.js"] = `1`
	pb, err := ReadProxyBundle(testzip.Files(t, files), "imported", DefaultLimits())
	require.NoError(t, err)

	// The same proxy, read from the archive, differs only by its name and
	// file paths.
	arc, err := bundleOf(t, tree(t, "programmable"))
	require.NoError(t, err)
	want := arc.Proxies[0]
	require.Equal(t, "imported", pb.Proxy.Name)
	require.Equal(t, want.TargetServerIDs, pb.Proxy.TargetServerIDs)
	require.Len(t, pb.Proxy.Endpoints, len(want.Endpoints))
	for i, ep := range pb.Proxy.Endpoints {
		require.Equal(t, "apiproxy/targets/"+ep.Name+".xml", ep.File)
		ep.File = want.Endpoints[i].File
		require.Equal(t, want.Endpoints[i], ep)
	}
	require.Equal(t, []string{"/legacy"}, pb.Basepaths)
	require.Equal(t, []string{"AM-1"}, pb.Policies)
	require.Equal(t, []string{"jsc://a.js"}, pb.Resources)
}

func TestReadProxyBundle_ErrorsNameFileLineAndColumn(t *testing.T) {
	t.Parallel()
	files := proxyBundleFiles(t)
	files["apiproxy/targets/default.xml"] = "<TargetEndpoint name=\"default\">\n  <HTTPTargetConnection>\n    <SSLInfo><Enabled>maybe</Enabled></SSLInfo>\n  </HTTPTargetConnection>\n</TargetEndpoint>"
	_, err := ReadProxyBundle(testzip.Files(t, files), "p", DefaultLimits())
	require.Error(t, err)
	require.Regexp(t, `^generic::invalid_argument: apiproxy/targets/default\.xml:3:\d+: `, keyplane.ErrorMessage(err))
}

func TestReadProxyBundle_RefusesHostileAndMisshapenZips(t *testing.T) {
	t.Parallel()
	good := proxyBundleFiles(t)
	raw := func(names ...string) []byte {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for _, n := range names {
			fw, err := w.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
			require.NoError(t, err)
			_, _ = fw.Write([]byte("<ProxyEndpoint/>"))
		}
		require.NoError(t, w.Close())
		return buf.Bytes()
	}
	for _, c := range []struct {
		name string
		zip  []byte
		lim  Limits
		want string
	}{
		{"traversal", raw("apiproxy/proxies/default.xml", "apiproxy/../../etc/passwd"), Limits{},
			`generic::invalid_argument: archive entry "apiproxy/../../etc/passwd" contains a ".." path segment`},
		{"absolute", raw("/apiproxy/proxies/default.xml"), Limits{},
			`generic::invalid_argument: archive entry "/apiproxy/proxies/default.xml" is an absolute path`},
		{"bomb", testzip.Overlapping(257, 1<<20), Limits{},
			`generic::invalid_argument: archive unpacks to more than the limit of 268435456 bytes (at entry "src/k256.bin")`},
		{"oversize", testzip.Files(t, good), Limits{MaxCompressed: 100},
			`generic::invalid_argument: archive is ` + strconv.Itoa(len(testzip.Files(t, good))) + ` bytes, more than the limit of 100 bytes`},
		{"big endpoint", testzip.Files(t, with(good, map[string]string{"apiproxy/proxies/default.xml": "<ProxyEndpoint>" + strings.Repeat(" ", 2000) + "</ProxyEndpoint>"})), Limits{MaxFileSize: 1000},
			`generic::invalid_argument: apiproxy/proxies/default.xml: file is larger than the limit of 1000 bytes`},
		{"wrapped", testzip.Files(t, map[string]string{"legacy/apiproxy/proxies/default.xml": "<ProxyEndpoint/>"}), Limits{},
			`generic::invalid_argument: bundle has no apiproxy/ folder (every entry is inside the folder "legacy/": zip the apiproxy folder itself)`},
		{"archive layout", testzip.Files(t, tree(t, "programmable")), Limits{},
			`generic::invalid_argument: bundle has no apiproxy/ folder`},
		{"no proxy endpoint", testzip.Files(t, map[string]string{"apiproxy/targets/default.xml": "<TargetEndpoint/>"}), Limits{},
			`generic::invalid_argument: bundle defines no proxy endpoint: expected apiproxy/proxies/*.xml`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadProxyBundle(c.zip, "p", c.lim)
			requireInvalid(t, err, c.want)
		})
	}
	_, err := ReadProxyBundle(testzip.Files(t, good), "../p", DefaultLimits())
	requireInvalid(t, err, `generic::invalid_argument: API proxy name "../p" is invalid`)
}
