package auth

import (
	"context"
	"strconv"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/postgres"
)

// AuditStore is the storage of the audit log; *postgres.DB implements it.
type AuditStore interface {
	Audit(ctx context.Context, a *postgres.AuditRecord) error
	ListAudit(ctx context.Context, org string, before int64, limit int) ([]*postgres.AuditRecord, error)
}

// Audit records every change and pages through the record.
type Audit struct{ store AuditStore }

// NewAudit returns the audit log over store.
func NewAudit(store AuditStore) *Audit { return &Audit{store: store} }

// Record appends one change to the log.
func (a *Audit) Record(ctx context.Context, rec *postgres.AuditRecord) error {
	return a.store.Audit(ctx, rec)
}

// List returns a page of an organization's log, newest first.
func (a *Audit) List(ctx context.Context, org string, pageSize int, pageToken string) (*api.ListAuditLogsResponse, error) {
	size, err := keyplane.PageSize(pageSize)
	if err != nil {
		return nil, err
	}
	var before int64
	if pageToken != "" {
		n, err := strconv.ParseInt(pageToken, 10, 64)
		if err != nil || n <= 0 {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "pageToken is invalid")
		}
		before = n
	}
	recs, err := a.store.ListAudit(ctx, org, before, size+1)
	if err != nil {
		return nil, err
	}
	recs, next := keyplane.Page(recs, size, func(r *postgres.AuditRecord) string { return strconv.FormatInt(r.ID, 10) })
	out := &api.ListAuditLogsResponse{AuditLogs: []api.AuditLog{}, NextPageToken: next}
	for _, r := range recs {
		out.AuditLogs = append(out.AuditLogs, api.AuditLog{Actor: r.Actor, Role: r.Role, Method: r.Method,
			Resource: r.Resource, Status: r.Status, Outcome: r.Outcome, Time: r.Time.UTC().Format(time.RFC3339Nano)})
	}
	return out, nil
}
