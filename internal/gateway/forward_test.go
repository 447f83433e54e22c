package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/servertest"
)

// plainArchive is a configurable proxy /echo whose operations go to url.
func plainArchive(env, url string) map[string]string {
	return map[string]string{
		"src/main/apigee/apiproxies/echo/config.yaml": fmt.Sprintf(`apiVersion: apigee/v1
kind: ConfigurableProxy
basepath: /echo
target:
  uri: %s
operations:
  - id: any
    http_match:
      - path_template: "/**"
`, url),
		"src/main/apigee/environments/" + env + "/deployments.json": `{"proxies": [{"name": "echo"}]}`,
	}
}

// TestGateway_ForwardsLikeAProxy checks what passes and what does not:
// method, path, query and body pass; hop-by-hop fields do not; the
// X-Forwarded fields are set; trailers pass; a stream is passed on as it
// comes.
func TestGateway_ForwardsLikeAProxy(t *testing.T) {
	t.Parallel()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/base/stream":
			w.Header().Set("Content-Type", "text/plain")
			for i := range 3 {
				fmt.Fprintf(w, "tick %d\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(300 * time.Millisecond)
			}
			return
		case "/base/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Checksum", "abc")
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not pass")
		w.Header().Set("Keep-Alive", "timeout=5")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "uri": r.URL.RequestURI(), "host": r.Host, "body": string(body),
			"xff": r.Header.Get("X-Forwarded-For"), "xfh": r.Header.Get("X-Forwarded-Host"),
			"xfp": r.Header.Get("X-Forwarded-Proto"), "hop": r.Header.Get("X-Client-Hop"),
			"custom": r.Header.Get("X-Custom"), "ua": r.Header.Get("User-Agent"),
		})
	}))
	t.Cleanup(be.Close)
	b := setup(t, api.ProxyTypeConfigurable)
	b.deploy(t, plainArchive(b.env, be.URL+"/base"))
	g := b.startGateway(t)

	req, _ := http.NewRequest(http.MethodPost, g.url+"/echo/a%2Fb/c?q=1&r=%20", strings.NewReader("payload"))
	req.Host = "myorg-dev.localhost"
	req.Header.Set("Connection", "X-Client-Hop")
	req.Header.Set("X-Client-Hop", "must not pass")
	req.Header.Set("X-Custom", "passes")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "POST", got["method"])
	assert.Equal(t, "/base/a%2Fb/c?q=1&r=%20", got["uri"], "the client's escaping is kept")
	assert.Equal(t, strings.TrimPrefix(be.URL, "http://"), got["host"])
	assert.Equal(t, "payload", got["body"])
	assert.Equal(t, "203.0.113.7, 127.0.0.1", got["xff"])
	assert.Equal(t, "myorg-dev.localhost", got["xfh"])
	assert.Equal(t, "http", got["xfp"])
	assert.Empty(t, got["hop"], "fields the client's Connection names stay on its hop")
	assert.Equal(t, "passes", got["custom"])
	assert.Equal(t, "Go-http-client/1.1", got["ua"], "the client's own User-Agent")
	assert.Empty(t, resp.Header.Get("X-Hop"), "fields the target's Connection names stay on its hop")
	assert.Empty(t, resp.Header.Get("Keep-Alive"))

	// A client that asks to close its connection gets it closed, while
	// the gateway's connection to the target stays open.
	req, _ = http.NewRequest(http.MethodGet, g.url+"/echo/x", nil)
	req.Host = "myorg-dev.localhost"
	req.Close = true
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.True(t, resp.Close, "Connection: close is honoured on the client's hop")

	// Trailers pass.
	req, _ = http.NewRequest(http.MethodGet, g.url+"/echo/trailer", nil)
	req.Host = "myorg-dev.localhost"
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "body", string(body))
	assert.Equal(t, "abc", resp.Trailer.Get("X-Checksum"))

	// A stream arrives as it comes, not at its end.
	req, _ = http.NewRequest(http.MethodGet, g.url+"/echo/stream", nil)
	req.Host = "myorg-dev.localhost"
	start := time.Now()
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "tick 0\n", line)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "the first tick came before the stream ended")
	resp.Body.Close()
}

// TestGateway_TargetCutShortAbortsTheAnswer: a target that dies mid-body
// must not make a short answer look complete.
func TestGateway_TargetCutShortAbortsTheAnswer(t *testing.T) {
	t.Parallel()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "only part")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(be.Close)
	b := setup(t, api.ProxyTypeConfigurable)
	b.deploy(t, plainArchive(b.env, be.URL))
	g := b.startGateway(t)
	req, _ := http.NewRequest(http.MethodGet, g.url+"/echo/x", nil)
	req.Host = "myorg-dev.localhost"
	// Whether the head had left the gateway or not, the client sees the
	// answer broken.
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	require.Error(t, err)
	require.NotEmpty(t, g.logLines(t, "gateway upstream answer cut short"))
}

// TestGateway_UpgradedConnectionsPassBothWays: a client asking to switch
// protocols (WebSocket and the like) gets the target's connection, kept
// open past the request's deadlines, with bytes passing both ways.
func TestGateway_UpgradedConnectionsPassBothWays(t *testing.T) {
	t.Parallel()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = rw.WriteString("echo " + line)
			_ = rw.Flush()
		}
	}))
	t.Cleanup(be.Close)
	b := setup(t, api.ProxyTypeConfigurable)
	b.deploy(t, plainArchive(b.env, be.URL))
	g := servertest.StartGateway(t, b.srv, servertest.GatewayOptions{Timeouts: clientlimit.Timeouts{ReadHeader: 300 * time.Millisecond}})

	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "GET /echo/ws HTTP/1.1\r\nHost: myorg-dev.localhost\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	for _, msg := range []string{"one", "two"} {
		time.Sleep(400 * time.Millisecond) // past the head's deadline
		_, err = fmt.Fprintf(conn, "%s\n", msg)
		require.NoError(t, err)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "echo "+msg+"\n", line)
	}
}
