package keyplane

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keyplane/keyplane/internal/fuzzcorpus"
)

// maxNameMessage bounds the message of a refused name, whatever its length:
// the field, the first 64 bytes of the value quoted (at most 4 bytes each),
// an ellipsis and the pattern.
const maxNameMessage = 400

// validNameRef is an independent statement of the name rule, so that the
// fuzzer compares the regular expression against a plain loop:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$.
func validNameRef(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// checkNameInvariants asserts what CheckName promises for any value.
func checkNameInvariants(t *testing.T, field, value string) {
	t.Helper()
	err := CheckName(field, value)
	want := validNameRef(value)
	if got := ValidName(value); got != want {
		t.Fatalf("ValidName(%q) = %v, want %v", value, got, want)
	}
	if want {
		if err != nil {
			t.Fatalf("CheckName(%q, %q) = %v, want nil", field, value, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("CheckName(%q, %q) accepted an invalid name", field, value)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != InvalidArgument {
		t.Fatalf("CheckName(%q, %q) = %#v, want an *Error with code %s", field, value, err, InvalidArgument)
	}
	if len(e.Message) > maxNameMessage {
		t.Fatalf("message is %d bytes, more than %d: %.200q", len(e.Message), maxNameMessage, e.Message)
	}
	if !utf8.ValidString(e.Message) {
		t.Fatalf("message is not valid UTF-8: %q", e.Message)
	}
	if !strings.HasPrefix(e.Message, field+" ") {
		t.Fatalf("message %q does not name the field %q", e.Message, field)
	}
	if value == "" {
		if e.Message != field+" is required" {
			t.Fatalf("message for an empty name is %q", e.Message)
		}
	} else if !strings.HasSuffix(e.Message, " is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$") {
		t.Fatalf("message %q does not give the rule", e.Message)
	}
}

func FuzzCheckName(f *testing.F) {
	// The seeds of testdata/fuzz/FuzzCheckName cover the edges: lengths
	// 255 and 256, each allowed punctuation first and later, traversal,
	// URL encoding, control characters, invalid UTF-8 and Unicode look-alikes.
	f.Add("a")
	f.Add("../etc/passwd")
	f.Fuzz(func(t *testing.T, value string) {
		checkNameInvariants(t, "name", value)
	})
}

func TestCheckName_Table(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 255)
	tests := []struct {
		value string
		ok    bool
	}{
		{"a", true}, {"Z9", true}, {"0", true}, {"a.b_c-d", true}, {"a..b", true}, {long, true},
		{"", false}, {long + "a", false}, {".a", false}, {"_a", false}, {"-a", false},
		{"a/b", false}, {"..", false}, {"a\n", false}, {"a ", false}, {"é", false},
		{"a\x00", false}, {"ａ", false}, {"a%2fb", false}, {"\xff", false},
	}
	for _, tt := range tests {
		if got := CheckName("alias", tt.value) == nil; got != tt.ok {
			t.Errorf("CheckName(%q) accepted = %v, want %v", tt.value, got, tt.ok)
		}
		checkNameInvariants(t, "alias", tt.value)
	}
	if msg := ErrorMessage(CheckName("alias", "a/b")); msg != `alias "a/b" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$` {
		t.Errorf("message = %q", msg)
	}
}

// TestCheckName_HugeNameIsRefusedCheaply is not parallel: it measures the
// memory allocated while it runs.
func TestCheckName_HugeNameIsRefusedCheaply(t *testing.T) {
	huge := strings.Repeat("a", 10<<20) // valid characters, only too long
	for _, value := range []string{huge, "/" + huge[1:], huge[:1000] + "\x00" + huge[1001:]} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := CheckName("name", value)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)

		want := `name "` + huge[:64] + `…" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`
		if value[0] == '/' {
			want = `name "/` + huge[:63] + `…" is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`
		}
		if got := ErrorMessage(err); got != want {
			t.Fatalf("message = %.300q, want %q", got, want)
		}
		if ErrorCode(err) != InvalidArgument {
			t.Fatalf("code = %s", ErrorCode(err))
		}
		if elapsed > time.Second {
			t.Errorf("refusing a 10 MB name took %v", elapsed)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Errorf("refusing a 10 MB name allocated %d bytes", alloc)
		}
	}
	if n := testing.AllocsPerRun(10, func() { _ = CheckName("name", huge) }); n > 10 {
		t.Errorf("refusing a 10 MB name makes %v allocations", n)
	}
}

// TestWriteFuzzCorpus holds testdata/fuzz/FuzzCheckName to the seeds
// below, and regenerates it with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if fuzzcorpus.Updating() {
		if err := os.RemoveAll(filepath.Join("testdata", "fuzz", "FuzzCheckName")); err != nil {
			t.Fatal(err)
		}
	}
	seeds := map[string]string{
		"empty":              "",
		"one-char":           "a",
		"longest":            strings.Repeat("a", 255),
		"one-too-long":       strings.Repeat("a", 256),
		"long-invalid-tail":  strings.Repeat("a", 254) + "/",
		"punctuation-inside": "a.b_c-D9",
		"dot-first":          ".hidden",
		"dash-first":         "-rf",
		"underscore-first":   "_x",
		"dots":               "..",
		"traversal":          "../../etc/passwd",
		"url-encoded":        "..%2f..%2fetc",
		"slash":              "a/b",
		"backslash":          `a\b`,
		"space":              "my keystore",
		"trailing-newline":   "name\n",
		"nul":                "a\x00b",
		"invalid-utf8":       "a\xff\xfe",
		"split-rune-at-64":   strings.Repeat("a", 63) + "é" + strings.Repeat("b", 10),
		"fullwidth":          "ａｂｃ",
		"rtl-override":       "abc\u202egpj",
		"quote":              `a"b`,
		"long-escapes":       strings.Repeat("\x01", 300),
	}
	for name, v := range seeds {
		fuzzcorpus.Write(t, "FuzzCheckName", name, v)
	}
}
