package httpapi_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

// BenchmarkReads measures what the server spends on the API's reads and on
// GET /healthz, in process over loopback, with the log formatted as
// `keyplane serve` formats it. It is where allocation counts (-benchmem)
// and CPU profiles (-cpuprofile) of a read come from; the figures of record
// are the out-of-process ones of `make bench`.
func BenchmarkReads(b *testing.B) {
	srv := servertest.StartWith(b, servertest.Options{Log: io.Discard})
	srv.CreateEnvironments(b, "myorg", api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeArchive, APIProxyType: "PROGRAMMABLE"})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func(method, path, contentType string, body []byte) []byte {
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %d %s %v", method, path, res.StatusCode, out, err)
		}
		return out
	}
	env := "/v1/organizations/myorg/environments/dev"
	send("POST", env+"/keystores", "application/json", []byte(`{"name":"ks"}`))
	root := testcerts.New(b, testcerts.Options{CommonName: "root", IsCA: true})
	inter := testcerts.New(b, testcerts.Options{CommonName: "inter", IsCA: true, Parent: root})
	leaf := testcerts.New(b, testcerts.Options{CommonName: "leaf", Parent: inter, RSA: true, DNSNames: []string{"api.example.com"}})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range [][2]string{{"certFile", string(testcerts.Chain(leaf, inter))}, {"keyFile", string(leaf.KeyPEM(b))}} {
		fw, _ := mw.CreateFormFile(p[0], p[0]+".pem")
		_, _ = fw.Write([]byte(p[1]))
	}
	_ = mw.Close()
	send("POST", env+"/keystores/ks/aliases?alias=a&format=keycertfile", mw.FormDataContentType(), body.Bytes())

	for _, c := range []struct{ name, path string }{
		{"healthz", "/healthz"},
		{"get_alias", env + "/keystores/ks/aliases/a"},
		{"get_keystore", env + "/keystores/ks"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					send("GET", c.path, "", nil)
				}
			})
		})
	}
}
