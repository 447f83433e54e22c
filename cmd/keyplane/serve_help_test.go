package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/server"
)

// TestHelp_NamesEveryVariableItReads: `serve --help` and `gateway --help`
// document every variable their command reads.
func TestHelp_NamesEveryVariableItReads(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		help string
		read func(server.Source) error
	}{
		{newServeCmd().Long, func(src server.Source) error { _, err := server.ReadServe(src); return err }},
		{newGatewayCmd().Long, func(src server.Source) error { _, err := server.ReadGateway(src); return err }},
	} {
		var names []string
		_, w, err := os.Pipe()
		require.NoError(t, err)
		defer w.Close()
		set := map[string]string{"DATABASE_URL": "postgres://x@/y", "KEYPLANE_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
		require.NoError(t, tt.read(server.Source{Stderr: w, Getenv: func(name string) string {
			names = append(names, name)
			return set[name]
		}}))
		require.NotEmpty(t, names)
		for _, name := range names {
			require.True(t, strings.Contains(tt.help, " "+name+" "), "%s is read but not in the help:\n%s", name, tt.help)
		}
	}
}
