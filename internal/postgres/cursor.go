package postgres

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
)

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

func (c Cursor) timeOrNil() any {
	if c.IsZero() {
		return nil
	}
	return c.Time
}

func (c Cursor) idOrNil() any {
	if c.IsZero() {
		return nil
	}
	return c.ID
}

// Token encodes c as an opaque page token.
func (c Cursor) Token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Time.UnixMicro(), 10) + "|" + c.ID))
}

// ParseCursor decodes a page token; the empty token is the first page.
func ParseCursor(token string) (Cursor, error) {
	if token == "" {
		return Cursor{}, nil
	}
	bad := keyplane.Errorf(keyplane.InvalidArgument, "pageToken is invalid")
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
			return Cursor{}, keyplane.Errorf(keyplane.InvalidArgument, "pageToken is invalid")
		}
	}
	return c, err
}

// KeysetPage reads one page of a keyset-ordered list: it checks the
// requested size and token (uuidKeys: the list's ids are UUIDs), asks fetch
// for one row more than a page after the token's position, and returns the
// page and the token of the next one, empty on the last page.
func KeysetPage[T any](pageSize int, pageToken string, uuidKeys bool, fetch func(after Cursor, limit int) ([]T, error), cursor func(T) Cursor) ([]T, string, error) {
	size, err := keyplane.PageSize(pageSize)
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
	rows, next := keyplane.Page(rows, size, func(row T) string { return cursor(row).Token() })
	return rows, next, nil
}
