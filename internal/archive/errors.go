package archive

import (
	"fmt"

	"github.com/keyplane/keyplane"
)

// invalidPrefix starts every message of a failed deployment, as Apigee
// reports it in the operation's error.
const invalidPrefix = "generic::invalid_argument: "

// invalid returns an InvalidArgument error whose message is the formatted
// text after the invalidPrefix.
func invalid(format string, args ...any) *keyplane.Error {
	return keyplane.Errorf(keyplane.InvalidArgument, "%s%s", invalidPrefix, fmt.Sprintf(format, args...))
}

// pos is a 1-based line and column within a parsed file.
type pos struct{ line, col int }

// fileError returns the error for a problem at p in the file at path. A
// zero column means the parser reported only the line.
func fileError(path string, p pos, format string, args ...any) *keyplane.Error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case p.line > 0 && p.col > 0:
		return invalid("%s:%d:%d: %s", path, p.line, p.col, msg)
	case p.line > 0:
		return invalid("%s:%d: %s", path, p.line, msg)
	default:
		return invalid("%s: %s", path, msg)
	}
}

// clip shortens s for use in a message, so that a hostile archive cannot
// make an error message as large as itself.
func clip(s string) string { return keyplane.Clip(s, 200) }
