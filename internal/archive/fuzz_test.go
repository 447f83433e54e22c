package archive

import (
	"strings"
	"testing"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

// fuzzLimits keep each fuzz run small.
var fuzzLimits = Limits{MaxUnpacked: 4 << 20, MaxEntries: 200, MaxFileSize: 256 << 10, MaxYAMLSize: 64 << 10}

// deployAll runs everything a deployment does with data, failing the test
// if anything panics or fails other than with an archive error.
func deployAll(t *testing.T, data []byte) {
	a, err := Read(data, fuzzLimits)
	if err != nil {
		requireArchiveError(t, err)
		return
	}
	b, err := a.Bundle("dev")
	if err != nil {
		requireArchiveError(t, err)
		return
	}
	s := snapshot()
	s.TargetServers = map[string]api.TargetServer{}
	for _, name := range b.EnvTargetServerNames() {
		s.TargetServers[name] = api.TargetServer{Name: name, SSLInfo: &api.TLSInfo{Enabled: true, TrustStore: name}}
	}
	_ = b.KeystoreNames(s.TargetServers, s.References)
	_ = b.ReferenceNames(s.TargetServers)
	revisions := map[string]int{}
	for _, p := range b.Proxies {
		revisions[p.Name] = 1
	}
	if _, err := Validate(b, s, revisions); err != nil {
		requireArchiveError(t, err)
	}
}

func requireArchiveError(t *testing.T, err error) {
	t.Helper()
	if keyplane.ErrorCode(err) != keyplane.InvalidArgument || !strings.HasPrefix(keyplane.ErrorMessage(err), "generic::invalid_argument: ") {
		t.Fatalf("not an archive error: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(zipOf(f, tree(f, "configurable")))
	f.Add(zipOf(f, tree(f, "programmable")))
	f.Add(craftZip(f, rawEntry{name: "../evil", content: []byte("x")}))
	f.Add(craftZip(f, rawEntry{name: "src/main/apigee/environments/dev/deployments.json", content: make([]byte, 8<<20)}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte("not a zip"))
	f.Fuzz(deployAll)
}

// FuzzBundle fuzzes the parsed files themselves, which random zip bytes
// rarely reach.
func FuzzBundle(f *testing.F) {
	conf := tree(f, "configurable")
	prog := tree(f, "programmable")
	f.Add(conf[deploymentsPath], conf[mtlsConfigPath], conf[targetServersPath], prog[legacyTargetPath])
	f.Add(`["mtls","legacy"]`, billionLaughs, `[{"name":"x","sSLInfo":{"enabled":"true","protocols":["1.1"]}}]`, "<TargetEndpoint><HTTPTargetConnection><SSLInfo><CommonName/></SSLInfo></HTTPTargetConnection></TargetEndpoint>")
	f.Add(`{"proxies":[{"name":"mtls"}]}`, "a: &a [*a]", "[", "<TargetEndpoint>")
	f.Fuzz(func(t *testing.T, deployments, config, servers, target string) {
		files := map[string]string{
			deploymentsPath:   deployments,
			mtlsConfigPath:    config,
			targetServersPath: servers,
			legacyTargetPath:  target,
			"src/main/apigee/apiproxies/legacy/apiproxy/legacy.xml": "<APIProxy/>",
		}
		deployAll(t, zipOf(t, files))
	})
}
