// Package fuzzcorpus keeps the seed corpora of go test's fuzzing engine in
// step with the generators that describe them, in the way of golden-file
// tests: `go test -run TestWriteFuzzCorpus -update` rewrites testdata/fuzz,
// and a plain `go test` fails when a seed on disk differs from what its
// generator makes.
package fuzzcorpus

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the -update flag of every test binary that keeps a corpus.
var update = flag.Bool("update", false, "rewrite the seed corpora under testdata/fuzz")

// Updating reports whether the test binary runs with -update, so that a
// generator can clear testdata/fuzz before it writes the corpus afresh.
func Updating() bool { return *update }

// Write writes one seed of target, named name, under testdata/fuzz of the
// package under test, in the corpus file format of go test, when the test
// binary runs with -update. Otherwise it fails t if the seed on disk is
// missing or differs. Values may be []byte (nil for an empty one), string
// or bool.
func Write(t testing.TB, target, name string, vals ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			b.WriteString("[]byte(\"\")\n")
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			t.Fatalf("fuzzcorpus: unsupported seed value %T", v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	path := filepath.Join(dir, name)
	if !*update {
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, []byte(b.String())) {
			t.Errorf("seed %s is missing or out of date; regenerate with go test -run TestWriteFuzzCorpus -update", path)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
