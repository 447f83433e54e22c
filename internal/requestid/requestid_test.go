package requestid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/requestid"
)

func TestValid_AcceptsCommonIDFormsOnly(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"6b7dbb09-fa01-4cb1-8c3f-9393027b3d92", "0af7651916cd43dd8448eb211c80319c", "Zm9vYmFy+/==", "Root=1-5759e988:x@y",
		"a", strings.Repeat("z", requestid.MaxLen), requestid.New(),
	} {
		require.True(t, requestid.Valid(id), "%q", id)
	}
	for _, id := range []string{
		"", strings.Repeat("z", requestid.MaxLen+1), "a\nb", "a\rb", "a b", "a\tb", `a"b`, "a'b", `a\b`, "a,b", "a;b",
		"<a>", "caf\u00e9", "a\x00b", "a\x7fb",
	} {
		require.False(t, requestid.Valid(id), "%q", id)
	}
}

func TestHandler_AddsTheContextsRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(requestid.Handler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	log.InfoContext(requestid.With(context.Background(), "req-1"), "with")
	log.InfoContext(context.Background(), "without")
	log.Info("no context")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	var with, without map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &with))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &without))
	require.Equal(t, "req-1", with["request_id"])
	require.Equal(t, "test", with["component"])
	require.NotContains(t, without, "request_id")
	require.NotContains(t, lines[2], "request_id")
}
