package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// logOnce logs one debug and one info line through a logger built for the
// write end of a pipe, and returns what came out.
func logOnce(t *testing.T, format, level string) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	log, err := NewLogger(w, format, level)
	require.NoError(t, err)
	log.Debug("quiet", "k", "v")
	log.Info("hello", "k", "v")
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(out)
}

func TestNewLogger_JSONOffATerminalTextOnOne(t *testing.T) {
	t.Parallel()
	// A pipe is not a terminal: JSON, at info level.
	out := logOnce(t, "", "")
	require.Equal(t, 1, strings.Count(out, "\n"), out)
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &line), out)
	require.Equal(t, "hello", line["msg"])
	require.Equal(t, "v", line["k"])

	out = logOnce(t, "text", "debug")
	require.Contains(t, out, "level=DEBUG msg=quiet k=v")
	require.Contains(t, out, "level=INFO msg=hello k=v")
	require.Equal(t, 1, strings.Count(logOnce(t, "json", "WARN")+"\n", "\n"), "warn hides info")

	// A character device, as a terminal is, gets text.
	tty, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer tty.Close()
	log, err := NewLogger(tty, "", "")
	require.NoError(t, err)
	require.IsType(t, &slog.TextHandler{}, log.Handler())

	_, err = NewLogger(tty, "xml", "")
	require.EqualError(t, err, `KEYPLANE_LOG_FORMAT "xml" is not a format: use json or text`)
	_, err = NewLogger(tty, "", "loud")
	require.EqualError(t, err, `KEYPLANE_LOG_LEVEL "loud" is not a level: use debug, info, warn or error`)
}
