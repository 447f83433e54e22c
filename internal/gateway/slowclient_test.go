package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/servertest"
)

// A client that trickles its body through the gateway, one byte now and
// then, held a gateway connection and a backend connection for as long as
// it liked: now a pause longer than the body's idle timeout ends both.
func TestGatewaySlowClients_TrickledBodyIsCutOff(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	b := tenant(t, srv, "slow", "dev")
	backendDone := make(chan error, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		backendDone <- err
	}))
	t.Cleanup(be.Close)
	b.deploy(t, plainArchive(b.env, be.URL))
	g := servertest.StartGateway(t, srv, servertest.GatewayOptions{Timeouts: clientlimit.Timeouts{BodyIdle: 300 * time.Millisecond}})

	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /echo/upload HTTP/1.1\r\nHost: slow-dev.localhost\r\nContent-Length: 1000\r\n\r\nx")
	require.NoError(t, err)
	go func() {
		for range 1000 {
			time.Sleep(time.Second)
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-backendDone:
		require.Error(t, err, "the backend's request ends unfinished")
	case <-time.After(5 * time.Second):
		t.Fatal("the trickling client still holds a backend connection")
	}
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the gateway closes the client's connection")
}

// A request may last only so long, however slowly the target answers.
func TestGatewaySlowClients_RequestTimeoutAnswers504(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	b := tenant(t, srv, "stall", "dev")
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(be.Close)
	t.Cleanup(func() { close(release) })
	b.deploy(t, plainArchive(b.env, be.URL))
	g := servertest.StartGateway(t, srv, servertest.GatewayOptions{Timeouts: clientlimit.Timeouts{Request: 400 * time.Millisecond}})
	rg := &runningGateway{url: g.URL}
	start := time.Now()
	status, body, _ := rg.get(t, "stall-dev.localhost", "/echo/x")
	require.Equal(t, http.StatusGatewayTimeout, status)
	require.Equal(t, "upstream request timeout", body)
	require.Less(t, time.Since(start), 3*time.Second)
}
