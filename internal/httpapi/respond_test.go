package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRespond_JSONAnswersCarryTheirLength checks that a JSON answer, small or
// larger than net/http's chunking buffer, is sent with its Content-Length in
// one piece, indented by two spaces and ended by a newline, and that HEAD
// gets the same length without the body.
func TestRespond_JSONAnswersCarryTheirLength(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 40 {
		b.c.ok("POST", "/v1/organizations", fmt.Sprintf(`{"name":"org-with-a-long-name-%02d"}`, i))
	}
	for _, path := range []string{"/v1/organizations/org-with-a-long-name-00", "/v1/organizations"} {
		r := b.c.do("GET", path, "")
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		require.Equal(t, strconv.Itoa(len(r.Body)), r.Header.Get("Content-Length"), path)
		require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
		var v any
		require.NoError(t, json.Unmarshal(r.Body, &v))
		var want bytes.Buffer
		require.NoError(t, json.Indent(&want, bytes.TrimSpace(r.Body), "", "  "))
		require.Equal(t, want.String()+"\n", string(r.Body), "two-space indentation and a final newline")
	}
	require.Greater(t, len(b.c.ok("GET", "/v1/organizations", "")), 2048, "the list is larger than net/http's chunking buffer")

	head := b.c.do("HEAD", "/healthz", "")
	require.Equal(t, http.StatusOK, head.Status)
	require.Empty(t, head.Body)
	require.Equal(t, strconv.Itoa(len(b.c.ok("GET", "/healthz", ""))), head.Header.Get("Content-Length"), "HEAD has the length of GET")
}
