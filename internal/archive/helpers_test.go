package archive

import (
	"path/filepath"
	"testing"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/testzip"
	"github.com/stretchr/testify/require"
)

// tree reads the source folder testdata/{name} into a map from path (as
// the zip names it) to content.
func tree(t testing.TB, name string) map[string]string {
	return testzip.Tree(t, filepath.Join("testdata", name))
}

// with returns a copy of files with the given files replaced or added; an
// empty content removes the file.
func with(files, changes map[string]string) map[string]string { return testzip.With(files, changes) }

// requireInvalid asserts that err is an InvalidArgument *keyplane.Error
// whose message is exactly want.
func requireInvalid(t testing.TB, err error, want string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err), "error %v", err)
	require.Equal(t, want, keyplane.ErrorMessage(err))
}

// bundleOf reads files as an archive and parses what it deploys to dev.
func bundleOf(t testing.TB, files map[string]string) (*Bundle, error) {
	t.Helper()
	a, err := Read(testzip.Files(t, files), DefaultLimits())
	require.NoError(t, err)
	return a.Bundle("dev")
}
