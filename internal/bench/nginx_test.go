package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNginxConf_Render_ProxiesToTheBackendOverVerifiedMutualTLS(t *testing.T) {
	t.Parallel()
	conf := nginxConf{
		Dir: "/tmp/kb/nginx", Listen: "127.0.0.1:8080", Upstream: "127.0.0.1:9443", BasePath: "/hello",
		Files: mtlsFiles{ClientCert: "/tmp/kb/client-cert.pem", ClientKey: "/tmp/kb/client-key.pem", ServerCA: "/tmp/kb/backend-ca.pem"},
		User:  "root", Connections: 64,
	}
	got, err := conf.render()
	require.NoError(t, err)
	require.Equal(t, `# Written by keyplane-bench: nginx in front of the benchmark's mTLS backend.
user root;
worker_processes auto;
worker_rlimit_nofile 8192;
pid "/tmp/kb/nginx/nginx.pid";
error_log stderr warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path "/tmp/kb/nginx/client_body";
    proxy_temp_path "/tmp/kb/nginx/proxy";
    fastcgi_temp_path "/tmp/kb/nginx/fastcgi";
    uwsgi_temp_path "/tmp/kb/nginx/uwsgi";
    scgi_temp_path "/tmp/kb/nginx/scgi";
    keepalive_requests 1000000000;
    keepalive_timeout 600s;

    upstream backend {
        server 127.0.0.1:9443;
        keepalive 64;
        keepalive_requests 1000000000;
        keepalive_timeout 600s;
    }

    server {
        listen 127.0.0.1:8080;

        location /hello/ {
            proxy_pass https://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_certificate "/tmp/kb/client-cert.pem";
            proxy_ssl_certificate_key "/tmp/kb/client-key.pem";
            proxy_ssl_trusted_certificate "/tmp/kb/backend-ca.pem";
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }

        location / {
            return 404;
        }
    }
}
`, got)

	conf.User = ""
	got, err = conf.render()
	require.NoError(t, err)
	require.NotContains(t, got, "user ")
	require.Contains(t, got, "# Written by keyplane-bench: nginx in front of the benchmark's mTLS backend.\nworker_processes auto;\n")

	// Without upstream keep-alive: no pool, and nginx's default
	// Connection: close towards the backend.
	conf.Connections, conf.MaxConnections, conf.NoFile = 0, 16384, 20000
	got, err = conf.render()
	require.NoError(t, err)
	require.Contains(t, got, "    upstream backend {\n        server 127.0.0.1:9443;\n    }\n")
	require.NotContains(t, got, "keepalive 64")
	require.NotContains(t, got, `proxy_set_header Connection ""`)
	require.Contains(t, got, "worker_rlimit_nofile 20000;\n")
	require.Contains(t, got, "worker_connections 16384;\n")
}

func TestNginxConf_Render_PathThatWouldEndItsQuotedString_IsRefused(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{`/tmp/a"b`, `/tmp/a\b`} {
		_, err := nginxConf{Dir: dir, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", BasePath: "/hello", Connections: 1}.render()
		require.EqualError(t, err, fmt.Sprintf("nginx configuration: path %q holds a quote or a backslash", dir))
	}
}

func TestFindNginx_ExplicitPathMissing_IsUnavailable(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nginx")
	_, err := findNginx(context.Background(), missing, true, io.Discard)
	require.ErrorIs(t, err, errNginxUnavailable)
	require.ErrorContains(t, err, "-nginx "+missing)
}

// testNginx returns the installed nginx, or skips the test: tests do not
// install packages (`make bench` does, or `apt-get install nginx`).
func testNginx(t *testing.T) string {
	t.Helper()
	path, err := findNginx(context.Background(), "", false, io.Discard)
	if err != nil {
		t.Skipf("nginx is not installed, so the comparison's nginx half is not tested (apt-get install nginx): %v", err)
	}
	return path
}

// startTestNginx runs nginx in front of be for a test, trusting serverCA.
func startTestNginx(t *testing.T, path string, be *backend, serverCA string) (addr string, p *serverProcess) {
	t.Helper()
	listen, err := freeAddr()
	require.NoError(t, err)
	files := be.Files
	files.ServerCA = serverCA
	conf := nginxConf{Dir: t.TempDir(), Listen: listen, Upstream: be.Addr, BasePath: gwBasePath, Files: files, Connections: 8}
	if os.Geteuid() == 0 {
		conf.User = "root"
	}
	p, err = startNginx(path, conf)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	return listen, p
}

func TestNginx_InFrontOfTheMTLSBackend_ServesTheLoadWithoutErrors(t *testing.T) {
	t.Parallel()
	path := testNginx(t)
	be := startTestBackend(t)
	addr, p := startTestNginx(t, path, be, be.Files.ServerCA)
	ctx := context.Background()
	require.NoError(t, waitAnswer(ctx, p, "http://"+addr+helloPath, gwHost, 10*time.Second), p.logTail(20))

	res, err := load{Addr: addr, Host: gwHost, Path: helloPath, Expect: helloBody, Connections: 8, Warmup: 200 * time.Millisecond, Duration: time.Second}.
		run(ctx, &proxyProbe{proxyPID: p.cmd.Process.Pid, backendPID: be.proc.cmd.Process.Pid})
	require.NoError(t, err)
	require.Zero(t, res.Errors+res.WarmupErrors, res.ErrorSummary())
	require.Positive(t, res.Stats.N)
	require.Positive(t, res.Stats.RPS())
	require.Zero(t, res.Reconnects, "nginx keeps client connections for the whole run")
	// nginx's master does no proxying: its workers' CPU is counted.
	require.Positive(t, res.CPU.proxy)
	require.Positive(t, res.CPU.backend)

	// A new client connection per request, and no upstream keep-alive:
	// every request still answered, each on its own connection.
	fresh, err := load{Addr: addr, Host: gwHost, Path: helloPath, Expect: helloBody, Connections: 4, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, NewConnections: true}.
		run(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, fresh.Errors+fresh.WarmupErrors, fresh.ErrorSummary())
	require.Positive(t, fresh.Stats.N)

	// Outside the base path nginx answers 404, as the gateway does.
	hc := &http.Client{Timeout: 5 * time.Second}
	out, err := hc.Get("http://" + addr + "/elsewhere")
	require.NoError(t, err)
	out.Body.Close()
	require.Equal(t, http.StatusNotFound, out.StatusCode)
}

func TestNginx_BackendNotTrusted_AnswersBadGateway(t *testing.T) {
	t.Parallel()
	path := testNginx(t)
	be := startTestBackend(t)
	// Trust another CA than the backend's: proxy_ssl_verify must refuse it.
	other, err := newMTLS()
	require.NoError(t, err)
	otherFiles, err := other.write(t.TempDir())
	require.NoError(t, err)
	addr, p := startTestNginx(t, path, be, otherFiles.ServerCA)
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := hc.Get("http://" + addr + helloPath)
		if err == nil {
			res.Body.Close()
			require.Equal(t, http.StatusBadGateway, res.StatusCode)
			break
		}
		require.True(t, time.Now().Before(deadline), "nginx not listening after 10s: %v\n%s", err, p.logTail(20))
		time.Sleep(20 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return strings.Contains(p.logTail(20), "certificate verify") },
		5*time.Second, 20*time.Millisecond, "nginx's log names the failed verification:\n%s", p.logTail(20))
}
