package route

import (
	"net/url"
	"strings"

	"github.com/keyplane/keyplane/internal/archive"
)

// matchTemplate matches a path suffix, escaped, against t. It returns the
// values of t's variables (nil when it has none) and whether the suffix
// matches. The empty suffix, a request for the base path itself, is "/".
// One trailing slash is ignored, so "/users/{id}" matches "/users/42/".
func matchTemplate(t *archive.PathTemplate, suffix string) (map[string]string, bool) {
	rest := strings.TrimPrefix(suffix, "/")
	rest = strings.TrimSuffix(rest, "/")
	var segs []string
	if rest != "" || strings.HasPrefix(suffix, "//") {
		segs = strings.Split(rest, "/")
	}
	// starts[i] is the first request segment that t.Segments[i] matched;
	// starts[len] is len(segs).
	var starts []int
	if len(t.Vars) > 0 {
		starts = make([]int, len(t.Segments)+1)
	}
	j := 0
	for i, seg := range t.Segments {
		if starts != nil {
			starts[i] = j
		}
		switch seg.Kind {
		case archive.SegmentRest:
			j = len(segs)
			continue
		case archive.SegmentWildcard:
			if j == len(segs) || segs[j] == "" {
				return nil, false
			}
		default:
			if j == len(segs) || !literalEqual(segs[j], seg.Literal) {
				return nil, false
			}
		}
		j++
	}
	if j != len(segs) {
		return nil, false
	}
	if starts == nil {
		return nil, true
	}
	starts[len(t.Segments)] = j
	vars := make(map[string]string, len(t.Vars))
	for _, v := range t.Vars {
		parts := segs[starts[v.First]:starts[v.End]]
		decoded := make([]string, len(parts))
		for k, part := range parts {
			decoded[k] = unescape(part)
		}
		vars[v.Name] = strings.Join(decoded, "/")
	}
	return vars, true
}

// literalEqual compares an escaped request segment with a decoded
// literal, decoding only when the segment holds an escape.
func literalEqual(seg, literal string) bool {
	if strings.IndexByte(seg, '%') < 0 {
		return seg == literal
	}
	dec, err := url.PathUnescape(seg)
	return err == nil && dec == literal
}

// unescape decodes a path segment, leaving it as it is when it is not
// valid percent-encoding.
func unescape(seg string) string {
	if strings.IndexByte(seg, '%') < 0 {
		return seg
	}
	if dec, err := url.PathUnescape(seg); err == nil {
		return dec
	}
	return seg
}
