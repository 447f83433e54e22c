package keyplane

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Page sizes of every list: the default and the most one page may hold.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageSize checks a requested page size: 0 means the default, and a size
// above the maximum is lowered to it, as Google APIs do.
func PageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0:
		return 0, Errorf(InvalidArgument, "pageSize must not be negative")
	case n > MaxPageSize:
		return MaxPageSize, nil
	default:
		return n, nil
	}
}

// Page cuts a result fetched with one row more than size down to size, and
// returns the token of the next page (made from the last row kept), empty
// when that extra row was not there: the last page.
func Page[T any](rows []T, size int, token func(T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	rows = rows[:size]
	return rows, token(rows[size-1])
}

// Cursor is a keyset position in a list: the time and id of the last item
// of the previous page. Most lists are ordered newest first by creation
// time; the expiry view goes soonest expiry first. Lists never use OFFSET,
// so a page costs the same however deep it is.
type Cursor struct {
	Time time.Time
	ID   string
}

// IsZero reports whether c is the position before the first page.
func (c Cursor) IsZero() bool { return c.Time.IsZero() }

// Token encodes c as an opaque page token.
func (c Cursor) Token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Time.UnixMicro(), 10) + "|" + c.ID))
}

// ParseCursor decodes a page token; the empty token is the first page.
func ParseCursor(token string) (Cursor, error) {
	if token == "" {
		return Cursor{}, nil
	}
	bad := Errorf(InvalidArgument, "pageToken is invalid")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok || id == "" {
		return Cursor{}, bad
	}
	micros, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Cursor{}, bad
	}
	return Cursor{Time: time.UnixMicro(micros).UTC(), ID: id}, nil
}

// ParseUUIDCursor decodes a page token of a list keyed by UUID.
func ParseUUIDCursor(token string) (Cursor, error) {
	c, err := ParseCursor(token)
	if err == nil && !c.IsZero() {
		if _, perr := uuid.Parse(c.ID); perr != nil {
			return Cursor{}, Errorf(InvalidArgument, "pageToken is invalid")
		}
	}
	return c, err
}

// KeysetPage reads one page of a keyset-ordered list: it checks the
// requested size and token (uuidKeys: the list's ids are UUIDs), asks fetch
// for one row more than a page after the token's position, and returns the
// page and the token of the next one, empty on the last page.
func KeysetPage[T any](pageSize int, pageToken string, uuidKeys bool, fetch func(after Cursor, limit int) ([]T, error), cursor func(T) Cursor) ([]T, string, error) {
	size, err := PageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	parse := ParseCursor
	if uuidKeys {
		parse = ParseUUIDCursor
	}
	after, err := parse(pageToken)
	if err != nil {
		return nil, "", err
	}
	rows, err := fetch(after, size+1)
	if err != nil {
		return nil, "", err
	}
	rows, next := Page(rows, size, func(row T) string { return cursor(row).Token() })
	return rows, next, nil
}
