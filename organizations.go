package keyplane

import (
	"encoding/json"
	"time"
)

// Organization is the top of the resource tree: every environment, token
// and operation belongs to one.
type Organization struct {
	Name           string
	CreatedAt      time.Time
	LastModifiedAt time.Time
	// Extra holds, by field name, the attributes keyplane keeps for a
	// client without acting on them; each value is the JSON it came as.
	Extra map[string]json.RawMessage
}
