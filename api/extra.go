package api

import (
	"encoding/json"
	"maps"
)

// Extra holds the fields of an Apigee resource that keyplane keeps and
// answers back without acting on them, by JSON name, each in the canonical
// JSON form the request decoder produced.
type Extra map[string]json.RawMessage

// withExtra adds extra's fields to the JSON object b, never overriding a
// field b has.
func withExtra(b []byte, extra Extra) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, ok := fields[k]; !ok {
			fields[k] = v
		}
	}
	return json.Marshal(fields)
}

// KeepFields keeps the environment's fields that have no Go field.
func (e *Environment) KeepFields(m map[string]json.RawMessage) { e.Extra = maps.Clone(m) }

// MarshalJSON writes the environment with its kept fields.
func (e Environment) MarshalJSON() ([]byte, error) {
	type plain Environment
	b, err := json.Marshal(plain(e))
	if err != nil {
		return nil, err
	}
	return withExtra(b, e.Extra)
}

// KeepFields keeps the organization's fields that have no Go field.
func (o *Organization) KeepFields(m map[string]json.RawMessage) { o.Extra = maps.Clone(m) }

// MarshalJSON writes the organization with its kept fields.
func (o Organization) MarshalJSON() ([]byte, error) {
	type plain Organization
	b, err := json.Marshal(plain(o))
	if err != nil {
		return nil, err
	}
	return withExtra(b, o.Extra)
}
