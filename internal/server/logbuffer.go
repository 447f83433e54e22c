package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// LogFlushInterval is how long a line of `keyplane serve`'s log may wait in
// its buffer: lines are written in batches, one write for many requests,
// rather than one write to stderr per request. Warnings and errors are
// written at once, with every line before them, and Server.Close writes
// what is left.
const LogFlushInterval = 50 * time.Millisecond

// logFlushSize is the buffered size past which the lines are written
// without waiting.
const logFlushSize = 32 << 10

// NewBufferedLogger is NewLogger with the lines written in batches (see
// LogFlushInterval). Its handler has a Flush method, which Server.Close
// calls.
func NewBufferedLogger(w *os.File, format, level string, interval time.Duration) (*slog.Logger, error) {
	buf := &lineBuffer{w: w, interval: interval}
	log, err := newLogger(buf, w, format, level)
	if err != nil {
		return nil, err
	}
	return slog.New(flushingHandler{log.Handler(), buf}), nil
}

// lineBuffer gathers what is written to it and writes it to w in one
// write when it passes logFlushSize, interval after the first write since
// the last flush, or when flushed.
type lineBuffer struct {
	w        io.Writer
	interval time.Duration

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer
	armed bool
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logFlushSize {
		return len(p), b.flushLocked()
	}
	if !b.armed {
		b.armed = true
		if b.timer == nil {
			b.timer = time.AfterFunc(b.interval, func() { _ = b.Flush() })
		} else {
			b.timer.Reset(b.interval)
		}
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (b *lineBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *lineBuffer) flushLocked() error {
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 4*logFlushSize {
		b.buf = nil // a burst of long lines should not pin its memory
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// flushingHandler writes warnings and errors at once, with the lines
// buffered before them: what goes wrong is never left waiting, nor lost
// if the process then dies.
type flushingHandler struct {
	slog.Handler
	buf *lineBuffer
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf}
}

// Flush writes the lines buffered.
func (h flushingHandler) Flush() error { return h.buf.Flush() }

// logFlusher is a log handler that buffers, such as NewBufferedLogger's.
type logFlusher interface{ Flush() error }
