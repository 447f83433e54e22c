package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A name of 60 KB in a path is not echoed back whole.
func TestErrors_EchoedNamesAreClipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("x", 60000)
	r := b.c.do("GET", "/v1/organizations/"+long, "")
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Less(t, len(r.Body), 2500, "the answer does not carry the 60 KB name")
	require.Contains(t, r.errorBody(t).Message, "xxxx")
}

func TestErrors_UnknownRoutesWrongMethodsAndOversizedBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.c.do("GET", "/v1/nothing/here", "")
	require.Equal(t, 404, r.Status)
	require.Equal(t, "NOT_FOUND", r.errorBody(t).Status)
	r = b.c.do("GET", "/nothing", "")
	require.Equal(t, 404, r.Status)
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))

	// As Google's front end: the method and path select an API method, and
	// none matching is 404, never 405.
	r = b.c.do("PATCH", "/v1/organizations", "{}")
	require.Equal(t, 404, r.Status)
	require.Equal(t, "Method not found.", r.errorBody(t).Message)
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))

	big := fmt.Sprintf(`{"name":"x","pad":"%s"}`, strings.Repeat("a", 11<<20))
	b.c.fails("POST", "/v1/organizations", big, 413, "INVALID_ARGUMENT", "request body exceeds the limit of 10 MiB")
	require.JSONEq(t, `{"organizations":[]}`, string(b.c.ok("GET", "/v1/organizations", "")))
}
