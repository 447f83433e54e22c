package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/httpapi"
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

// indentSeeds are compact JSON texts with what indentation must get right:
// empty and nested containers, escaped quotes and backslashes in strings,
// punctuation inside strings.
var indentSeeds = []string{
	`{}`, `[]`, `[{}]`, `{"a":[]}`, `{"a":{},"b":[[],[{}]]}`, `"x"`, `1`, `null`,
	`{"q":"say \"hi\", {then} [go]: now","b":"\\","c":"\\\"","d":"\u003chtml\u003e \u0026"}`,
	`[1,-2.5e3,true,false,null,"",{"k":"v"}]`,
}

// TestAppendIndented_IndentsAsEncodingJSON checks the answers' indentation
// against encoding/json's, on tricky texts and on an encoded answer.
func TestAppendIndented_IndentsAsEncodingJSON(t *testing.T) {
	check := func(compact []byte) {
		var want bytes.Buffer
		require.NoError(t, json.Indent(&want, compact, "", "  "))
		require.Equal(t, want.String(), string(httpapi.AppendIndented(nil, compact)), "%s", compact)
	}
	for _, s := range indentSeeds {
		check([]byte(s))
	}
	alias := api.Alias{Alias: "a<b>&c", Type: "KEY_CERT", CertsInfo: api.CertsInfo{CertInfo: []api.CertInfo{
		{Subject: `CN="x", O=y\z`, SubjectAlternativeNames: []string{"a", "b"}}, {},
	}}}
	var enc, want bytes.Buffer
	require.NoError(t, json.NewEncoder(&enc).Encode(alias))
	indenting := json.NewEncoder(&want)
	indenting.SetIndent("", "  ")
	require.NoError(t, indenting.Encode(alias))
	require.Equal(t, want.String(), string(httpapi.AppendIndented(nil, enc.Bytes())), "as json.Encoder with SetIndent writes it")
}

// FuzzAppendIndented_IndentsAsEncodingJSON checks the indentation of any
// valid JSON, compacted as json.Marshal writes it, against json.Indent.
func FuzzAppendIndented_IndentsAsEncodingJSON(f *testing.F) {
	for _, s := range indentSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var compact bytes.Buffer
		if json.Compact(&compact, b) != nil {
			return
		}
		var want bytes.Buffer
		require.NoError(t, json.Indent(&want, compact.Bytes(), "", "  "))
		require.Equal(t, want.String(), string(httpapi.AppendIndented(nil, compact.Bytes())))
	})
}
