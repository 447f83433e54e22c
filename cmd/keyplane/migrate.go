package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyplane/keyplane/internal/postgres"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate up|down|version",
		Short: "Apply, revert or show the database schema version",
		Long: `Manage the database schema at DATABASE_URL with the migrations built into this binary.

  up       apply every pending migration
  down     revert the newest applied migration
  version  print the current version (and whether it is dirty)`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"up", "down", "version"},
		RunE: func(cmd *cobra.Command, args []string) error {
			url := os.Getenv("DATABASE_URL")
			if url == "" {
				return errors.New("DATABASE_URL is not set")
			}
			switch args[0] {
			case "up", "down":
				if err := postgres.Migrate(url, args[0]); err != nil {
					return err
				}
				if args[0] == "up" {
					if err := postgres.MigrateJobs(cmd.Context(), url); err != nil {
						return err
					}
				}
				fallthrough
			case "version":
				v, dirty, err := postgres.Version(url)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "version %d", v)
				if dirty {
					fmt.Fprint(cmd.OutOrStdout(), " (dirty)")
				}
				fmt.Fprintln(cmd.OutOrStdout())
				return nil
			default:
				return usageError{fmt.Errorf("unknown migrate command %q: use up, down or version", args[0])}
			}
		},
	}
	return cmd
}
