package testzip

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Tree reads the folder dir into a map from each file's path relative to
// dir, slash-separated as a zip names it, to its content: a source folder
// kept under testdata becomes an archive's files.
func Tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatalf("testzip: reading %s: %v", dir, err)
	}
	return files
}

// With returns a copy of files with changes applied: a file is replaced or
// added, or removed when its new content is empty.
func With(files, changes map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// Files zips files, deflated and in sorted order, so that the same files
// always give the same archive.
func Files(t testing.TB, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		f, err := w.Create(n)
		if err == nil {
			_, err = f.Write([]byte(files[n]))
		}
		if err != nil {
			t.Fatalf("testzip: writing %s: %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("testzip: %v", err)
	}
	return buf.Bytes()
}

// ProxyBundle is the zip of an apiproxy/ folder named hello: a proxy
// endpoint serving basePath that routes every request to one target
// endpoint, whose <HTTPTargetConnection> holds connection, with a policy
// and a resource beside them.
func ProxyBundle(t testing.TB, basePath, connection string) []byte {
	t.Helper()
	return Files(t, map[string]string{
		"apiproxy/hello.xml": `<APIProxy name="hello"><Basepaths>` + basePath + `</Basepaths></APIProxy>`,
		"apiproxy/proxies/default.xml": `<ProxyEndpoint name="default">
  <HTTPProxyConnection><BasePath>` + basePath + `</BasePath></HTTPProxyConnection>
  <RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule>
</ProxyEndpoint>`,
		"apiproxy/targets/default.xml": `<TargetEndpoint name="default">
  <HTTPTargetConnection>` + connection + `</HTTPTargetConnection>
</TargetEndpoint>`,
		"apiproxy/policies/AM-hello.xml":  `<AssignMessage name="AM-hello"/>`,
		"apiproxy/resources/jsc/hello.js": `print("hello")`,
	})
}
