package keystore

import (
	"context"
	"fmt"

	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/seal"
)

// Resealer is the storage that key rotation needs; *postgres.DB implements
// it.
type Resealer interface {
	ResealBatch(ctx context.Context, primary string, limit int, reseal func(*postgres.SealedKey) ([]byte, error)) (int, error)
}

// RotateMasterKey re-seals every private key that is not sealed under the
// keyring's primary key, batch by batch. Each batch commits on its own, so
// the rotation runs while servers serve, and an interrupted rotation is
// finished by running it again. progress is called after each batch with
// the running total.
func RotateMasterKey(ctx context.Context, store Resealer, keys *seal.Keyring, batchSize int, progress func(total int)) (int, error) {
	if batchSize <= 0 {
		batchSize = 100
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := store.ResealBatch(ctx, keys.Primary(), batchSize, func(k *postgres.SealedKey) ([]byte, error) {
			plain, err := keys.Open(k.KeyID, k.Sealed, []byte(k.Name))
			if err != nil {
				return nil, fmt.Errorf("alias %s: %w", k.Name, err)
			}
			defer clear(plain)
			_, sealed, err := keys.Seal(plain, []byte(k.Name))
			return sealed, err
		})
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, nil
		}
		total += n
		if progress != nil {
			progress(total)
		}
	}
}
