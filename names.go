package keyplane

import (
	"regexp"
	"unicode/utf8"
)

// namePattern is the shape of every user-chosen resource name: organizations,
// environments, keystores, aliases, references and target servers.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)

// ValidName reports whether s is an acceptable resource name.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// CheckName returns an InvalidArgument error naming field when value is not
// an acceptable resource name.
func CheckName(field, value string) error {
	if value == "" {
		return Errorf(InvalidArgument, "%s is required", field)
	}
	if !ValidName(value) {
		return Errorf(InvalidArgument, "%s %q is invalid: it must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$", field, Clip(value, 64))
	}
	return nil
}

// Clip shortens s to at most n bytes (cut on a rune boundary) followed by
// "…", for quoting caller-supplied text in errors and logs: an attacker's
// megabyte-long name is never echoed back whole.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
