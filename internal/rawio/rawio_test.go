package rawio_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/rawio"
)

// pair is a loopback TCP connection: the wrapped end and the other one.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	peer := <-accepted
	require.NotNil(t, peer)
	w := rawio.Wrap(c)
	_, ok := w.(*rawio.Conn)
	require.True(t, ok, "a TCP connection is wrapped")
	t.Cleanup(func() { _ = w.Close(); _ = peer.Close() })
	return w, peer
}

func TestConn_MovesBytesBothWaysLikeNetConn(t *testing.T) {
	t.Parallel()
	w, peer := pair(t)
	// More than the socket buffers hold: the write waits for the reader.
	big := make([]byte, 8<<20)
	_, _ = rand.Read(big)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	n, err := w.Write(big)
	require.NoError(t, err)
	require.Equal(t, len(big), n)
	require.NoError(t, w.(*rawio.Conn).CloseWrite())
	assert.True(t, bytes.Equal(big, <-got))

	_, err = peer.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, peer.Close())
	b, err := io.ReadAll(w)
	require.NoError(t, err, "the end of the stream is io.EOF")
	assert.Equal(t, "hello", string(b))
}

func TestConn_DeadlinesAndClosedConnectionsFailAsNetConnDoes(t *testing.T) {
	t.Parallel()
	w, _ := pair(t)
	require.NoError(t, w.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err := w.Read(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
	assert.Contains(t, err.Error(), "i/o timeout")

	require.NoError(t, w.Close())
	_, err = w.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = w.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestConn_UnixSocketsAndListeners(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	require.NoError(t, err)
	rl := rawio.Listen(ln)
	defer rl.Close()
	go func() {
		c, err := rl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, ok := c.(*rawio.Conn); !ok {
			return // the client then reads nothing: the test fails
		}
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("unix", ln.Addr().String())
	require.NoError(t, err)
	w := rawio.Wrap(c)
	defer w.Close()
	_, ok := w.(*rawio.Conn)
	require.True(t, ok, "a Unix stream connection is wrapped")
	_, err = w.Write([]byte("ping"))
	require.NoError(t, err)
	require.NoError(t, w.(*rawio.Conn).CloseWrite())
	b, err := io.ReadAll(w)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(b), "the accepted side is wrapped and echoes")
}

func TestWrap_LeavesOtherConnectionsAlone(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.Equal(t, a, rawio.Wrap(a))
}

func TestLook_SaysWhatASocketHoldsWithoutReadingIt(t *testing.T) {
	t.Parallel()
	w, peer := pair(t)
	rc, err := w.(*rawio.Conn).SyscallConn()
	require.NoError(t, err)
	assert.Equal(t, rawio.Empty, rawio.Look(rc))
	_, err = peer.Write([]byte("x"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return rawio.Look(rc) == rawio.Waiting }, time.Second, 5*time.Millisecond)
	require.Equal(t, rawio.Waiting, rawio.Look(rc), "a look reads nothing")
	b := make([]byte, 1)
	_, err = w.Read(b)
	require.NoError(t, err)
	require.NoError(t, peer.Close())
	require.Eventually(t, func() bool { return rawio.Look(rc) == rawio.Ended }, time.Second, 5*time.Millisecond)
}
