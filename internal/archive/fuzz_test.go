package archive

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/fuzzcorpus"
	"github.com/keyplane/keyplane/internal/testzip"
)

// The fuzz targets get their seeds from testdata/fuzz/<target>/: the
// sample archives, traversal names, zip bombs, deeply nested JSON, YAML and
// XML, YAML alias bombs and XML entity expansion attempts. `go test` runs
// the seeds and checks them against TestWriteFuzzCorpus; `make fuzz`
// fuzzes; `go test -run TestWriteFuzzCorpus -update` regenerates them.

// fuzzLimits keep each fuzz run small.
var fuzzLimits = Limits{MaxUnpacked: 4 << 20, MaxEntries: 200, MaxFileSize: 256 << 10, MaxYAMLSize: 64 << 10}

// maxMessage bounds an error message, apart from the entry names it
// quotes, which the zip format bounds to 64 KiB each.
const maxMessage = 4096

// deployAll runs everything a deployment does with data, failing the test
// if anything panics, fails other than with an archive error, or gives a
// result that is not self-consistent.
func deployAll(t *testing.T, data []byte, maxNameLen int) {
	a, err := Read(data, fuzzLimits)
	if err != nil {
		requireArchiveError(t, err, maxNameLen)
		return
	}
	checkArchive(t, a)
	b, err := a.Bundle("dev")
	if err != nil {
		requireArchiveError(t, err, maxNameLen)
		return
	}
	checkBundle(t, b)
	again, err := a.Bundle("dev")
	if err != nil || !reflect.DeepEqual(b, again) {
		t.Fatalf("Bundle is not deterministic: %v", err)
	}
	s := snapshot()
	s.TargetServers = map[string]keyplane.TargetServer{}
	for _, name := range b.EnvTargetServerNames() {
		if !keyplane.ValidName(name) {
			t.Fatalf("EnvTargetServerNames returns the invalid name %q", name)
		}
		s.TargetServers[name] = keyplane.TargetServer{Name: name, SSLInfo: &keyplane.SSLInfo{Enabled: true, TrustStore: name}}
	}
	_ = b.Material(s.TargetServers, s.References).Keystores()
	_ = b.ReferenceNames(s.TargetServers)
	revisions := map[string]int{}
	for _, p := range b.Proxies {
		revisions[p.Name] = 1
	}
	res, err := Validate(b, s, revisions)
	res2, err2 := Validate(b, s, revisions)
	if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(res, res2) {
		t.Fatalf("Validate is not deterministic: %v / %v", err, err2)
	}
	if err != nil {
		requireArchiveError(t, err, maxNameLen)
	}
}

// requireArchiveError asserts that err is what the package documents: an
// InvalidArgument *keyplane.Error starting with "generic::invalid_argument: ",
// with a bounded, valid UTF-8 message.
func requireArchiveError(t *testing.T, err error, maxNameLen int) {
	t.Helper()
	msg := keyplane.ErrorMessage(err)
	if keyplane.ErrorCode(err) != keyplane.InvalidArgument || !strings.HasPrefix(msg, invalidPrefix) {
		t.Fatalf("not an archive error: %v", err)
	}
	if max := maxMessage + 4*maxNameLen; len(msg) > max {
		t.Fatalf("message is %d bytes, more than %d: %.300q", len(msg), max, msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("message is not valid UTF-8: %.300q", msg)
	}
}

// checkArchive asserts that what Read keeps is safe to use: clean relative
// names, sorted and unique, within the entry limit, and only parseable
// files kept.
func checkArchive(t *testing.T, a *Archive) {
	t.Helper()
	if len(a.names) > fuzzLimits.MaxEntries {
		t.Fatalf("%d entries kept, more than the limit", len(a.names))
	}
	if !sort.StringsAreSorted(a.names) {
		t.Fatal("names are not sorted")
	}
	for i, n := range a.names {
		if n == "" || path.Clean(n) != n || strings.HasPrefix(n, "/") || strings.Contains(n, "\\") ||
			n == ".." || strings.HasPrefix(n, "../") || strings.Contains(n, "/../") {
			t.Fatalf("unsafe name kept: %q", n)
		}
		if i > 0 && a.names[i-1] == n {
			t.Fatalf("name kept twice: %q", n)
		}
	}
	for n, data := range a.files {
		if !parsed(n) || int64(len(data)) > fuzzLimits.sizeLimit(n) {
			t.Fatalf("file %q (%d bytes) should not be kept", n, len(data))
		}
	}
	for n := range a.oversized {
		if !parsed(n) {
			t.Fatalf("oversized %q is not a parsed file", n)
		}
		if _, ok := a.files[n]; ok {
			t.Fatalf("%q is both kept and oversized", n)
		}
	}
}

// checkBundle asserts that a bundle is self-consistent: sorted, unique,
// valid names everywhere.
func checkBundle(t *testing.T, b *Bundle) {
	t.Helper()
	if b.Env != "dev" {
		t.Fatalf("Env = %q", b.Env)
	}
	sortedValid := func(what string, names []string) {
		t.Helper()
		for i, n := range names {
			if !keyplane.ValidName(n) {
				t.Fatalf("%s: invalid name %q", what, n)
			}
			if i > 0 && names[i-1] >= n {
				t.Fatalf("%s are not sorted and unique: %q", what, names)
			}
		}
	}
	var proxies []string
	for _, p := range b.Proxies {
		proxies = append(proxies, p.Name)
		sortedValid("target servers of "+p.Name, p.TargetServerIDs)
		var endpoints []string
		ids := map[string]bool{}
		for _, e := range p.Endpoints {
			endpoints = append(endpoints, e.Name)
			sortedValid("target servers of endpoint "+e.Name, e.TargetServerIDs)
			for _, id := range e.TargetServerIDs {
				ids[id] = true
			}
			if !strings.HasPrefix(e.File, proxiesDir+p.Name+"/apiproxy/targets/") {
				t.Fatalf("endpoint %q of %q comes from %q", e.Name, p.Name, e.File)
			}
		}
		sortedValid("endpoints of "+p.Name, endpoints)
		checkRouting(t, p)
		switch p.Type {
		case keyplane.ProxyTypeConfigurable:
			if len(p.Endpoints) > 0 || len(p.ProxyEndpoints) > 0 {
				t.Fatalf("configurable proxy %q has endpoints", p.Name)
			}
		case keyplane.ProxyTypeProgrammable:
			if p.BasePath != "" || p.DefaultTarget != nil || len(p.Operations) > 0 {
				t.Fatalf("programmable proxy %q has configurable routing", p.Name)
			}
			if !reflect.DeepEqual(sortedKeys(ids), p.TargetServerIDs) {
				t.Fatalf("proxy %q: target servers %q are not those of its endpoints", p.Name, p.TargetServerIDs)
			}
		default:
			t.Fatalf("proxy %q has type %q", p.Name, p.Type)
		}
	}
	sortedValid("proxies", proxies)
	for name, ts := range b.TargetServers {
		if name != ts.Name || !keyplane.ValidName(name) {
			t.Fatalf("target server %q is named %q", name, ts.Name)
		}
	}
}

// checkRouting asserts that what routing reads of p is what Bundle
// documents: clean base paths, templates that parse, a target for every
// operation, and route rules naming endpoints that exist.
func checkRouting(t *testing.T, p Proxy) {
	t.Helper()
	clean := func(base string) {
		t.Helper()
		if base == "" {
			return
		}
		if c, problem := CleanBasePath(base); problem != "" || c != base {
			t.Fatalf("proxy %q: base path %q is not clean: %q %s", p.Name, base, c, problem)
		}
	}
	clean(p.BasePath)
	for _, op := range p.Operations {
		if op.Target == nil && p.DefaultTarget == nil {
			t.Fatalf("proxy %q: operation %q has no target", p.Name, op.ID)
		}
		for _, m := range op.Matches {
			if _, err := ParsePathTemplate(m.PathTemplate); err != nil {
				t.Fatalf("proxy %q: template %q: %v", p.Name, m.PathTemplate, err)
			}
			if m.Method != strings.ToUpper(m.Method) {
				t.Fatalf("proxy %q: method %q is not upper case", p.Name, m.Method)
			}
		}
	}
	targets := map[string]bool{}
	for _, e := range p.Endpoints {
		targets[e.Name] = true
	}
	var names []string
	for _, e := range p.ProxyEndpoints {
		names = append(names, e.Name)
		clean(e.BasePath)
		if !strings.HasPrefix(e.File, proxiesDir+p.Name+"/apiproxy/proxies/") {
			t.Fatalf("proxy endpoint %q of %q comes from %q", e.Name, p.Name, e.File)
		}
		for _, r := range e.RouteRules {
			if r.TargetEndpoint != "" && !targets[r.TargetEndpoint] {
				t.Fatalf("proxy %q: rule %q names the missing endpoint %q", p.Name, r.Name, r.TargetEndpoint)
			}
			if r.TargetEndpoint != "" && r.URL != "" {
				t.Fatalf("proxy %q: rule %q has both a target endpoint and a URL", p.Name, r.Name)
			}
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("proxy endpoints of %q are not sorted and unique: %q", p.Name, names)
		}
	}
}

// maxEntryNameLen returns the length of the longest entry name data's
// central directory could hold.
func maxEntryNameLen(data []byte) int {
	if bytes.Contains(data, []byte("PK\x01\x02")) {
		return 0xffff
	}
	return 0
}

func FuzzRead(f *testing.F) {
	f.Add(testzip.Files(f, tree(f, "configurable")))
	f.Add(testzip.Files(f, tree(f, "programmable")))
	f.Add(craftZip(f, rawEntry{name: "../evil", content: []byte("x")}))
	f.Add(craftZip(f, rawEntry{name: "src/main/apigee/environments/dev/deployments.json", content: make([]byte, 8<<20)}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte("not a zip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		deployAll(t, data, maxEntryNameLen(data))
	})
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
		deployAll(t, testzip.Files(t, files), len(legacyTargetPath))
	})
}

// FuzzRouting fuzzes what routing reads: a ProxyEndpoint of the
// programmable proxy and the config.yaml of the configurable one.
func FuzzRouting(f *testing.F) {
	f.Add(routingSeeds[0][1], routingSeeds[0][2])
	f.Fuzz(func(t *testing.T, proxy, config string) {
		files := with(tree(t, "programmable"), tree(t, "configurable"))
		files = with(files, map[string]string{
			deploymentsPath: `["mtls","legacy"]`,
			legacyProxyPath: proxy,
			mtlsConfigPath:  config,
		})
		deployAll(t, testzip.Files(t, files), len(legacyProxyPath))
	})
}

// routingSeeds are the seeds of FuzzRouting: a name, a ProxyEndpoint and a
// config.yaml.
var routingSeeds = [][3]string{
	{"samples", "<ProxyEndpoint name=\"default\">\n  <HTTPProxyConnection><BasePath>/legacy</BasePath></HTTPProxyConnection>\n  <RouteRule name=\"plain\"><Condition>request.verb = \"GET\"</Condition><TargetEndpoint>plain</TargetEndpoint></RouteRule>\n  <RouteRule name=\"url\"><Condition>proxy.pathsuffix ~/ \"/x/**\"</Condition><URL>https://x.example.com/x</URL></RouteRule>\n  <RouteRule name=\"null\"><Condition>request.verb = \"OPTIONS\"</Condition></RouteRule>\n  <RouteRule name=\"default\"><TargetEndpoint>default</TargetEndpoint></RouteRule>\n</ProxyEndpoint>",
		"basepath: /mtls/\ntarget:\n  uri: https://mocktarget.apigee.net/v1\noperations:\n  - id: get\n    http_match:\n      - path_template: \"/users/{id}/{rest=**}\"\n        method: get\n      - pathTemplate: /\n    target:\n      target_server_id: mtlstarget-docs\n  - name: any\n    httpMatch: [{path_template: \"/v1/{name=shelves/*}/*\"}]\n"},
	{"templates-broken", "<ProxyEndpoint><RouteRule><TargetEndpoint>ghost</TargetEndpoint></RouteRule></ProxyEndpoint>",
		"basepath: /a//b\noperations:\n  - http_match:\n      - path_template: \"/{a={b}}/**/x\"\n        method: \"G E T\"\n"},
	{"base-paths-broken", "<ProxyEndpoint><HTTPProxyConnection><BasePath>/*/%zz/..</BasePath><BasePath/></HTTPProxyConnection></ProxyEndpoint>",
		"basepath: [/a]\ntarget: {uri: 'ftp://x'}\n"},
	{"rules-broken", "<ProxyEndpoint><RouteRule name=\"r\"><TargetEndpoint>plain</TargetEndpoint><URL>http://x</URL><Condition/><Condition/></RouteRule></ProxyEndpoint>",
		"operations:\n  - id: x\n    http_match: /x\n"},
	{"deep-and-long", "<ProxyEndpoint>" + strings.Repeat("<RouteRule><Condition>"+strings.Repeat("(", 50)+"</Condition></RouteRule>", 50) + "</ProxyEndpoint>",
		"basepath: /x\ntarget: {uri: 'http://x'}\noperations:\n" + strings.Repeat("  - http_match: [{path_template: \"/"+strings.Repeat("{a}/", 1)+strings.Repeat("x/", 200)+"**\"}]\n", 50)},
	{"invalid-utf8-element-name", "<ProxyEndpoint><RouteRule><Conditi\xdfon>true</Conditi\xdfon></RouteRule></ProxyEndpoint>", "basepath: /mtls\n"},
	{"entities-and-cdata", "<ProxyEndpoint><HTTPProxyConnection><BasePath><![CDATA[/le]]>gacy</BasePath></HTTPProxyConnection><RouteRule><Condition>a &lt; 1 &amp;&amp; b &gt; \"&#x2F;\"</Condition></RouteRule></ProxyEndpoint>",
		"basepath: \"/caf%C3%A9\"\noperations: []\n"},
}

// ---------------------------------------------------------------- limits

// measure runs f and returns its error, the time it took and the bytes it
// allocated. Tests that use it are not parallel, so that the memory they
// measure is their own.
func measure(f func() error) (error, time.Duration, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return err, elapsed, after.TotalAlloc - before.TotalAlloc
}

// bundleErr reads files as an archive within lim and parses what it
// deploys to dev.
func bundleErr(t *testing.T, files map[string]string, lim Limits) func() error {
	data := testzip.Files(t, files)
	return func() error {
		a, err := Read(data, lim)
		if err != nil {
			return err
		}
		_, err = a.Bundle("dev")
		return err
	}
}

// xmlEntityBomb is the "billion laughs" of XML: entities that expand to a
// billion "lol"s, and an external entity that would read a local file.
// encoding/xml expands neither: a document that uses an entity it does not
// know is refused.
const xmlEntityBomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<TargetEndpoint name="default">
 <HTTPTargetConnection><SSLInfo><KeyStore>&lol9;</KeyStore></SSLInfo></HTTPTargetConnection>
</TargetEndpoint>
`

const xmlExternalEntity = `<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<TargetEndpoint name="default">
 <HTTPTargetConnection><URL>&xxe;</URL></HTTPTargetConnection>
</TargetEndpoint>
`

// deepBillionLaughs expands to 9^12 values: far past the value budget.
var deepBillionLaughs = func() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	for i := 1; i <= 12; i++ {
		r := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.Repeat(r+",", 8)+r)
	}
	return b.String()
}()

func TestLimits_HostileFilesAreRefusedWithinBounds(t *testing.T) {
	conf := tree(t, "configurable")
	prog := tree(t, "programmable")
	values := "[" + strings.Repeat("0,", maxValues) + "0]"
	elements := "<TargetEndpoint>" + strings.Repeat("<a/>", maxValues) + "</TargetEndpoint>"
	longText := "<TargetEndpoint><HTTPTargetConnection><SSLInfo><KeyStore>" + strings.Repeat("k", maxTextSize+1) +
		"</KeyStore></SSLInfo></HTTPTargetConnection></TargetEndpoint>"
	longName := "<TargetEndpoint><" + strings.Repeat("n", 100_000) + "></x></TargetEndpoint>"
	tests := []struct {
		name     string
		files    map[string]string
		lim      Limits
		want     string
		maxAlloc uint64 // bytes
	}{
		{
			name:     "JSON with too many values",
			files:    with(conf, map[string]string{deploymentsPath: values}),
			want:     fmt.Sprintf("%s:1:%d: more than 200000 values", deploymentsPath, 2*maxValues),
			maxAlloc: 128 << 20,
		},
		{
			name:     "JSON nested past encoding/json's own limit",
			files:    with(conf, map[string]string{deploymentsPath: strings.Repeat("[", 8<<20)}),
			want:     deploymentsPath + ":1:10001: invalid character '[' exceeded max depth",
			maxAlloc: 64 << 20,
		},
		{
			name:     "YAML nested past the YAML parser's own limit",
			files:    with(conf, map[string]string{mtlsConfigPath: strings.Repeat("[", 256<<10)}),
			want:     mtlsConfigPath + ":1: exceeded max depth of 10000",
			maxAlloc: 32 << 20,
		},
		{
			name:     "YAML alias bomb twelve levels deep",
			files:    with(conf, map[string]string{mtlsConfigPath: deepBillionLaughs}),
			want:     mtlsConfigPath + ":1:30: more than 200000 values once aliases are expanded",
			maxAlloc: 64 << 20,
		},
		{
			name:     "YAML with a long unknown anchor",
			files:    with(conf, map[string]string{mtlsConfigPath: "a: *" + strings.Repeat("x", 100_000) + "\n"}),
			want:     mtlsConfigPath + ": unknown anchor '" + strings.Repeat("x", 184) + "…",
			maxAlloc: 8 << 20,
		},
		{
			name:     "YAML over its size limit",
			files:    with(conf, map[string]string{mtlsConfigPath: "basepath: /x\n" + strings.Repeat("# padding\n", 30000)}),
			want:     mtlsConfigPath + ": file is larger than the limit of 262144 bytes",
			maxAlloc: 8 << 20,
		},
		{
			name:     "XML with too many elements",
			files:    with(prog, map[string]string{legacyTargetPath: elements}),
			want:     fmt.Sprintf("%s:1:%d: more than 200000 elements", legacyTargetPath, 17+4*(maxValues-1)),
			maxAlloc: 128 << 20,
		},
		{
			name:     "XML nested 1 MiB deep",
			files:    with(prog, map[string]string{legacyTargetPath: "<TargetEndpoint>" + strings.Repeat("<a>", 1<<20/3)}),
			want:     legacyTargetPath + ":1:314: nested more than 100 levels deep",
			maxAlloc: 16 << 20,
		},
		{
			name:     "XML text too long",
			files:    with(prog, map[string]string{legacyTargetPath: longText}),
			want:     legacyTargetPath + ":1:48: <KeyStore> is longer than 65536 bytes",
			maxAlloc: 8 << 20,
		},
		{
			name:     "XML entity expansion",
			files:    with(prog, map[string]string{legacyTargetPath: xmlEntityBomb}),
			want:     legacyTargetPath + ":15:49: invalid character entity &lol9;",
			maxAlloc: 4 << 20,
		},
		{
			name:     "XML external entity",
			files:    with(prog, map[string]string{legacyTargetPath: xmlExternalEntity}),
			want:     legacyTargetPath + ":4:34: invalid character entity &xxe;",
			maxAlloc: 4 << 20,
		},
		{
			name:     "XML with a long element name in its syntax error",
			files:    with(prog, map[string]string{legacyTargetPath: longName}),
			want:     legacyTargetPath + ":1:100023: element <" + strings.Repeat("n", 191) + "…",
			maxAlloc: 8 << 20,
		},
		{
			name:     "XML over the file size limit",
			files:    with(prog, map[string]string{legacyTargetPath: "<TargetEndpoint/>" + strings.Repeat(" ", 2000)}),
			lim:      Limits{MaxFileSize: 1000},
			want:     legacyTargetPath + ": file is larger than the limit of 1000 bytes",
			maxAlloc: 4 << 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, elapsed, alloc := measure(bundleErr(t, tt.files, tt.lim))
			t.Logf("refused in %v, allocating %d KiB", elapsed, alloc>>10)
			requireInvalid(t, err, invalidPrefix+tt.want)
			require.Less(t, elapsed, 5*time.Second, "time taken")
			require.Less(t, alloc, tt.maxAlloc, "bytes allocated")
			require.LessOrEqual(t, len(keyplane.ErrorMessage(err)), maxMessage)
		})
	}
}

func TestLimits_OverlappingZipBombIsCountedPerEntry(t *testing.T) {
	bomb := testzip.Overlapping(100, 1<<20) // 100 MiB from a few kilobytes
	require.Less(t, len(bomb), 16<<10)
	err, elapsed, alloc := measure(func() error {
		_, err := Read(bomb, Limits{MaxUnpacked: 32 << 20})
		return err
	})
	requireInvalid(t, err, invalidPrefix+`archive unpacks to more than the limit of 33554432 bytes (at entry "src/k032.bin")`)
	require.Less(t, elapsed, 5*time.Second, "time taken")
	require.Less(t, alloc, uint64(16<<20), "bytes allocated")

	// Within the limits, the same archive is read: the entries are
	// legitimate zip, only their sharing of data is hostile.
	a, err := Read(testzip.Overlapping(3, 1<<10), DefaultLimits())
	require.NoError(t, err)
	require.Len(t, a.names, 3)
}

func TestLimits_EntryNamesInMessagesAreClipped(t *testing.T) {
	long := strings.Repeat("x", 60_000)
	_, err := Read(craftZip(t, rawEntry{name: "../" + long, content: []byte("x")}), DefaultLimits())
	requireInvalid(t, err, invalidPrefix+`archive entry "../`+long[:197]+`…" contains a ".." path segment`)
}

// ---------------------------------------------------------------- corpus

// TestWriteFuzzCorpus holds testdata/fuzz to the seeds below, and
// regenerates it with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if fuzzcorpus.Updating() {
		require.NoError(t, os.RemoveAll(filepath.Join("testdata", "fuzz")))
	}
	conf := tree(t, "configurable")
	prog := tree(t, "programmable")
	ok := []byte(`["mtls"]`)

	const fr = "FuzzRead"
	fuzzcorpus.Write(t, fr, "configurable", testzip.Files(t, conf))
	fuzzcorpus.Write(t, fr, "programmable", testzip.Files(t, prog))
	wrapped := map[string]string{}
	for k, v := range conf {
		wrapped["project/"+k] = v
	}
	fuzzcorpus.Write(t, fr, "wrapped-in-a-folder", testzip.Files(t, wrapped))
	for name, entry := range map[string]string{
		"traversal-dotdot":        "../evil",
		"traversal-inside":        "src/main/apigee/../../../evil",
		"traversal-absolute":      "/etc/cron.d/evil",
		"traversal-backslash":     `..\..\evil`,
		"traversal-drive-letter":  "C:/Windows/evil",
		"traversal-control-char":  "src/evil\x00.json",
		"traversal-parsed-dotdot": "src/main/apigee/environments/dev/../dev/deployments.json",
	} {
		fuzzcorpus.Write(t, fr, name, craftZip(t, rawEntry{name: entry, content: ok}))
	}
	fuzzcorpus.Write(t, fr, "symlink", craftZip(t, rawEntry{name: "src/main/apigee/environments/dev/deployments.json", content: []byte("/etc/passwd"), mode: os.ModeSymlink | 0o777}))
	fuzzcorpus.Write(t, fr, "duplicate-after-cleaning", craftZip(t, rawEntry{name: "src/a.json", content: ok}, rawEntry{name: "src/./a.json", content: ok}))
	fuzzcorpus.Write(t, fr, "zip-bomb-parsed-file", craftZip(t, rawEntry{name: "src/main/apigee/environments/dev/deployments.json", content: make([]byte, 300<<10)}))
	fuzzcorpus.Write(t, fr, "zip-bomb-overlapping", testzip.Overlapping(6, 1<<20))
	fuzzcorpus.Write(t, fr, "size-understated", craftZip(t, rawEntry{name: "src/big.bin", content: make([]byte, 64<<10), claimed: 100}))
	fuzzcorpus.Write(t, fr, "size-overstated", craftZip(t, rawEntry{name: "src/small.bin", content: []byte("tiny"), claimed: 1 << 40}))
	fuzzcorpus.Write(t, fr, "oversized-yaml", testzip.Files(t, with(conf, map[string]string{mtlsConfigPath: "basepath: /x\n" + strings.Repeat("#\n", 40<<10)})))
	fuzzcorpus.Write(t, fr, "empty-zip", []byte("PK\x05\x06"+strings.Repeat("\x00", 18)))
	fuzzcorpus.Write(t, fr, "truncated", testzip.Files(t, conf)[:300])
	fuzzcorpus.Write(t, fr, "not-a-zip", []byte("not a zip"))

	const fb = "FuzzBundle"
	dep, cfg, srv, tgt := conf[deploymentsPath], conf[mtlsConfigPath], conf[targetServersPath], prog[legacyTargetPath]
	both := `{"proxies":["mtls",{"name":"legacy"}],"sharedflows":[]}`
	fuzzcorpus.Write(t, fb, "samples", both, cfg, srv, tgt)
	fuzzcorpus.Write(t, fb, "json-nested-deep", strings.Repeat("[", 2000)+strings.Repeat("]", 2000), cfg, srv, tgt)
	fuzzcorpus.Write(t, fb, "json-nested-objects", strings.Repeat(`{"proxies":`, 150)+`[]`+strings.Repeat("}", 150), cfg, srv, tgt)
	fuzzcorpus.Write(t, fb, "json-lenient-values", dep, cfg, `[{"NAME":"mtlstarget-docs","port":"443","isEnabled":"TRUE","sslinfo":{"enabled":"true","commonName":{"value":"x","wildcardMatch":"false"}}}]`, tgt)
	fuzzcorpus.Write(t, fb, "json-huge-numbers", dep, cfg, `[{"name":"a","port":1e999999999},{"name":"b","port":"99999999999999999999"}]`, tgt)
	fuzzcorpus.Write(t, fb, "json-bom-crlf", "\xef\xbb\xbf[\r\n\"mtls\"\r\n]", cfg, "\xef\xbb\xbf"+srv, tgt)
	fuzzcorpus.Write(t, fb, "json-invalid-utf8", "[\"mtl\xff\"]", cfg, "[{\"name\":\"\xc3\"}]", tgt)
	fuzzcorpus.Write(t, fb, "yaml-billion-laughs", dep, billionLaughs, srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-billion-laughs-12-levels", dep, deepBillionLaughs, srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-alias-loop", dep, "a: &a [*a]\ntarget: *a\n", srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-merge-keys", dep, "base: &b {target_server_id: mtlstarget-docs}\ntarget:\n  <<: *b\noperations:\n  - target: {<<: *b}\n", srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-alias-as-key", dep, "k: &k target\n*k : {uri: 'https://x'}\n? [a, b]\n: c\n", srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-nested-deep", dep, strings.Repeat("- ", 300)+"x\n", srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-flow-nested-deep", dep, strings.Repeat("{a: ", 1000)+strings.Repeat("}", 1000), srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-tags-and-anchors", dep, "%TAG !e! tag:example.com,2000:\n---\ntarget: !e!t {target_server_id: !!str 1}\n...\n---\nsecond: doc\n", srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-unknown-anchor", dep, "target: *"+strings.Repeat("n", 500)+"\n", srv, tgt)
	fuzzcorpus.Write(t, fb, "yaml-utf16", dep, "\xff\xfet\x00a\x00r\x00g\x00e\x00t\x00:\x00 \x00x\x00\n\x00", srv, tgt)
	fuzzcorpus.Write(t, fb, "xml-entity-bomb", both, cfg, srv, xmlEntityBomb)
	fuzzcorpus.Write(t, fb, "xml-external-entity", both, cfg, srv, xmlExternalEntity)
	fuzzcorpus.Write(t, fb, "xml-nested-deep", both, cfg, srv, "<TargetEndpoint>"+strings.Repeat("<HTTPTargetConnection>", 200)+"</TargetEndpoint>")
	fuzzcorpus.Write(t, fb, "xml-long-element-name", both, cfg, srv, "<TargetEndpoint><"+strings.Repeat("n", 3000)+"></x></TargetEndpoint>")
	fuzzcorpus.Write(t, fb, "xml-namespaces-cdata", both, cfg, srv, `<?xml version="1.0" encoding="UTF-8"?><t:TargetEndpoint xmlns:t="urn:x" name="default"><HTTPTargetConnection><SSLInfo><Enabled><![CDATA[true]]></Enabled><KeyStore>ref://ks<!-- c --></KeyStore><KeyAlias>a</KeyAlias><CommonName wildcardMatch="TRUE">x</CommonName></SSLInfo><LoadBalancer><Server name="s1"/><Server name="s1"/></LoadBalancer></HTTPTargetConnection></t:TargetEndpoint>`)
	fuzzcorpus.Write(t, fb, "xml-encoding-latin1", both, cfg, srv, `<?xml version="1.0" encoding="ISO-8859-1"?><TargetEndpoint/>`)
	fuzzcorpus.Write(t, fb, "xml-two-roots", both, cfg, srv, "<TargetEndpoint/><TargetEndpoint/>")
	fuzzcorpus.Write(t, fb, "all-empty", "", "", "", "")

	for _, seed := range routingSeeds {
		fuzzcorpus.Write(t, "FuzzRouting", seed[0], seed[1], seed[2])
	}
}
