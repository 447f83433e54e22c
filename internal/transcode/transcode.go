// Package transcode reads JSON request bodies the way Google's JSON
// transcoding reads them for the Apigee API, against the resource's schema
// in Apigee's discovery document:
//
//   - a field is found by its lowerCamelCase JSON name or by its
//     snake_case proto name (deployment_type, s_s_l_info, gcs_uri);
//   - int32 and int64 fields take a JSON number or a decimal string, and
//     int64 fields come out as decimal strings, as proto3 JSON writes them;
//   - enums are read by name (or number) and any other value is refused,
//     naming the field and the value;
//   - a field the schema does not have is refused in Google's words,
//     "Invalid JSON payload received. Unknown name ... Cannot find field.";
//   - null is the same as an absent field, and an empty body is an empty
//     message.
//
// The schemas come from schemas.json, a trimmed copy of the discovery
// document that ships with google.golang.org/api; `go generate` rewrites it
// and a test checks it matches the module's document. Decoding turns the
// body into its canonical JSON form (camelCase names, canonical scalars)
// and then into the caller's Go type, so no handler sees the spellings.
package transcode

//go:generate go run ./gen

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/keyplane/keyplane"
)

//go:embed schemas.json
var schemasJSON []byte

// schemas are the embedded schemas by discovery id, with their snake_case
// names indexed; they are read once and never written.
var schemas = mustLoad(schemasJSON)

type index struct {
	*Schema
	// bySnake maps a field's proto name to its JSON name.
	bySnake map[string]string
}

func mustLoad(b []byte) map[string]*index {
	var raw map[string]*Schema
	if err := json.Unmarshal(b, &raw); err != nil {
		panic("transcode: embedded schemas.json is invalid: " + err.Error())
	}
	out := make(map[string]*index, len(raw))
	for id, s := range raw {
		ix := &index{Schema: s, bySnake: map[string]string{}}
		for name := range s.Properties {
			ix.bySnake[Snake(name)] = name
		}
		out[id] = ix
	}
	return out
}

// Snake is a field's proto name as Google derives the JSON name back from
// it: every upper-case letter becomes an underscore and its lower case, so
// sSLInfo is s_s_l_info and gcsUri is gcs_uri.
func Snake(name string) string {
	var b strings.Builder
	for _, r := range name {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Keeper is a Go type that keeps the fields of its schema it has no Go
// field for, so that they are stored and answered back as Apigee does.
// KeepFields receives them by JSON name, in canonical form; output-only
// fields are never passed.
type Keeper interface {
	KeepFields(map[string]json.RawMessage)
}

// Decode reads body as a message of the named schema (a discovery id
// without the GoogleCloudApigeeV1 prefix, such as "Environment") and stores
// it in v, a pointer to the Go type of that resource. Errors are
// keyplane.InvalidArgument, worded as Google words them.
func Decode(body []byte, schema string, v any) error {
	s, ok := schemas[Prefix+schema]
	if !ok {
		panic("transcode: no schema " + schema) // a programming error, caught by any test of the route
	}
	msg := map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		// A first pass finds syntax errors with their position, which the
		// number-preserving decoder below does not report.
		var probe any
		if err := json.Unmarshal(body, &probe); err != nil {
			return syntaxError(err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var top any
		if err := dec.Decode(&top); err != nil {
			return syntaxError(err)
		}
		obj, ok := top.(map[string]any)
		if !ok {
			return keyplane.Errorf(keyplane.InvalidArgument, "Invalid JSON payload received. Expected a JSON object for %q, got %s.", rootName(schema), jsonText(top))
		}
		msg = obj
	}
	canon, err := message(msg, s, rootName(schema))
	if err != nil {
		return err
	}
	b, err := json.Marshal(canon)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return keyplane.Errorf(keyplane.InvalidArgument, "Invalid JSON payload received. %v", err)
	}
	if k, ok := v.(Keeper); ok {
		k.KeepFields(unclaimed(canon, s, v))
	}
	return nil
}

// rootName is the name Google gives the body in its messages: the request
// field that holds it, the schema's name in snake_case.
func rootName(schema string) string {
	return strings.TrimPrefix(Snake(schema), "_")
}

// syntaxError says where a body stops being JSON.
func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return keyplane.Errorf(keyplane.InvalidArgument, "request body is not valid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return keyplane.Errorf(keyplane.InvalidArgument, "request body is not valid JSON: %v", err)
}

// unclaimed returns the settable fields of canon that the Go value has no
// field for.
func unclaimed(canon map[string]any, s *index, v any) map[string]json.RawMessage {
	claimed := map[string]bool{}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			claimed[name] = true
		}
	}
	out := map[string]json.RawMessage{}
	for name, val := range canon {
		if claimed[name] || s.Properties[name].ReadOnly {
			continue
		}
		b, _ := json.Marshal(val)
		out[name] = b
	}
	return out
}

// message canonicalizes one JSON object of schema s found at path.
func message(obj map[string]any, s *index, path string) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for key, val := range obj {
		name := key
		f, ok := s.Properties[key]
		if !ok {
			if name, ok = s.bySnake[key]; ok {
				f = s.Properties[name]
			}
		}
		if !ok {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", keyplane.Clip(key, 100), path)
		}
		if _, dup := out[name]; dup {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "Invalid JSON payload received. Field '%s.%s' is given twice, as %q and %q.", path, Snake(name), name, Snake(name))
		}
		if val == nil {
			continue
		}
		v, err := value(val, f, path+"."+Snake(name))
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// value canonicalizes one field's value.
func value(val any, f *Field, path string) (any, error) {
	switch {
	case f.Ref != "":
		obj, ok := val.(map[string]any)
		if !ok {
			return nil, invalid(path, "TYPE_MESSAGE", val)
		}
		return message(obj, schemas[f.Ref], path)
	case f.Type == "array":
		arr, ok := val.([]any)
		if !ok {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "Invalid value at '%s', %s: a list is required.", path, jsonText(val))
		}
		out := make([]any, 0, len(arr))
		for i, item := range arr {
			v, err := value(item, f.Items, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case f.Type == "object" && f.AdditionalProperties != nil:
		obj, ok := val.(map[string]any)
		if !ok {
			return nil, invalid(path, "TYPE_MESSAGE", val)
		}
		out := make(map[string]any, len(obj))
		for k, item := range obj {
			if item == nil {
				continue
			}
			v, err := value(item, f.AdditionalProperties, path+"["+strconv.Quote(k)+"]")
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case len(f.Enum) > 0:
		return enum(val, f, path)
	case f.Type == "boolean":
		if _, ok := val.(bool); !ok {
			return nil, invalid(path, "TYPE_BOOL", val)
		}
		return val, nil
	case f.Type == "integer":
		return integer(val, f.Format, path)
	case f.Type == "number":
		return number(val, path)
	case f.Type == "string" && (f.Format == "int64" || f.Format == "uint64"):
		n, err := integer(val, f.Format, path)
		if err != nil {
			return nil, err
		}
		return n.String(), nil
	case f.Type == "string":
		str, ok := val.(string)
		if !ok {
			return nil, invalid(path, "TYPE_STRING", val)
		}
		if f.Format == "byte" {
			if _, err := base64.StdEncoding.DecodeString(str); err != nil {
				if _, err := base64.URLEncoding.DecodeString(str); err != nil {
					return nil, invalid(path, "TYPE_BYTES", val)
				}
			}
		}
		return str, nil
	default: // "any", or an object without a schema: kept as given
		return val, nil
	}
}

func enum(val any, f *Field, path string) (any, error) {
	switch v := val.(type) {
	case string:
		for _, e := range f.Enum {
			if e == v {
				return v, nil
			}
		}
	case json.Number:
		if i, err := strconv.Atoi(v.String()); err == nil && i >= 0 && i < len(f.Enum) {
			return f.Enum[i], nil
		}
	}
	return nil, keyplane.Errorf(keyplane.InvalidArgument, "Invalid value at '%s' (TYPE_ENUM), %s: expected one of %s",
		path, jsonText(val), strings.Join(f.Enum, ", "))
}

// integer reads an integer given as a JSON number or a decimal string.
func integer(val any, format, path string) (json.Number, error) {
	kind := "TYPE_" + strings.ToUpper(format)
	if format == "" {
		kind = "TYPE_INT32"
	}
	var text string
	switch v := val.(type) {
	case json.Number:
		text = v.String()
	case string:
		text = strings.TrimSpace(v)
	default:
		return "", invalid(path, kind, val)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// 1e3 and 5.0 are integers too, in JSON.
		fl, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || fl != math.Trunc(fl) || math.Abs(fl) >= 1<<63 {
			return "", invalid(path, kind, val)
		}
		n = int64(fl)
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch format {
	case "int32", "":
		lo, hi = math.MinInt32, math.MaxInt32
	case "uint32":
		lo, hi = 0, math.MaxUint32
	case "uint64":
		lo = 0
	}
	if n < lo || n > hi {
		return "", invalid(path, kind, val)
	}
	return json.Number(strconv.FormatInt(n, 10)), nil
}

func number(val any, path string) (any, error) {
	switch v := val.(type) {
	case json.Number:
		return v, nil
	case string:
		if fl, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsInf(fl, 0) && !math.IsNaN(fl) {
			return json.Number(strconv.FormatFloat(fl, 'g', -1, 64)), nil
		}
	}
	return nil, invalid(path, "TYPE_DOUBLE", val)
}

func invalid(path, kind string, val any) error {
	return keyplane.Errorf(keyplane.InvalidArgument, "Invalid value at '%s' (%s), %s", path, kind, jsonText(val))
}

// jsonText is a value as the caller wrote it, clipped for messages.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return keyplane.Clip(string(b), 100)
}
