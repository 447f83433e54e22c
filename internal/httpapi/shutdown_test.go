package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/server"

	"github.com/stretchr/testify/require"
)

func TestShutdown_RunningDeploymentFinishesWithinTheGracePeriod(t *testing.T) {
	t.Parallel()
	b, stop := startConfigured(t, server.Config{ValidationDelay: time.Second, ShutdownTimeout: 30 * time.Second})
	conn := b.sql(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	name := b.c.startDeploy(t, plainArchive(t))
	waitValidated(t, conn)

	require.NoError(t, stop(), "SIGTERM while a deployment runs")
	state, code := operationState(t, conn, name)
	require.Equal(t, api.StateFinished, state, "the deployment finished before the server stopped")
	require.Nil(t, code)
}

func TestShutdown_DeploymentStillRunningAfterTheGracePeriodIsCancelledForRetry(t *testing.T) {
	t.Parallel()
	b, stop := startConfigured(t, server.Config{ValidationDelay: 10 * time.Minute, JobTimeout: 20 * time.Minute,
		ShutdownTimeout: 300 * time.Millisecond})
	conn := b.sql(t)
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	name := b.c.startDeploy(t, plainArchive(t))
	waitValidated(t, conn)

	start := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(start), 15*time.Second)
	state, _ := operationState(t, conn, name)
	require.Equal(t, api.StateInProgress, state, "rolled back, to be finished by the next server")
	var job string
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT state FROM river_job WHERE kind = 'keyplane.deploy'`).Scan(&job))
	require.Contains(t, []string{"available", "retryable"}, job, "the job was cancelled and will run again")
}
