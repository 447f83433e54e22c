package postgres

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyplane/keyplane"
)

// Cursor is a keyset position in a list ordered newest first: the creation
// time and id of the last item of the previous page. Lists never use OFFSET,
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
