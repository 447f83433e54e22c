package postgres

import (
	"github.com/keyplane/keyplane"
)

// cursorTime and cursorID are a keyset position as query arguments: NULL
// before the first page, which the queries read as "from the start".
func cursorTime(c keyplane.Cursor) any {
	if c.IsZero() {
		return nil
	}
	return c.Time
}

func cursorID(c keyplane.Cursor) any {
	if c.IsZero() {
		return nil
	}
	return c.ID
}
