package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// errNginxUnavailable is why the comparison has no nginx half: none is
// installed and none could be.
var errNginxUnavailable = errors.New("nginx is not available")

// nginxDebianPath is where Debian's package puts nginx, which is not on
// every user's PATH.
const nginxDebianPath = "/usr/sbin/nginx"

// findNginx returns the nginx to run: explicit when it is set, else nginx
// on PATH, else Debian's. When there is none and install is set, it
// installs Debian's package with apt-get (as root only), telling log what
// it does. Every failure wraps errNginxUnavailable and says why.
func findNginx(ctx context.Context, explicit string, install bool, log io.Writer) (string, error) {
	if explicit != "" {
		if _, err := exec.LookPath(explicit); err != nil {
			return "", fmt.Errorf("%w: -nginx %s: %v", errNginxUnavailable, explicit, err)
		}
		return explicit, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath(nginxDebianPath); err == nil {
		return nginxDebianPath, nil
	}
	if !install {
		return "", fmt.Errorf("%w: not on PATH nor at %s, and installing it was not asked for", errNginxUnavailable, nginxDebianPath)
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: not on PATH nor at %s, and installing Debian's package needs root (run `apt-get install nginx` as root, or pass -nginx)", errNginxUnavailable, nginxDebianPath)
	}
	aptGet, err := exec.LookPath("apt-get")
	if err != nil {
		return "", fmt.Errorf("%w: not on PATH nor at %s, and there is no apt-get to install it with", errNginxUnavailable, nginxDebianPath)
	}
	apt := func(args ...string) error {
		fmt.Fprintf(log, "bench: nginx: apt-get %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, aptGet, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	install1 := []string{"install", "-y", "-q", "--no-install-recommends", "nginx"}
	if err := apt(install1...); err != nil {
		// A fresh machine may have no package lists yet.
		if err := apt("update", "-q"); err != nil {
			return "", fmt.Errorf("%w: apt-get update: %v", errNginxUnavailable, err)
		}
		if err := apt(install1...); err != nil {
			return "", fmt.Errorf("%w: apt-get install nginx: %v", errNginxUnavailable, err)
		}
	}
	if _, err := exec.LookPath(nginxDebianPath); err != nil {
		return "", fmt.Errorf("%w: apt-get installed nginx, but %s is not there", errNginxUnavailable, nginxDebianPath)
	}
	return nginxDebianPath, nil
}

// nginxVersion is what `nginx -v` says, such as "nginx/1.22.1".
func nginxVersion(ctx context.Context, path string) string {
	out, err := exec.CommandContext(ctx, path, "-v").CombinedOutput()
	if err != nil {
		return "unknown version"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
}

// nginxConf is what the benchmark's nginx configuration is made from.
type nginxConf struct {
	// Dir holds the pid file and the temporary folders.
	Dir string
	// Listen is the loopback address nginx listens on; Upstream the
	// backend's.
	Listen, Upstream string
	// BasePath is the proxy's base path, such as /hello: nginx strips it
	// as the gateway does, and answers 404 elsewhere.
	BasePath string
	// Files are the client certificate and key nginx presents and the CA
	// it trusts.
	Files mtlsFiles
	// User is the user of the worker processes, "" to leave nginx's
	// default; as root, the benchmark's temporary folder is root's only.
	User string
	// Connections is the upstream keep-alive pool, per worker; 0 turns
	// upstream keep-alive off (a new TLS connection per request, with
	// session resumption).
	Connections int
	// MaxConnections bounds each worker's connections, clients and
	// upstreams together; NoFile is the worker's open-file limit.
	MaxConnections, NoFile int
}

// nginxTemplate is nginx as a reverse proxy to the mutual TLS backend, set
// up as a production nginx would be for this: verified upstream TLS with a
// client certificate, session reuse, upstream keep-alive over HTTP/1.1, no
// access log. Both keep-alive limits are raised past any run, so that
// neither client nor upstream connections are closed every 1,000 requests
// (nginx's default): the gateway keeps its connections too, and the
// comparison is of proxying, not of reconnecting.
var nginxTemplate = template.Must(template.New("nginx.conf").Parse(`# Written by keyplane-bench: nginx in front of the benchmark's mTLS backend.
{{if .User}}user {{.User}};
{{end}}worker_processes auto;
worker_rlimit_nofile {{.NoFile}};
pid "{{.Dir}}/nginx.pid";
error_log stderr warn;

events {
    worker_connections {{.MaxConnections}};
}

http {
    access_log off;
    client_body_temp_path "{{.Dir}}/client_body";
    proxy_temp_path "{{.Dir}}/proxy";
    fastcgi_temp_path "{{.Dir}}/fastcgi";
    uwsgi_temp_path "{{.Dir}}/uwsgi";
    scgi_temp_path "{{.Dir}}/scgi";
    keepalive_requests 1000000000;
    keepalive_timeout 600s;

    upstream backend {
        server {{.Upstream}};
{{- if .Connections}}
        keepalive {{.Connections}};
        keepalive_requests 1000000000;
        keepalive_timeout 600s;
{{- end}}
    }

    server {
        listen {{.Listen}};

        location {{.BasePath}}/ {
            proxy_pass https://backend/;
            proxy_http_version 1.1;
{{- if .Connections}}
            proxy_set_header Connection "";
{{- end}}
            proxy_ssl_certificate "{{.Files.ClientCert}}";
            proxy_ssl_certificate_key "{{.Files.ClientKey}}";
            proxy_ssl_trusted_certificate "{{.Files.ServerCA}}";
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
`))

// render writes the configuration.
func (c nginxConf) render() (string, error) {
	if c.MaxConnections == 0 {
		c.MaxConnections = 4096
	}
	if c.NoFile == 0 {
		c.NoFile = 2 * c.MaxConnections
	}
	for _, s := range []string{c.Dir, c.Files.ClientCert, c.Files.ClientKey, c.Files.ServerCA} {
		// The paths are quoted in the configuration; a quote or a
		// backslash in one would end the string early.
		if strings.ContainsAny(s, "\"\\") {
			return "", fmt.Errorf("nginx configuration: path %q holds a quote or a backslash", s)
		}
	}
	var b bytes.Buffer
	if err := nginxTemplate.Execute(&b, c); err != nil {
		return "", err
	}
	return b.String(), nil
}

// startNginx writes the configuration into dir and runs nginx on it in the
// foreground (no system configuration, logs to its output), as its own
// process.
func startNginx(path string, conf nginxConf) (*serverProcess, error) {
	text, err := conf.render()
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(conf.Dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return startProcess([]string{path, "-p", conf.Dir, "-c", confPath, "-e", "stderr", "-g", "daemon off;"},
		nil, filepath.Join(conf.Dir, "nginx.log"), nil)
}

// waitAnswer sends GET url with Host: host until it is answered 200 with
// helloBody, and fails if p exits first or timeout passes; the error says
// what the last try got.
func waitAnswer(ctx context.Context, p *serverProcess, url, host string, timeout time.Duration) error {
	hc := newHTTPClient()
	hc.Timeout = 5 * time.Second
	defer hc.CloseIdleConnections()
	c := &client{http: hc, host: host}
	deadline := time.Now().Add(timeout)
	for {
		b, err := c.do(ctx, "GET", url, "", nil)
		if err == nil {
			if !bytes.Equal(b, helloBody) {
				return fmt.Errorf("GET %s (Host: %s) answered %q, not the backend's %q", url, host, b, helloBody)
			}
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v) before it answered", p.cmd.Path, p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET %s (Host: %s) not answered 200 within %s; last: %v", url, host, timeout, err)
		}
	}
}
