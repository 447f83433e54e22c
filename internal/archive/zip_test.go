package archive

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io/fs"
	"runtime"
	"strings"
	"testing"

	"github.com/keyplane/keyplane/internal/testzip"
	"github.com/stretchr/testify/require"
)

// rawEntry is a zip entry written with full control of its header.
type rawEntry struct {
	name    string
	content []byte
	mode    fs.FileMode
	// claimed, when set, is the uncompressed size the header states
	// instead of the real one.
	claimed uint64
}

// craftZip writes entries that archive/zip's Create would not, such as
// duplicates, symbolic links and lying headers.
func craftZip(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		var comp bytes.Buffer
		fw, err := flate.NewWriter(&comp, flate.BestCompression)
		require.NoError(t, err)
		_, err = fw.Write(e.content)
		require.NoError(t, err)
		require.NoError(t, fw.Close())
		h := &zip.FileHeader{
			Name:               e.name,
			Method:             zip.Deflate,
			CRC32:              crc32.ChecksumIEEE(e.content),
			CompressedSize64:   uint64(comp.Len()),
			UncompressedSize64: uint64(len(e.content)),
		}
		if e.claimed != 0 {
			h.UncompressedSize64 = e.claimed
		}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		f, err := w.CreateRaw(h)
		require.NoError(t, err)
		_, err = f.Write(comp.Bytes())
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestRead_UnsafeArchives_AreRefusedNamingTheEntry(t *testing.T) {
	t.Parallel()
	ok := []byte(`["x"]`)
	tests := []struct {
		name    string
		entries []rawEntry
		want    string
	}{
		{"dot dot", []rawEntry{{name: "../evil", content: ok}}, `archive entry "../evil" contains a ".." path segment`},
		{"dot dot inside", []rawEntry{{name: "src/../../evil", content: ok}}, `archive entry "src/../../evil" contains a ".." path segment`},
		{"absolute", []rawEntry{{name: "/abs", content: ok}}, `archive entry "/abs" is an absolute path`},
		{"backslash", []rawEntry{{name: `src\main\evil`, content: ok}}, `archive entry "src\\main\\evil" contains a backslash`},
		{"drive letter", []rawEntry{{name: "C:/evil", content: ok}}, `archive entry "C:/evil" starts with a drive letter`},
		{"control character", []rawEntry{{name: "evil\x00.json", content: ok}}, `archive entry "evil\x00.json" contains a control character`},
		{"symlink", []rawEntry{{name: "src/link", content: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}}, `archive entry "src/link" is a symbolic link`},
		{"named pipe", []rawEntry{{name: "src/fifo", mode: fs.ModeNamedPipe | 0o644}}, `archive entry "src/fifo" is not a regular file or directory`},
		{"duplicate", []rawEntry{{name: "src/a.json", content: ok}, {name: "src/a.json", content: ok}}, `archive entry "src/a.json" duplicates entry "src/a.json"`},
		{"duplicate after cleaning", []rawEntry{{name: "src/a.json", content: ok}, {name: "src/./a.json", content: ok}}, `archive entry "src/./a.json" duplicates entry "src/a.json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(craftZip(t, tt.entries...), DefaultLimits())
			requireInvalid(t, err, "generic::invalid_argument: "+tt.want)
		})
	}
}

func TestRead_NotAZip_IsRefused(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{nil, []byte("hello, world"), []byte("PK\x03\x04 truncated")} {
		_, err := Read(in, DefaultLimits())
		requireInvalid(t, err, "generic::invalid_argument: archive is not a valid zip file: zip: not a valid zip file")
	}
}

func TestRead_Limits_AreEnforced(t *testing.T) {
	t.Parallel()
	small := Limits{MaxUnpacked: 1 << 20, MaxEntries: 5}
	tests := []struct {
		name string
		zip  func(t *testing.T) []byte
		lim  Limits
		want string
	}{
		{
			name: "too large packed",
			zip:  func(t *testing.T) []byte { return testzip.Files(t, map[string]string{"a": "b"}) },
			lim:  Limits{MaxCompressed: 10},
			want: "archive is 123 bytes, more than the limit of 10 bytes",
		},
		{
			name: "too many entries",
			zip: func(t *testing.T) []byte {
				return testzip.Files(t, map[string]string{"1": "x", "2": "x", "3": "x", "4": "x", "5": "x", "6": "x"})
			},
			lim:  small,
			want: "archive has 6 entries, more than the limit of 5",
		},
		{
			name: "directory of empty records",
			zip: func(t *testing.T) []byte {
				files := map[string]string{}
				for i := range 51 {
					files[fmt.Sprint(i)] = ""
				}
				return testzip.Files(t, files)
			},
			lim:  small,
			want: "archive has too many entries: the limit is 5",
		},
		{
			name: "zip bomb in a parsed file",
			zip: func(t *testing.T) []byte {
				return craftZip(t, rawEntry{name: "src/main/apigee/environments/dev/deployments.json", content: make([]byte, 10<<20)})
			},
			lim:  small,
			want: `archive unpacks to more than the limit of 1048576 bytes (at entry "src/main/apigee/environments/dev/deployments.json")`,
		},
		{
			name: "zip bomb outside src/main/apigee",
			zip: func(t *testing.T) []byte {
				return craftZip(t, rawEntry{name: "docs/zeros.bin", content: make([]byte, 10<<20)})
			},
			lim:  small,
			want: `archive unpacks to more than the limit of 1048576 bytes (at entry "docs/zeros.bin")`,
		},
		{
			name: "many files adding up",
			zip: func(t *testing.T) []byte {
				half := strings.Repeat("x", 512<<10)
				return testzip.Files(t, map[string]string{"a": half, "b": half, "c": half})
			},
			lim:  small,
			want: `archive unpacks to more than the limit of 1048576 bytes (at entry "c")`,
		},
		{
			name: "header understates the size",
			zip: func(t *testing.T) []byte {
				return craftZip(t, rawEntry{name: "src/big.bin", content: make([]byte, 10<<20), claimed: 100})
			},
			lim:  small,
			want: `archive entry "src/big.bin" cannot be read: zip: not a valid zip file`,
		},
		{
			name: "header overstates the size",
			zip: func(t *testing.T) []byte {
				return craftZip(t, rawEntry{name: "src/small.bin", content: []byte("tiny"), claimed: 1 << 40})
			},
			lim:  small,
			want: `archive entry "src/small.bin" cannot be read: unexpected EOF`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(tt.zip(t), tt.lim)
			requireInvalid(t, err, "generic::invalid_argument: "+tt.want)
		})
	}
}

// TestRead_ZipBomb_IsCaughtWithoutAllocatingIt is not parallel: it measures
// the memory allocated while it runs.
func TestRead_ZipBomb_IsCaughtWithoutAllocatingIt(t *testing.T) {
	bomb := craftZip(t, rawEntry{name: "src/main/apigee/environments/dev/deployments.json", content: make([]byte, 64<<20)})
	require.Less(t, len(bomb), 1<<20)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Read(bomb, Limits{MaxUnpacked: 1 << 20})
	runtime.ReadMemStats(&after)

	require.ErrorContains(t, err, "archive unpacks to more than the limit of 1048576 bytes")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated")
}

func TestRead_IgnoresButCountsEntriesOutsideSource(t *testing.T) {
	t.Parallel()
	files := with(tree(t, "configurable"), map[string]string{
		"README.md":                  "# docs",
		"src/main/java/App.java":     "class App {}",
		"src/main/apigee/other.json": "not json at all",
	})
	a, err := Read(testzip.Files(t, files), DefaultLimits())
	require.NoError(t, err)
	require.Len(t, a.names, 6)
	_, err = a.Bundle("dev")
	require.NoError(t, err)

	_, err = Read(testzip.Files(t, files), Limits{MaxEntries: 5})
	requireInvalid(t, err, "generic::invalid_argument: archive has 6 entries, more than the limit of 5")
}

func TestRead_DirectoryEntries_AreAccepted(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, dir := range []string{"./", "src/", "src/main/", "src/main/apigee/"} {
		_, err := w.Create(dir)
		require.NoError(t, err)
	}
	f, err := w.Create("src/main/apigee/environments/dev/deployments.json")
	require.NoError(t, err)
	_, err = f.Write([]byte(`[]`))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	a, err := Read(buf.Bytes(), DefaultLimits())
	require.NoError(t, err)
	b, err := a.Bundle("dev")
	require.NoError(t, err)
	require.Empty(t, b.Proxies)
}
