package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/server"
	"github.com/keyplane/keyplane/internal/servertest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// testBundle is what every test gets from setup: a running server and a
// client that speaks to it as an administrator.
type testBundle struct {
	srv *servertest.Server
	c   *client
}

func setup(t *testing.T) *testBundle { return setupWith(t, servertest.Options{}) }

// setupWith starts the server with options.
func setupWith(t *testing.T, opt servertest.Options) *testBundle {
	t.Helper()
	srv := servertest.StartWith(t, opt)
	return &testBundle{srv: srv, c: &client{t: t, base: srv.URL, token: srv.Token}}
}

// setupEnv also creates organization "myorg" and environment "dev" of the
// given proxy type.
func setupEnv(t *testing.T, proxyType string) *testBundle {
	t.Helper()
	b := setup(t)
	b.srv.CreateEnvironments(t, "myorg", api.Environment{Name: "dev", DeploymentType: api.DeploymentTypeArchive, APIProxyType: proxyType})
	return b
}

type client struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client // nil: http.DefaultClient
}

// response is an answer, read whole.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody decodes the {"error":{...}} body.
func (r *response) errorBody(t *testing.T) api.ErrorDetail {
	t.Helper()
	var e api.ErrorBody
	require.NoError(t, json.Unmarshal(r.Body, &e), string(r.Body))
	return e.Error
}

func (c *client) send(method, path, contentType string, body []byte) *response {
	c.t.Helper()
	return c.sendWith(method, path, contentType, body, nil)
}

// sendWith sends with extra request headers.
func (c *client) sendWith(method, path, contentType string, body []byte, header http.Header) *response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	require.NoError(c.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// do sends a JSON body (or none).
func (c *client) do(method, path, body string) *response {
	c.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return c.send(method, path, ct, []byte(body))
}

// ok sends and requires 200, returning the body.
func (c *client) ok(method, path, body string) []byte {
	c.t.Helper()
	r := c.do(method, path, body)
	require.Equal(c.t, http.StatusOK, r.Status, "%s %s: %s", method, path, r.Body)
	return r.Body
}

// fails sends and requires the given error answer.
func (c *client) fails(method, path, body string, status int, wantStatus, wantMessage string) {
	c.t.Helper()
	r := c.do(method, path, body)
	require.Equal(c.t, status, r.Status, "%s %s: %s", method, path, r.Body)
	e := r.errorBody(c.t)
	require.Equal(c.t, status, e.Code)
	require.Equal(c.t, wantStatus, e.Status)
	require.Equal(c.t, wantMessage, e.Message)
}

// multipartBody encodes parts as multipart/form-data, in the given order.
func multipartBody(t *testing.T, parts ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		fw, err := w.CreateFormFile(p[0], p[0]+".pem")
		require.NoError(t, err)
		_, err = fw.Write([]byte(p[1]))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return w.FormDataContentType(), buf.Bytes()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

// startConfigured starts a server on its own database with cfg (database,
// master key and token filled in), for tests that need settings servertest
// does not offer. stop ends Serve and returns its error; it is called at
// cleanup if the test did not.
func startConfigured(t *testing.T, cfg server.Config) (b *testBundle, stop func() error) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg.DatabaseURL = pgtest.URL(t)
	cfg.MasterKey = base64.StdEncoding.EncodeToString(key)
	cfg.AdminToken = server.NewToken()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.New(ctx, cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		_ = stop()
		app.Close()
	})
	srv := &servertest.Server{URL: "http://" + ln.Addr().String(), Token: cfg.AdminToken, DatabaseURL: cfg.DatabaseURL,
		MasterKey: cfg.MasterKey, App: app}
	return &testBundle{srv: srv, c: &client{t: t, base: srv.URL, token: srv.Token}}, stop
}

// sql opens a connection to the server's database, for a test that looks
// at or changes rows behind the server's back.
func (b *testBundle) sql(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), b.srv.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
