package auth

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/keyplane/keyplane"
)

// AuditStore is the storage of the audit log; *postgres.DB implements it.
type AuditStore interface {
	Audit(ctx context.Context, a *keyplane.AuditEntry) error
	ListAudit(ctx context.Context, org string, before int64, limit int) ([]*keyplane.AuditEntry, error)
}

// Audit records every change and pages through the record.
//
// A record that cannot be written because the database is unavailable (the
// request it records was most likely refused for the same reason) is not
// lost: it is spooled in memory, up to MaxSpooled records, with the time it
// happened, and written as soon as the database answers again. A process
// that dies meanwhile loses what it spooled; the log says how many records
// wait.
type Audit struct {
	store AuditStore
	log   *slog.Logger

	mu       sync.Mutex
	spool    []*keyplane.AuditEntry
	dropped  int
	flushing bool
	done     chan struct{}
	closed   bool
}

// MaxSpooled bounds the records kept while the database is unavailable;
// past it the oldest are dropped, and counted in the log.
const MaxSpooled = 10000

// spoolRetry is how often spooled records are tried again.
var spoolRetry = time.Second

// NewAudit returns the audit log over store.
func NewAudit(store AuditStore) *Audit {
	return &Audit{store: store, log: slog.New(slog.DiscardHandler), done: make(chan struct{})}
}

// WithLog makes the audit log report spooling to log.
func (a *Audit) WithLog(log *slog.Logger) *Audit {
	a.log = log
	return a
}

// Record appends one change to the log. While the database is unavailable
// the record is spooled (see Audit) and Record returns nil.
func (a *Audit) Record(ctx context.Context, rec *keyplane.AuditEntry) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	a.mu.Lock()
	pending := len(a.spool) > 0
	a.mu.Unlock()
	if !pending {
		err := a.store.Audit(ctx, rec)
		if err == nil || keyplane.ErrorCode(err) != keyplane.Unavailable {
			return err
		}
	}
	// Behind records already spooled, so that the log keeps their order.
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return keyplane.Errorf(keyplane.Unavailable, "the database is unavailable; try again")
	}
	if len(a.spool) == 0 {
		a.log.Warn("database unavailable: audit records are kept in memory until it answers")
	}
	if len(a.spool) >= MaxSpooled {
		a.spool = a.spool[1:]
		a.dropped++
	}
	a.spool = append(a.spool, rec)
	if !a.flushing {
		a.flushing = true
		go a.flush()
	}
	return nil
}

// flush writes the spooled records, oldest first, retrying every
// spoolRetry while the database is unavailable, until none is left or
// Close.
func (a *Audit) flush() {
	written := 0
	for {
		a.mu.Lock()
		if len(a.spool) == 0 {
			a.flushing = false
			dropped := a.dropped
			a.dropped = 0
			a.mu.Unlock()
			a.log.Info("wrote the audit records kept while the database was unavailable", "written", written, "dropped", dropped)
			return
		}
		rec := a.spool[0]
		a.mu.Unlock()
		err := a.store.Audit(context.Background(), rec)
		switch {
		case err == nil:
			written++
		case keyplane.ErrorCode(err) == keyplane.Unavailable:
			select {
			case <-a.done:
				a.mu.Lock()
				a.log.Error("audit records lost: the server stopped before the database answered", "records", len(a.spool)+a.dropped)
				a.flushing = false
				a.mu.Unlock()
				return
			case <-time.After(spoolRetry):
			}
			continue
		default:
			a.log.Error("audit record dropped", "error", err)
		}
		a.mu.Lock()
		if len(a.spool) > 0 && a.spool[0] == rec {
			a.spool = a.spool[1:]
		}
		a.mu.Unlock()
	}
}

// Spooled returns how many records wait for the database.
func (a *Audit) Spooled() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.spool)
}

// Close stops retrying spooled records; records spooled after it are
// refused.
func (a *Audit) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.closed = true
		close(a.done)
	}
}

// List returns a page of an organization's log, newest first, and the
// token of the next page, empty on the last.
func (a *Audit) List(ctx context.Context, org string, pageSize int, pageToken string) ([]*keyplane.AuditEntry, string, error) {
	size, err := keyplane.PageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	var before int64
	if pageToken != "" {
		n, err := strconv.ParseInt(pageToken, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", keyplane.Errorf(keyplane.InvalidArgument, "pageToken is invalid")
		}
		before = n
	}
	recs, err := a.store.ListAudit(ctx, org, before, size+1)
	if err != nil {
		return nil, "", err
	}
	recs, next := keyplane.Page(recs, size, func(r *keyplane.AuditEntry) string { return strconv.FormatInt(r.ID, 10) })
	return recs, next, nil
}
