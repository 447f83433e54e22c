package archive

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/keyplane/keyplane"
	"github.com/stretchr/testify/require"
)

// tree reads the source folder testdata/{name} into a map from path (as
// the zip names it) to content.
func tree(t testing.TB, name string) map[string]string {
	t.Helper()
	root := filepath.Join("testdata", name)
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	require.NoError(t, err)
	return files
}

// zipOf builds a zip holding files, deflated, in sorted order.
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		f, err := w.Create(n)
		require.NoError(t, err)
		_, err = f.Write([]byte(files[n]))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// with returns a copy of files with the given files replaced or added; an
// empty content removes the file.
func with(files map[string]string, changes map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

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
	a, err := Read(zipOf(t, files), DefaultLimits())
	require.NoError(t, err)
	return a.Bundle("dev")
}
