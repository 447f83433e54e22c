package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/server"
	"github.com/keyplane/keyplane/internal/servertest"
)

// An unauthenticated client announces a large body and never sends it:
// with the default settings it is answered 401 at once and the connection
// is closed, instead of being held while the server waits for the body.
func TestSlowClients_UnauthenticatedBodyIsNotWaitedFor(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /v1/organizations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the server closes the connection")
	require.Less(t, time.Since(start), time.Second)
}

// A client that sends a byte of its body now and then is cut off once it
// pauses longer than the body's idle timeout, however long the body.
func TestSlowClients_BodyIdleTimeoutCutsOffATrickle(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{Timeouts: server.Timeouts{BodyIdle: 300 * time.Millisecond}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /v1/organizations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", srv.Token)
	require.NoError(t, err)
	start := time.Now()
	go func() {
		for range 50 {
			time.Sleep(time.Second)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _ = io.ReadAll(conn)
	require.Less(t, time.Since(start), 3*time.Second)
}

// One address may hold only so many connections at once.
func TestSlowClients_ConnectionsPerAddressAreLimited(t *testing.T) {
	t.Parallel()
	srv := servertest.StartWith(t, servertest.Options{MaxConnsPerAddr: 3})
	addr := strings.TrimPrefix(srv.URL, "http://")
	for range 3 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
	}
	extra, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer extra.Close()
	_, _ = fmt.Fprintf(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, extra.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, err := extra.Read(make([]byte, 1))
	require.Zero(t, n)
	require.Error(t, err)
	var ne net.Error
	if errors.As(err, &ne) {
		require.False(t, ne.Timeout(), "the fourth connection is closed at once")
	}
}
