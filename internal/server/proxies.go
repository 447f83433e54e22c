package server

import (
	"context"
	"errors"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/postgres"
	"github.com/keyplane/keyplane/internal/proxy"
)

// proxyStore gives the proxy service the database in the terms of its own
// interfaces: the transaction that settles a deployment as a proxy.DeployTx
// and its "already settled" as proxy.ErrSettled.
type proxyStore struct{ *postgres.DB }

func (s proxyStore) RunDeployment(ctx context.Context, org, env, name string, rev int, fn func(proxy.DeployTx) error) error {
	err := s.RunProxyDeployment(ctx, org, env, name, rev, func(tx *postgres.ProxyDeployTx) error { return fn(tx) })
	if errors.Is(err, postgres.ErrDeploymentSettled) {
		return proxy.ErrSettled
	}
	return err
}

func (s proxyStore) FailStuckDeployment(ctx context.Context, org, env, name string, rev int, problems []keyplane.DeploymentProblem) error {
	return s.FailStuckProxyDeployment(ctx, org, env, name, rev, problems)
}
