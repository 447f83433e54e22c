package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/keyplane/keyplane"
)

// MigrateJobs applies the job queue's own migrations (River's tables), which
// live beside keyplane's in the same database.
func MigrateJobs(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("postgres: migrate job queue: %w", err)
	}
	return nil
}

// JobStates returns the states of a job not yet finished, as River names
// them.
func JobStates() []string {
	return []string{"available", "pending", "retryable", "running", "scheduled"}
}

// CountJobs counts the unfinished jobs of a kind, by state (every state of
// JobStates is present, zero included), in one query over the index River
// fetches jobs with.
func (db *DB) CountJobs(ctx context.Context, kind string) (map[string]int64, error) {
	states := JobStates()
	rows, err := db.Pool.Query(ctx, `
		SELECT state::text, count(*) FROM river_job
		WHERE state = ANY($1::river_job_state[]) AND kind = $2
		GROUP BY state`, states, kind)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := make(map[string]int64, len(states))
	for _, s := range states {
		out[s] = 0
	}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, wrap(err)
		}
		out[state] = n
	}
	return out, wrap(rows.Err())
}

// QueueHealth reads the job queue's health in one statement, over the job
// queue's pool.
func (db *DB) QueueHealth(ctx context.Context, kind string, stuckAfter time.Duration) (keyplane.QueueHealth, error) {
	var h keyplane.QueueHealth
	var oldest float64
	err := db.JobPool.QueryRow(ctx, `
		SELECT
			EXISTS (SELECT 1 FROM river_leader WHERE expires_at > now()),
			coalesce(extract(epoch FROM now() - (
				SELECT min(attempted_at) FROM river_job WHERE state = 'running' AND kind = $1)), 0)::float8,
			(SELECT count(*) FROM operations
				WHERE state <> 'FINISHED' AND created_at < now() - make_interval(secs => $2::float8))`,
		kind, stuckAfter.Seconds()).Scan(&h.Leader, &oldest, &h.Stuck)
	if err != nil {
		return h, wrap(err)
	}
	h.OldestRunning = time.Duration(oldest * float64(time.Second))
	return h, nil
}

// QueueLeader reports whether a server holds the job queue's leadership,
// unexpired.
func (db *DB) QueueLeader(ctx context.Context) (bool, error) {
	var ok bool
	err := db.JobPool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM river_leader WHERE expires_at > now())`).Scan(&ok)
	return ok, wrap(err)
}
