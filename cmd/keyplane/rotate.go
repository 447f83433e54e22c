package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyplane/keyplane/internal/keystore"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
)

func newRotateMasterKeyCmd() *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "rotate-master-key",
		Short: "Re-seal every private key under the newest master key",
		Long: `Re-seal every private key in the database at DATABASE_URL under the newest key of
KEYPLANE_MASTER_KEY, in batches, while servers keep serving.

KEYPLANE_MASTER_KEY lists the keys oldest first, as id:base64 entries separated by
commas (a bare base64 key is accepted too). To rotate:
  1. add the new key last and restart the servers (they seal new keys with it and
     still open old ones);
  2. run keyplane rotate-master-key (safe to interrupt and run again);
  3. remove the old key and restart the servers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url := os.Getenv("DATABASE_URL")
			if url == "" {
				return errors.New("DATABASE_URL is not set")
			}
			keys, err := seal.ParseKeyring(os.Getenv("KEYPLANE_MASTER_KEY"))
			if err != nil {
				return fmt.Errorf("KEYPLANE_MASTER_KEY: %w", err)
			}
			db, err := postgres.Open(cmd.Context(), url)
			if err != nil {
				return err
			}
			defer db.Close()
			total, err := keystore.RotateMasterKey(cmd.Context(), db, keys, batch, func(total int) {
				fmt.Fprintf(cmd.ErrOrStderr(), "re-sealed %d keys...\n", total)
			})
			if err != nil {
				return fmt.Errorf("rotation stopped after %d keys (run it again to finish): %w", total, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d private keys re-sealed under master key %q\n", total, keys.Primary())
			return nil
		},
	}
	cmd.Flags().IntVar(&batch, "batch-size", 100, "keys re-sealed per transaction")
	return cmd
}
