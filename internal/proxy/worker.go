package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/deploy"
	"github.com/keyplane/keyplane/internal/operation"
	"github.com/keyplane/keyplane/internal/requestid"
	"github.com/keyplane/keyplane/internal/route"
)

// Args are the arguments of the job that validates a proxy deployment.
type Args struct {
	Org      string `json:"org"`
	Env      string `json:"env"`
	Proxy    string `json:"proxy"`
	Revision int    `json:"revision"`
	// RequestID is the id of the request that asked for the deployment,
	// for the job's log lines.
	RequestID string `json:"request_id,omitempty"`
}

// Kind names the job in River's tables.
func (Args) Kind() string { return "keyplane.proxy_deploy" }

// Register adds the worker of proxy deployments to the queue's workers.
func (s *Service) Register(w *river.Workers) {
	river.AddWorker(w, &worker{svc: s})
}

type worker struct {
	river.WorkerDefaults[Args]
	svc *Service
}

// Work validates the deployment and settles it READY or ERROR, completing
// the job in the same transaction: a deployment is settled exactly once,
// even when its job is run again after its server died.
func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	if a.RequestID != "" {
		ctx = requestid.With(ctx, a.RequestID)
	}
	d := keyplane.ProxyDeployment{Org: a.Org, Env: a.Env, Proxy: a.Proxy, Revision: a.Revision}
	run := w.svc.cfg.Tracker.Start(ctx, d.Name(), operation.KindProxyDeploy, "attempt", job.Attempt)
	var failure string
	err := w.svc.runDeployment(ctx, a.Org, a.Env, a.Proxy, a.Revision, func(tx DeployTx) error {
		problems, uses, replaced, err := w.svc.validate(ctx, tx, a)
		if err != nil {
			return err
		}
		if delay := w.svc.cfg.ValidationDelay; delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(problems) > 0 {
			failure = problems[0].Message
			err = tx.Fail(ctx, problems)
		} else {
			err = tx.Ready(ctx, uses, replaced)
		}
		if err != nil {
			return err
		}
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx.Tx(), job)
		return err
	})
	switch {
	case errors.Is(err, keyplane.ErrDeploymentSettled):
		w.svc.cfg.Log.InfoContext(ctx, "proxy deployment already settled or undeployed", "deployment", d.Name())
		return nil
	case err == nil && failure == "":
		run.End(ctx, operation.Succeeded, "")
		return nil
	case err == nil:
		run.End(ctx, operation.Failed, failure)
		return nil
	case job.Attempt < job.MaxAttempts:
		run.End(ctx, operation.Interrupted, err.Error())
		return err
	}
	// The queue gives up after this attempt: settle the deployment as
	// ERROR rather than leave its pollers waiting forever.
	problem := keyplane.DeploymentProblem{Code: keyplane.GRPCCode(keyplane.Internal), Message: "internal error: the deployment could not be validated; deploy again"}
	if ferr := w.svc.store.FailStuckProxyDeployment(context.WithoutCancel(ctx), a.Org, a.Env, a.Proxy, a.Revision, []keyplane.DeploymentProblem{problem}); ferr != nil {
		w.svc.cfg.Log.ErrorContext(ctx, "cannot settle a failed proxy deployment", "deployment", d.Name(), "error", ferr)
		run.End(ctx, operation.Interrupted, err.Error())
		return err
	}
	run.End(ctx, operation.Failed, err.Error())
	return err
}

// validate checks the deployment in tx. Problems are its verdict: the
// deployment is ERROR with them. An error is a failure of ours (the
// database gone, a bug): nothing is settled, and the job is retried.
func (s *Service) validate(ctx context.Context, tx DeployTx, a Args) ([]keyplane.DeploymentProblem, keyplane.DeploymentUses, []keyplane.ProxyDeployment, error) {
	var uses keyplane.DeploymentUses
	verdict := func(err error) ([]keyplane.DeploymentProblem, keyplane.DeploymentUses, []keyplane.ProxyDeployment, error) {
		var appErr *keyplane.Error
		if !errors.As(err, &appErr) || appErr.Code == keyplane.Unavailable {
			return nil, uses, nil, err
		}
		return []keyplane.DeploymentProblem{{Code: keyplane.GRPCCode(appErr.Code), Message: appErr.Message}}, uses, nil, nil
	}
	d, err := tx.Deployment(ctx)
	if err != nil {
		return nil, uses, nil, err
	}
	data, err := tx.Bundle(ctx)
	if err != nil {
		return nil, uses, nil, err
	}
	pb, err := archive.ReadProxyBundle(data, a.Proxy, s.cfg.Limits)
	if err != nil {
		return verdict(err)
	}
	bundle := &archive.Bundle{Env: a.Env, Proxies: []archive.Proxy{pb.Proxy}}
	routes, err := route.Compile(bundle)
	if err != nil {
		return verdict(err)
	}
	others, err := tx.Others(ctx)
	if err != nil {
		return nil, uses, nil, err
	}
	replaced, err := basePathOwners(d, others)
	if err != nil {
		return verdict(err)
	}
	snap, versions, err := archive.LoadSnapshot(ctx, tx, a.Org, a.Env, bundle, s.now())
	if err != nil {
		return nil, uses, nil, err
	}
	if err := deploy.CheckTargets(ctx, s.cfg.Targets, routes, bundle, snap); err != nil {
		return verdict(err)
	}
	res, err := archive.Validate(bundle, snap, map[string]int{a.Proxy: a.Revision})
	if err != nil {
		return verdict(err)
	}
	uses.TargetServers = res.TargetServers
	uses.References = slices.Sorted(maps.Keys(snap.References))
	uses.Keystores = slices.Sorted(maps.Keys(snap.Keystores))
	for _, pin := range res.Pins {
		uses.Aliases = append(uses.Aliases, keyplane.PinnedAlias{Keystore: pin.Keystore, Alias: pin.Alias, ID: pin.AliasID, Version: versions[pin.AliasID]})
	}
	return nil, uses, replaced, nil
}

// basePathOwners decides what deployment d replaces among the
// environment's others: every other revision of its proxy, and, when d
// asks to override, the READY deployments of other proxies that serve one
// of its base paths. Without override such a deployment is an error naming
// both.
func basePathOwners(d *keyplane.ProxyDeployment, others []keyplane.ProxyDeployment) ([]keyplane.ProxyDeployment, error) {
	var replaced []keyplane.ProxyDeployment
	mine := map[string]bool{}
	for _, p := range d.Basepaths {
		mine[p] = true
	}
	var conflicts []string
	for _, o := range others {
		if o.Proxy == d.Proxy {
			replaced = append(replaced, o)
			continue
		}
		var shared []string
		for _, p := range o.Basepaths {
			if mine[p] {
				shared = append(shared, p)
			}
		}
		switch {
		case len(shared) == 0:
		case d.Override:
			replaced = append(replaced, o)
		default:
			for _, p := range shared {
				conflicts = append(conflicts, fmt.Sprintf("base path %q of proxy %q is already served by proxy %q",
					p, keyplane.RevisionName(d.Org, d.Proxy, d.Revision), keyplane.RevisionName(o.Org, o.Proxy, o.Revision)))
			}
		}
	}
	if len(conflicts) > 0 {
		return nil, keyplane.Errorf(keyplane.InvalidArgument,
			"generic::invalid_argument: %s in environment %q; undeploy it, or deploy with override=true to replace it",
			strings.Join(conflicts, "; "), keyplane.EnvName(d.Org, d.Env))
	}
	return replaced, nil
}
