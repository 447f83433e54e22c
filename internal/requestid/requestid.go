// Package requestid carries the id of the request that caused some work
// along with that work: through the request's context, into the job a
// request queues, and onto every log line written with such a context, so
// that one id finds every line a request led to, even those a job queue
// worker writes later.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// Header is the HTTP header that carries a request id both ways.
const Header = "X-Request-Id"

// MaxLen is the longest request id a caller may choose.
const MaxLen = 128

// New returns a random request id of 16 hex digits.
func New() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Valid reports whether a caller's id may be used as it is: 1 to MaxLen
// characters, each a letter, a digit or one of - . _ ~ + / = : @. That covers
// UUIDs, hex and base64 ids and trace ids, and keeps out what could forge or
// break a log line (spaces, quotes, control characters, non-ASCII).
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/', c == '=', c == ':', c == '@':
		default:
			return false
		}
	}
	return true
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Handler returns a log handler that adds a request_id attribute to every
// record logged with a context carrying an id (the *Context methods of
// slog.Logger), then passes it to h.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.next.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.next.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.next.WithGroup(name)} }
