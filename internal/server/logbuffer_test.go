package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/pgtest"
)

// logFile is a file for a buffered log, and a way to read it.
func logFile(t *testing.T) (*os.File, func() string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f, func() string {
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		return string(b)
	}
}

func TestBufferedLogger_LinesWaitAtMostTheInterval(t *testing.T) {
	f, read := logFile(t)
	log, err := NewBufferedLogger(f, "json", "", 20*time.Millisecond)
	require.NoError(t, err)
	log.Info("first")
	require.Eventually(t, func() bool { return strings.Contains(read(), `"msg":"first"`) }, 5*time.Second, 5*time.Millisecond,
		"a line is written within the interval, with no other line after it")
	log.Info("second")
	require.Eventually(t, func() bool { return strings.Contains(read(), `"msg":"second"`) }, 5*time.Second, 5*time.Millisecond)
}

func TestBufferedLogger_WarningsAndErrorsAreWrittenAtOnceAfterWhatCameBefore(t *testing.T) {
	f, read := logFile(t)
	log, err := NewBufferedLogger(f, "json", "", time.Hour)
	require.NoError(t, err)
	log.Info("before")
	require.Empty(t, read(), "an info line waits")
	log.Warn("trouble")
	lines := strings.Split(strings.TrimSpace(read()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], `"msg":"before"`)
	require.Contains(t, lines[1], `"msg":"trouble"`)
	log.With("k", "v").Error("worse")
	require.Contains(t, read(), `"msg":"worse","k":"v"`, "loggers derived with With flush too")
}

// countingWriter counts the writes it gets.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	data   strings.Builder
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.data.Write(p)
}

func TestLineBuffer_ManyLinesFewWritesNothingLostOrReordered(t *testing.T) {
	w := &countingWriter{}
	b := &lineBuffer{w: w, interval: time.Hour}
	var want strings.Builder
	for i := range 5000 {
		line := strings.Repeat("x", i%100) + "\n"
		want.WriteString(line)
		_, err := b.Write([]byte(line))
		require.NoError(t, err)
	}
	require.NoError(t, b.Flush())
	require.Equal(t, want.String(), w.data.String())
	require.Less(t, w.writes, 20, "%d lines in batches of %d bytes", 5000, logFlushSize)
	require.NoError(t, b.Flush())
	require.Equal(t, want.Len(), w.data.Len(), "a second flush writes nothing")
}

func TestServer_CloseWritesTheBufferedLines(t *testing.T) {
	f, read := logFile(t)
	log, err := NewBufferedLogger(f, "json", "", time.Hour)
	require.NoError(t, err)
	srv, err := New(context.Background(), Config{DatabaseURL: pgtest.URL(t), MasterKey: testKey, AdminToken: "tok", Log: log})
	require.NoError(t, err)
	log.Info("last words")
	require.NotContains(t, read(), "last words")
	srv.Close()
	require.Contains(t, read(), `"msg":"last words"`)
}
