package route

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/archive"
)

func TestMatchTemplate(t *testing.T) {
	t.Parallel()
	type vars = map[string]string
	tests := []struct {
		template string
		suffix   string
		ok       bool
		vars     vars
	}{
		{"/", "", true, nil},
		{"/", "/", true, nil},
		{"/", "//", false, nil},
		{"/", "/a", false, nil},
		{"/a", "/a", true, nil},
		{"/a", "/a/", true, nil},
		{"/a", "/a//", false, nil},
		{"/a", "", false, nil},
		{"/a", "/A", false, nil},
		{"/a/b", "/a", false, nil},
		{"/a", "/a/b", false, nil},
		{"/*", "/x", true, nil},
		{"/*", "/", false, nil},
		{"/*/b", "/x/b", true, nil},
		{"/*/b", "//b", false, nil},
		{"/**", "", true, nil},
		{"/**", "/", true, nil},
		{"/**", "//", true, nil},
		{"/**", "/a/b/c/", true, nil},
		{"/a/**", "/a", true, nil},
		{"/a/**", "/ab", false, nil},
		{"/{x}", "/%41%2F", true, vars{"x": "A/"}},
		{"/{x}", "/a%zz", true, vars{"x": "a%zz"}}, // not valid encoding: kept as sent
		{"/{x}/{y=**}", "/1", true, vars{"x": "1", "y": ""}},
		{"/{x}/{y=**}", "/1/2/3/", true, vars{"x": "1", "y": "2/3"}},
		{"/{x=a/*}/c", "/a/b/c", true, vars{"x": "a/b"}},
		{"/{x=a/*}/c", "/b/b/c", false, nil},
		{"/caf%C3%A9", "/caf%c3%a9", true, nil},
		{"/caf%C3%A9", "/caf%C3%A9", true, nil},
		{"/a%2Fb", "/a%2fb", true, nil},
		{"/a%2Fb", "/a/b", false, nil},
		{"/a:b", "/a:b", true, nil},
	}
	for _, tt := range tests {
		tmpl, err := archive.ParsePathTemplate(tt.template)
		require.NoError(t, err, tt.template)
		got, ok := matchTemplate(tmpl, tt.suffix)
		require.Equal(t, tt.ok, ok, "%s against %q", tt.template, tt.suffix)
		require.Equal(t, tt.vars, got, "%s against %q", tt.template, tt.suffix)
	}
}

func TestDotSegment(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"/":             false,
		"/a/b":          false,
		"/.":            true,
		"/..":           true,
		"/a/./b":        true,
		"/a/../b":       true,
		"/a/%2e":        true,
		"/a/%2E%2e":     true,
		"/a/.%2E/":      true,
		"/a/%2e./":      true,
		"/a/.../b":      false,
		"/a/.b":         false,
		"/a/%2eb":       false,
		"/a/b.":         false,
		"//":            false,
		"/a/..;/b":      true,
		"/a/..;x=1":     true,
		"/a/.;/b":       true,
		"/a/..%2fb":     true,
		"/a/%2e%2e%2fb": true,
		"/a/..%5cb":     true,
		"/a/%2F":        false,
		"/a/b%2Fc":      false,
		"/a/b%2F..":     true,
		"/a/%5c..%5cb":  true,
		"/a/..\\b":      true,
		"/a/b;v=1":      false,
		"/a/%20b":       false,
	} {
		require.Equal(t, want, dotSegment(path), path)
	}
}
