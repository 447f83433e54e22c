package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// helloBody is what the backend answers, the seeds' "Hello world!".
var helloBody = []byte(`{"message":"Hello world!"}`)

// backendBanner starts the line the backend prints once it listens; its
// address follows.
const backendBanner = "keyplane-bench backend serving on https://"

// RunBackend is `keyplane-bench backend`: the mutual TLS backend that the
// gateway and nginx both proxy to in the benchmark. It answers every
// request with {"message":"Hello world!"} over HTTPS on a loopback address
// (-addr), with the certificate -cert and key -key, and requires a client
// certificate signed by -client-ca. It offers HTTP/1.1 only, with
// keep-alive: nginx speaks HTTP/1.1 to its upstreams, so offering HTTP/2
// would let one proxy use a protocol the other cannot. Once listening it
// prints one line, backendBanner and its address, on out; it serves until
// ctx is done.
func RunBackend(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keyplane-bench backend", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	certFile := fs.String("cert", "", "PEM file of the server certificate")
	keyFile := fs.String("key", "", "PEM file of the server certificate's key")
	clientCAFile := fs.String("client-ca", "", "PEM file of the CA that client certificates must chain to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *certFile == "" || *keyFile == "" || *clientCAFile == "" {
		return errors.New("backend: -cert, -key and -client-ca are required")
	}
	if err := checkLoopback(*addr); err != nil {
		return fmt.Errorf("backend: -addr: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	caPEM, err := os.ReadFile(*clientCAFile)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("backend: -client-ca %s holds no PEM certificate", *clientCAFile)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(helloBody)))
			_, _ = w.Write(helloBody)
		}),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		},
		// A non-nil empty map turns net/http's automatic HTTP/2 off.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: time.Minute,
		// Longer than any run, so that pooled upstream connections stay
		// open for both proxies alike.
		IdleTimeout: 10 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	fmt.Fprintf(out, "%s%s\n", backendBanner, ln.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("backend: %w", err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// checkLoopback refuses an address whose host is not a loopback IP: the
// benchmark sends traffic nowhere else.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback IP address", host)
	}
	return nil
}

// mtls is the mutual TLS of the benchmark's upstream: the backend's server
// certificate (for localhost and 127.0.0.1) under one CA, and the client
// certificate that both proxies present under another CA, which the
// backend requires. Every key is EC P-256, so handshakes cost little;
// with keep-alive they are rare anyway.
type mtls struct {
	serverCA, server, clientCA, client *issued
}

func newMTLS() (*mtls, error) {
	serverCA, err := issue(false, "keyplane bench backend CA", true, nil)
	if err != nil {
		return nil, err
	}
	server, err := issue(false, "localhost", false, serverCA, func(t *x509.Certificate) {
		t.DNSNames = []string{"localhost"}
		t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	if err != nil {
		return nil, err
	}
	clientCA, err := issue(false, "keyplane bench client CA", true, nil)
	if err != nil {
		return nil, err
	}
	client, err := issue(false, "keyplane-bench-client", false, clientCA, func(t *x509.Certificate) {
		t.DNSNames = nil
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	if err != nil {
		return nil, err
	}
	return &mtls{serverCA: serverCA, server: server, clientCA: clientCA, client: client}, nil
}

// mtlsFiles are the PEM files of an mtls: the backend's (its certificate,
// key and the client CA) and the proxies' (the client certificate followed
// by its CA, the client key, and the backend's CA to trust).
type mtlsFiles struct {
	ServerCert, ServerKey, ClientCA string
	ClientCert, ClientKey, ServerCA string
}

// write writes the files into dir, keys readable by their owner only.
func (m *mtls) write(dir string) (mtlsFiles, error) {
	f := mtlsFiles{
		ServerCert: filepath.Join(dir, "backend-cert.pem"),
		ServerKey:  filepath.Join(dir, "backend-key.pem"),
		ClientCA:   filepath.Join(dir, "client-ca.pem"),
		ClientCert: filepath.Join(dir, "client-cert.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
		ServerCA:   filepath.Join(dir, "backend-ca.pem"),
	}
	serverKey, err := keyPEM(m.server.key)
	if err != nil {
		return mtlsFiles{}, err
	}
	clientKey, err := keyPEM(m.client.key)
	if err != nil {
		return mtlsFiles{}, err
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.ServerCert, certPEM(m.server.cert), 0o644},
		{f.ServerKey, serverKey, 0o600},
		{f.ClientCA, certPEM(m.clientCA.cert), 0o644},
		{f.ClientCert, append(certPEM(m.client.cert), certPEM(m.clientCA.cert)...), 0o644},
		{f.ClientKey, clientKey, 0o600},
		{f.ServerCA, certPEM(m.serverCA.cert), 0o644},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return mtlsFiles{}, err
		}
	}
	return f, nil
}

// backend is the mTLS backend running as its own process.
type backend struct {
	proc  *serverProcess
	Addr  string
	Port  int
	Files mtlsFiles
	TLS   *mtls
}

// startBackend generates the mutual TLS material into dir, starts argv
// (keyplane-bench backend, or a stand-in) with env and the flags that point
// it at the files, on a free loopback port it picks itself, and waits until
// it listens.
func startBackend(ctx context.Context, argv, env []string, dir string) (*backend, error) {
	m, err := newMTLS()
	if err != nil {
		return nil, fmt.Errorf("backend certificates: %w", err)
	}
	files, err := m.write(dir)
	if err != nil {
		return nil, err
	}
	args := append(append([]string{}, argv...),
		"-addr", "127.0.0.1:0", "-cert", files.ServerCert, "-key", files.ServerKey, "-client-ca", files.ClientCA)
	watch := newLineWatch(backendBanner)
	p, err := startProcess(args, env, filepath.Join(dir, "backend.log"), watch)
	if err != nil {
		return nil, err
	}
	line, err := p.waitLine(ctx, watch, 30*time.Second)
	if err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("backend: %w\n%s", err, p.logTail(20))
	}
	addr := strings.TrimSpace(line[strings.Index(line, backendBanner)+len(backendBanner):])
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("backend printed %q: %w", line, err)
	}
	port, _ := strconv.Atoi(portText)
	return &backend{proc: p, Addr: addr, Port: port, Files: files, TLS: m}, nil
}

// clientTLS is the TLS configuration of a client of the backend that
// presents the client certificate and trusts the backend's CA: what both
// proxies are set up with, for checking the backend directly.
func (b *backend) clientTLS() *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(b.TLS.serverCA.cert)
	return &tls.Config{
		RootCAs:    roots,
		ServerName: "localhost",
		Certificates: []tls.Certificate{{
			Certificate: [][]byte{b.TLS.client.cert.Raw, b.TLS.clientCA.cert.Raw},
			PrivateKey:  b.TLS.client.key,
		}},
		MinVersion: tls.VersionTLS12,
	}
}
