// Package fuzzcorpus writes seed files for go test's fuzzing engine, so the
// packages that keep seed corpora in testdata/ can regenerate them.
package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Write writes one seed of target, named name, under testdata/fuzz of the
// package under test, in the corpus file format of go test. Values may be
// []byte (nil for an empty one), string or bool.
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
