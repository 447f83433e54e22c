package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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

// TestSettingsSource_AddrFlagStandsForItsVariable: --addr, when given on
// the command line, stands for KEYPLANE_ADDR (serve) or
// KEYPLANE_GATEWAY_ADDR (gateway), which it then beats; left out, it
// stands for nothing, so the variable or the default applies.
func TestSettingsSource_AddrFlagStandsForItsVariable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cmd  *cobra.Command
		name string
	}{
		{newServeCmd(), "KEYPLANE_ADDR"},
		{newGatewayCmd(), "KEYPLANE_GATEWAY_ADDR"},
	} {
		require.Empty(t, settingsSource(tt.cmd, tt.name).Flags)
		require.NoError(t, tt.cmd.ParseFlags([]string{"--addr", "127.0.0.1:21005"}))
		require.Equal(t, map[string]string{tt.name: "127.0.0.1:21005"}, settingsSource(tt.cmd, tt.name).Flags)
	}
}
