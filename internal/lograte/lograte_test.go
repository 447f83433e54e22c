package lograte

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		out = append(out, m)
	}
	return out
}

func TestHandler_RepeatedErrorsPassOncePerWindow(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	h := New(slog.NewJSONHandler(&buf, nil), 10*time.Second)
	h.now = func() time.Time { return now }
	log := slog.New(h).With("component", "queue")
	down := errors.New("connection refused")

	for range 201 { // 20 a second for 10 seconds, and one more
		log.Error("fetch failed", "error", down)
		log.Info("tick")
		now = now.Add(50 * time.Millisecond)
	}
	log.Error("fetch failed", "error", errors.New("another failure"))
	log.Warn("fetch failed", "error", down)
	got := lines(t, &buf)
	var errs []map[string]any
	ticks := 0
	for _, l := range got {
		switch l["msg"] {
		case "tick":
			ticks++
		case "fetch failed":
			errs = append(errs, l)
		}
	}
	require.Equal(t, 201, ticks, "records below Warn are never dropped")
	// The first, the first after the window with the count, the other
	// error, and the same error at another level.
	require.Len(t, errs, 4)
	require.NotContains(t, errs[0], "suppressed")
	require.Equal(t, 199.0, errs[1]["suppressed"])
	require.Equal(t, "queue", errs[1]["component"])
	require.Equal(t, "another failure", errs[2]["error"])
	require.Equal(t, "WARN", errs[3]["level"])
}

func TestHandler_ForgetsOldRecordsPastItsBound(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	h := New(slog.NewJSONHandler(&buf, nil), time.Minute)
	h.now = func() time.Time { return now }
	for i := range maxKeys + 10 {
		_ = h.Handle(context.Background(), slog.NewRecord(now, slog.LevelError, "m"+string(rune('a'+i%26))+strings.Repeat("x", i), 0))
	}
	require.LessOrEqual(t, len(h.state.seen), maxKeys)
	require.Len(t, lines(t, &buf), maxKeys+10)
}
