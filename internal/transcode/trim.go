package transcode

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Roots are the request schemas keyplane serves, by their discovery id
// without the GoogleCloudApigeeV1 prefix. Trim keeps them and every schema
// they refer to.
var Roots = []string{"ArchiveDeployment", "Environment", "Keystore", "Organization", "Reference", "TargetServer"}

// Prefix is how the discovery document names every Apigee schema.
const Prefix = "GoogleCloudApigeeV1"

// Field is one property of a schema, with only what decoding needs.
type Field struct {
	Type                 string   `json:"type,omitempty"`
	Format               string   `json:"format,omitempty"`
	Ref                  string   `json:"$ref,omitempty"`
	Enum                 []string `json:"enum,omitempty"`
	ReadOnly             bool     `json:"readOnly,omitempty"`
	Items                *Field   `json:"items,omitempty"`
	AdditionalProperties *Field   `json:"additionalProperties,omitempty"`
}

// Schema is one message of the discovery document.
type Schema struct {
	ID         string            `json:"id"`
	Type       string            `json:"type,omitempty"`
	Properties map[string]*Field `json:"properties,omitempty"`
}

// Trim reads an Apigee discovery document and returns the schemas reachable
// from Roots, stripped of descriptions, as indented JSON with sorted keys so
// that the result is stable and can be compared with a committed copy.
func Trim(discovery []byte) ([]byte, error) {
	var doc struct {
		Schemas map[string]*Schema `json:"schemas"`
	}
	if err := json.Unmarshal(discovery, &doc); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	out := map[string]*Schema{}
	var visit func(id string) error
	visit = func(id string) error {
		if _, done := out[id]; done {
			return nil
		}
		s, ok := doc.Schemas[id]
		if !ok {
			return fmt.Errorf("discovery document has no schema %q", id)
		}
		out[id] = s
		for _, f := range s.Properties {
			for g := f; g != nil; {
				if g.Ref != "" {
					if err := visit(g.Ref); err != nil {
						return err
					}
				}
				if g.Items != nil {
					g = g.Items
				} else {
					g = g.AdditionalProperties
				}
			}
		}
		return nil
	}
	for _, r := range slices.Sorted(slices.Values(Roots)) {
		if err := visit(Prefix + r); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
