package keystore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/seal"
)

// Resealer is the storage that key rotation needs; *postgres.DB implements
// it.
type Resealer interface {
	ResealBatch(ctx context.Context, primary string, known []string, limit int, reseal func(*keyplane.SealedKey) ([]byte, error)) (int, error)
	SealedUnderOthers(ctx context.Context, known []string) (map[string]int, error)
}

// RotateMasterKey re-seals every private key that is not sealed under the
// keyring's primary key, batch by batch. Each batch commits on its own, so
// the rotation runs while servers serve, and an interrupted rotation is
// finished by running it again. Keys sealed under master keys the keyring
// does not hold are skipped, not a reason to stop: they are counted and
// named in the error returned at the end. progress is called after each
// batch with the running total.
func RotateMasterKey(ctx context.Context, store Resealer, keys *seal.Keyring, batchSize int, progress func(total int)) (int, error) {
	if batchSize <= 0 {
		batchSize = 100
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := store.ResealBatch(ctx, keys.Primary(), keys.IDs(), batchSize, func(k *keyplane.SealedKey) ([]byte, error) {
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
			return total, unknownKeys(ctx, store, keys)
		}
		total += n
		if progress != nil {
			progress(total)
		}
	}
}

// unknownKeys reports the private keys sealed under master keys the keyring
// does not hold: they cannot be re-sealed, and would be lost if the old key
// were dropped.
func unknownKeys(ctx context.Context, store Resealer, keys *seal.Keyring) error {
	others, err := store.SealedUnderOthers(ctx, keys.IDs())
	if err != nil || len(others) == 0 {
		return err
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(others)) {
		parts = append(parts, fmt.Sprintf("%d under %q", others[id], id))
	}
	return fmt.Errorf("private keys sealed under master keys that KEYPLANE_MASTER_KEY does not hold were left as they are (%s); add those keys and run again",
		strings.Join(parts, ", "))
}
