package operation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// newService is the service over a fresh database holding organizations
// o and p.
func newService(t *testing.T) (*operation.Service, *postgres.DB) {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = db.Pool.Exec(context.Background(), `INSERT INTO organizations (name) VALUES ('o'), ('p')`)
	require.NoError(t, err)
	return operation.NewService(db), db
}

// seed records an operation of org, created at, and returns its id.
func seed(t *testing.T, db *postgres.DB, org, opType, state, target string, at time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := db.Pool.Exec(context.Background(), `INSERT INTO operations (uuid, org, operation_type, state, target, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, org, opType, state, target, at)
	require.NoError(t, err)
	return id
}

func ids(ops []*keyplane.Operation) []uuid.UUID {
	var out []uuid.UUID
	for _, op := range ops {
		out = append(out, op.UUID)
	}
	return out
}

func requireCode(t *testing.T, err error, code keyplane.Code, msg string) {
	t.Helper()
	require.Equal(t, [2]string{string(code), msg}, [2]string{string(keyplane.ErrorCode(err)), keyplane.ErrorMessage(err)}, "%v", err)
}

// TestListMatching_FiltersAndPages: a filter keeps the operations whose
// done, state, type and target match, every condition at once, page by
// page, newest first; an unknown field is refused naming the fields there
// are, and another organization's operations are never listed.
func TestListMatching_FiltersAndPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := newService(t)
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	envCreated := seed(t, db, "o", operation.TypeInsert, keyplane.StateFinished, "organizations/o/environments/e", at)
	envDeleted := seed(t, db, "o", operation.TypeDelete, keyplane.StateFinished, "organizations/o/environments/e", at.Add(time.Second))
	deploying := seed(t, db, "o", operation.TypeInsert, keyplane.StateInProgress, "organizations/o/environments/e/archiveDeployments/d", at.Add(2*time.Second))
	waiting := seed(t, db, "o", operation.TypeInsert, keyplane.StateNotStarted, "organizations/o/environments/e/archiveDeployments/d2", at.Add(3*time.Second))
	seed(t, db, "p", operation.TypeInsert, keyplane.StateFinished, "organizations/p/environments/e", at.Add(4*time.Second))

	for _, tt := range []struct {
		filter string
		want   []uuid.UUID
	}{
		{"", []uuid.UUID{waiting, deploying, envDeleted, envCreated}},
		{"done = true", []uuid.UUID{envDeleted, envCreated}},
		{"done = false", []uuid.UUID{waiting, deploying}},
		{`metadata.state = "IN_PROGRESS"`, []uuid.UUID{deploying}},
		{"metadata.operationType = DELETE", []uuid.UUID{envDeleted}},
		{`metadata.targetResourceName = "organizations/o/environments/e" AND metadata.operationType = INSERT`, []uuid.UUID{envCreated}},
		{`done = true AND metadata.state = "NOT_STARTED"`, nil},
	} {
		ops, next, err := s.ListMatching(ctx, "o", tt.filter, 0, "")
		require.NoError(t, err, tt.filter)
		require.Empty(t, next)
		require.Equal(t, tt.want, ids(ops), tt.filter)
	}

	first, next, err := s.ListMatching(ctx, "o", "metadata.operationType = INSERT", 2, "")
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{waiting, deploying}, ids(first))
	rest, last, err := s.ListMatching(ctx, "o", "metadata.operationType = INSERT", 2, next)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{envCreated}, ids(rest))
	require.Empty(t, last)

	_, _, err = s.ListMatching(ctx, "o", "name = x", 0, "")
	requireCode(t, err, keyplane.InvalidArgument, `filter "name = x": "name" is not supported: the fields this list filters on are `+strings.Join(operation.FilterFields, ", "))
	_, _, err = s.ListMatching(ctx, "o", "done = maybe", 0, "")
	require.Equal(t, keyplane.InvalidArgument, keyplane.ErrorCode(err))
	require.ErrorContains(t, err, "done")
	_, _, err = s.List(ctx, "nowhere", 0, "")
	requireCode(t, err, keyplane.NotFound, `organization "nowhere" not found`)
}

// TestGet_OnlyItsOrganizationsOperations: an operation is found by its
// organization and id; a malformed id, echoed clipped, or another
// organization's operation is not found.
func TestGet_OnlyItsOrganizationsOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := newService(t)
	id := seed(t, db, "o", operation.TypeInsert, keyplane.StateFinished, "organizations/o/environments/e", time.Now())

	op, err := s.Get(ctx, "o", id.String())
	require.NoError(t, err)
	require.True(t, op.Done())
	require.Equal(t, "organizations/o/operations/"+id.String(), op.ResourceName())
	_, err = s.Get(ctx, "p", id.String())
	requireCode(t, err, keyplane.NotFound, `operation "organizations/p/operations/`+id.String()+`" not found`)
	long := strings.Repeat("z", 100)
	_, err = s.Get(ctx, "o", long)
	requireCode(t, err, keyplane.NotFound, `operation "organizations/o/operations/`+keyplane.Clip(long, 64)+`" not found`)
}

// TestStatus_KeepsApplicationErrorsOnly: an operation's error keeps an
// application error's code and message and hides anything else.
func TestStatus_KeepsApplicationErrorsOnly(t *testing.T) {
	t.Parallel()
	require.Equal(t, &keyplane.Status{Code: 9, Message: "alias is used"},
		operation.Status(keyplane.Errorf(keyplane.FailedPrecondition, "alias is used")))
	require.Equal(t, &keyplane.Status{Code: 3, Message: "bad"},
		operation.Status(errors.Join(errors.New("context"), keyplane.Errorf(keyplane.InvalidArgument, "bad"))))
	require.Equal(t, &keyplane.Status{Code: 13, Message: "internal error"},
		operation.Status(errors.New("pq: password authentication failed for user admin")))
}

// runs is keyplane_operations_total by "type/outcome".
func runs(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "keyplane_operations_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["type"]+"/"+labels["outcome"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestTracker_CountsAndLogsEachRun: every series exists, at zero, before
// any run; each run is counted by kind and outcome and logged once, a
// failure with its message and an interruption as a warning; a nil
// tracker reports nothing.
func TestTracker_CountsAndLogsEachRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	var log bytes.Buffer
	tr := operation.NewTracker(reg, slog.New(slog.NewJSONHandler(&log, nil)))
	require.Equal(t, map[string]float64{
		"archive_deploy/succeeded": 0, "archive_deploy/failed": 0, "archive_deploy/interrupted": 0,
		"proxy_deploy/succeeded": 0, "proxy_deploy/failed": 0, "proxy_deploy/interrupted": 0,
		"environment_create/succeeded": 0, "environment_delete/succeeded": 0,
	}, runs(t, reg))

	tr.Start(ctx, "organizations/o/operations/1", operation.KindArchiveDeploy, "deployment", "d1").End(ctx, operation.Failed, "proxy \"p\" is invalid")
	tr.Start(ctx, "organizations/o/operations/2", operation.KindArchiveDeploy).End(ctx, operation.Interrupted, "server stopping")
	tr.Finished(ctx, "organizations/o/operations/3", operation.KindEnvironmentCreate, time.Now())
	tr.Start(ctx, "organizations/o/operations/4", operation.KindProxyDeploy).End(ctx, operation.Succeeded, "")
	require.Equal(t, map[string]float64{
		"archive_deploy/succeeded": 0, "archive_deploy/failed": 1, "archive_deploy/interrupted": 1,
		"proxy_deploy/succeeded": 1, "proxy_deploy/failed": 0, "proxy_deploy/interrupted": 0,
		"environment_create/succeeded": 1, "environment_delete/succeeded": 0,
	}, runs(t, reg))

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &line), l)
		lines = append(lines, line)
	}
	require.Len(t, lines, 7, "a start and an end per run, one line for a run finished at once")
	require.Equal(t, "operation started", lines[0]["msg"])
	require.Equal(t, "d1", lines[0]["deployment"])
	require.Equal(t, "proxy \"p\" is invalid", lines[1]["error"])
	require.Equal(t, "INFO", lines[1]["level"])
	require.Equal(t, "WARN", lines[3]["level"], "an interruption is the server's, not the archive's")
	require.Equal(t, "succeeded", lines[4]["outcome"])
	require.NotContains(t, lines[4], "error")
	require.Equal(t, "proxy_deploy", lines[6]["type"])
	require.Equal(t, "succeeded", lines[6]["outcome"])

	var none *operation.Tracker
	none.Start(ctx, "organizations/o/operations/4", operation.KindArchiveDeploy).End(ctx, operation.Succeeded, "")
	none.Finished(ctx, "organizations/o/operations/5", operation.KindEnvironmentDelete, time.Now())
}
