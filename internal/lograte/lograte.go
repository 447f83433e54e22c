// Package lograte keeps a log readable while something fails over and over:
// a database outage makes the job queue's fetch loop and every refused
// request fail the same way many times a second.
package lograte

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Handler passes on the first of identical warnings and errors (same level,
// message and error), then drops the same one for the window that follows;
// the first after the window carries a "suppressed" attribute counting those
// dropped. Records below Warn pass untouched.
type Handler struct {
	next   slog.Handler
	window time.Duration
	now    func() time.Time
	state  *state
}

type state struct {
	mu   sync.Mutex
	seen map[string]*entry
}

type entry struct {
	since      time.Time
	suppressed int
}

// maxKeys bounds the memory of distinct records: past it, the oldest are
// forgotten (and their next occurrence passes).
const maxKeys = 1024

// New returns a Handler over next with the given window.
func New(next slog.Handler, window time.Duration) *Handler {
	return &Handler{next: next, window: window, now: time.Now, state: &state{seen: map[string]*entry{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	key := r.Level.String() + "\x00" + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" || a.Key == "err" {
			key += "\x00" + fmt.Sprint(a.Value.Any())
		}
		return true
	})
	now := h.now()
	h.state.mu.Lock()
	e, ok := h.state.seen[key]
	if ok && now.Sub(e.since) < h.window {
		e.suppressed++
		h.state.mu.Unlock()
		return nil
	}
	suppressed := 0
	if ok {
		suppressed = e.suppressed
	}
	if !ok && len(h.state.seen) >= maxKeys {
		for k, old := range h.state.seen {
			if now.Sub(old.since) >= h.window {
				delete(h.state.seen, k)
			}
		}
		if len(h.state.seen) >= maxKeys {
			h.state.seen = map[string]*entry{}
		}
	}
	h.state.seen[key] = &entry{since: now}
	h.state.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler; the derived handler shares the memory
// of records seen.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
