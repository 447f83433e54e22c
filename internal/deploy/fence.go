package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/archive"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/route"
)

// checkTargets fails a deployment whose targets name a host the target
// fence refuses (the management API itself, loopback, link-local or
// metadata addresses, unless the operator allowed them), naming each such
// target. Gateways check again, on every connection, the address they
// dial.
func (s *Service) checkTargets(ctx context.Context, routes *route.Table, b *archive.Bundle, snap *archive.Snapshot) error {
	return CheckTargets(ctx, s.cfg.Targets, routes, b, snap)
}

// CheckTargets refuses, under policy (nil: the default policy), the hosts
// that the targets of routes reach: archive and API proxy deployments are
// fenced alike.
func CheckTargets(ctx context.Context, policy *egress.Policy, routes *route.Table, b *archive.Bundle, snap *archive.Snapshot) error {
	if policy == nil {
		policy = &egress.Policy{}
	}
	var problems []string
	check := func(what, host string, port int) {
		err := policy.CheckHost(ctx, host, port)
		if refused, ok := errors.AsType[*egress.RefusedError](err); ok {
			problems = append(problems, fmt.Sprintf("%s: %s", what, refused.Error()))
		}
	}
	for _, t := range routes.Targets() {
		if t.URL != "" {
			u, err := url.Parse(t.URL)
			if err != nil || u.Hostname() == "" {
				continue
			}
			port, _ := strconv.Atoi(u.Port())
			if port == 0 {
				port = map[string]int{"http": 80, "https": 443}[u.Scheme]
			}
			check(fmt.Sprintf("proxy %q target %q", t.Proxy, keyplane.Clip(t.Name, 200)), u.Hostname(), port)
			continue
		}
		for _, name := range t.Servers {
			ts, ok := b.TargetServers[name]
			if !ok {
				ts, ok = snap.TargetServers[name]
			}
			if ok {
				check(fmt.Sprintf("proxy %q target server %q", t.Proxy, keyplane.Clip(name, 200)), keyplane.Clip(ts.Host, 200), int(ts.Port))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return keyplane.Errorf(keyplane.InvalidArgument, "generic::invalid_argument: %s", strings.Join(problems, "; "))
}
