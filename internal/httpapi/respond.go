package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/transcode"
)

// writeJSON answers with status and v encoded as JSON, indented by two
// spaces and ended by a newline, as json.Encoder with SetIndent("", "  ")
// writes it. The body is encoded into pooled buffers first, so that the
// answer carries its Content-Length and goes out in one write, and a value
// that cannot be encoded is a 500, not a cut body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b := jsonBuffers.Get().(*jsonBuffer)
	defer b.release()
	if err := b.enc.Encode(v); err != nil {
		// Only a value with a type JSON has no form for (a programming
		// error) gets here; no handler sends one.
		http.Error(w, "internal error: cannot encode the answer", http.StatusInternalServerError)
		return
	}
	b.out = appendIndented(b.out[:0], b.compact.Bytes())
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b.out)))
	w.WriteHeader(status)
	_, _ = w.Write(b.out)
}

// jsonBuffer is an encoder, the buffer it writes compact JSON to and the
// buffer of the indented answer, reused across answers: a warm one encodes
// without allocating.
type jsonBuffer struct {
	compact bytes.Buffer
	enc     *json.Encoder
	out     []byte
}

var jsonBuffers = sync.Pool{New: func() any {
	b := &jsonBuffer{}
	b.enc = json.NewEncoder(&b.compact)
	return b
}}

// maxPooledJSON is the largest buffer kept for reuse: a rare large answer
// (a long list) should not pin its memory in the pool.
const maxPooledJSON = 64 << 10

func (b *jsonBuffer) release() {
	if b.compact.Cap() > maxPooledJSON || cap(b.out) > maxPooledJSON {
		return
	}
	b.compact.Reset()
	jsonBuffers.Put(b)
}

// appendIndented appends src, compact JSON as json.Marshal writes it (no
// space outside strings), indented as json.Indent(dst, src, "", "  ")
// indents it: encoding/json's indentation runs its validating scanner over
// every byte again, which cost an alias read more than encoding did, and
// src needs no validation.
func appendIndented(dst, src []byte) []byte {
	depth, open := 0, false // open: just after { or [, which may be empty
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			depth++
			dst = appendNewline(dst, depth)
		}
		switch c {
		case '"':
			// Copy the string whole, escapes included.
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					j++ // the escaped byte, a quote perhaps
				}
			}
			j = min(j, len(src)-1)
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			open = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			dst = appendNewline(dst, depth)
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if open {
				open = false // {} and [] stay on one line
			} else {
				depth--
				dst = appendNewline(dst, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendNewline(dst []byte, depth int) []byte {
	dst = append(dst, '\n')
	for range depth {
		dst = append(dst, ' ', ' ')
	}
	return dst
}

// readBody reads the whole request body, refusing one larger than limit
// with 413 naming the limit.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "cannot read request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return keyplane.Errorf(keyplane.RequestTooLarge, "request body exceeds the limit of %s", bytesString(limit))
}

// bytesString writes a size the way people read it.
func bytesString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// decode reads a request body that is an Apigee resource of the named
// schema into v, as Google's JSON transcoding reads it (see package
// transcode): both field spellings, integers as strings, enums by name,
// unknown fields refused.
func (s *Server) decode(r *http.Request, schema string, v any) error {
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	return transcode.Decode(body, schema, v)
}

// decodeJSON decodes a JSON request body that is keyplane's own (not an
// Apigee resource) into v.
func (s *Server) decodeJSON(r *http.Request, v any) error {
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	return unmarshal(body, v)
}

// unmarshal decodes JSON with an error that says where it went wrong.
func unmarshal(body []byte, v any) error {
	if len(body) == 0 {
		return keyplane.Errorf(keyplane.InvalidArgument, "request body is empty; a JSON object is required")
	}
	err := json.Unmarshal(body, v)
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var fieldErr *api.FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntaxErr):
		return keyplane.Errorf(keyplane.InvalidArgument, "request body is not valid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &fieldErr):
		return keyplane.Errorf(keyplane.InvalidArgument, "%s", fieldErr.Message)
	case errors.As(err, &typeErr):
		return keyplane.Errorf(keyplane.InvalidArgument, "request body field %q must be %s, not a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	default:
		return keyplane.Errorf(keyplane.InvalidArgument, "request body is not valid JSON: %v", err)
	}
}
