package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

// Output formats of --format.
const (
	formatYAML  = "yaml"
	formatJSON  = "json"
	formatTable = "table"
)

// table is the table form of a result: a header and rows of cells.
type table struct {
	header []string
	rows   [][]string
}

// printResult writes v to w in format. JSON is the wire form, indented.
// YAML is the wire form with keys sorted, as gcloud prints it, so that
// keyplane's output reads like gcloud's. Table uses t when it is given, and
// otherwise lists v's fields as KEY VALUE lines.
func printResult(w io.Writer, format string, v any, t *table) error {
	switch format {
	case formatJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case formatTable:
		if t == nil {
			fields, err := flatten(v)
			if err != nil {
				return err
			}
			t = &table{}
			for _, kv := range fields {
				t.rows = append(t.rows, []string{kv[0], kv[1]})
			}
		}
		return printTable(w, t)
	default:
		return printYAML(w, v)
	}
}

func printYAML(w io.Writer, v any) error {
	generic, err := toGeneric(v)
	if err != nil {
		return err
	}
	if generic == nil {
		return nil
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(generic); err != nil {
		return err
	}
	return enc.Close()
}

// toGeneric turns v into maps, slices, strings, bools and numbers through its
// JSON form, so that YAML shows the same field names as JSON.
func toGeneric(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return numbersOf(out), nil
}

// numbersOf replaces json.Number (a string type, which YAML would quote) by
// int64 or float64.
func numbersOf(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = numbersOf(x)
		}
	case []any:
		for i, x := range v {
			v[i] = numbersOf(x)
		}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	}
	return v
}

func printTable(w io.Writer, t *table) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	}
	for _, row := range t.rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// flatten lists the leaves of v's JSON form as dotted keys in sorted order,
// for the table form of a single resource.
func flatten(v any) ([][2]string, error) {
	generic, err := toGeneric(v)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	var walk func(prefix string, x any)
	walk = func(prefix string, x any) {
		switch x := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x[k])
			}
		case []any:
			if allScalars(x) {
				parts := make([]string, len(x))
				for i, e := range x {
					parts[i] = fmt.Sprint(e)
				}
				out = append(out, [2]string{prefix, strings.Join(parts, ",")})
				return
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case nil:
			out = append(out, [2]string{prefix, ""})
		default:
			out = append(out, [2]string{prefix, fmt.Sprint(x)})
		}
	}
	walk("", generic)
	return out, nil
}

func allScalars(xs []any) bool {
	for _, x := range xs {
		switch x.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// namesTable is the table form of a list of names.
func namesTable(names []string) *table {
	t := &table{header: []string{"NAME"}}
	for _, n := range names {
		t.rows = append(t.rows, []string{n})
	}
	return t
}

// formatMillis renders milliseconds since the epoch (the API's time format)
// as RFC 3339 in UTC, or "" for zero.
func formatMillis(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// formatLabels renders labels as k=v pairs in key order.
func formatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

// itoa is strconv.FormatInt for int64 cells.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
