package keyplane

import (
	"errors"
	"fmt"
	"time"
)

// APIProxy is an API proxy of an organization: a name under which bundles
// are imported as numbered revisions and deployed to PROXY environments.
type APIProxy struct {
	Org, Name string
	// Revisions are the numbers of the proxy's revisions, oldest first.
	Revisions []int
	// LatestRevision is the newest revision number given, even when that
	// revision has since been deleted.
	LatestRevision int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// ProxyRevision is one imported bundle of an API proxy, described by what
// it contains.
type ProxyRevision struct {
	Org, Proxy string
	Revision   int
	CreatedAt  time.Time
	// Basepaths are the base paths its proxy endpoints serve.
	Basepaths []string
	// ProxyEndpoints and TargetEndpoints name its endpoints; TargetServers
	// the target servers its target endpoints use.
	ProxyEndpoints  []string
	TargetEndpoints []string
	TargetServers   []string
	// Policies and Resources name its policy and resource files.
	Policies  []string
	Resources []string
}

// Name is the revision's resource name.
func (r *ProxyRevision) Name() string { return RevisionName(r.Org, r.Proxy, r.Revision) }

// RevisionName is the resource name of revision rev of API proxy proxy.
func RevisionName(org, proxy string, rev int) string {
	return fmt.Sprintf("organizations/%s/apis/%s/revisions/%d", org, proxy, rev)
}

// DeploymentState is where a proxy deployment stands.
type DeploymentState string

// The states of a proxy deployment: PROGRESSING until the job that
// validates it has run, then READY (served) or ERROR.
const (
	DeploymentProgressing DeploymentState = "PROGRESSING"
	DeploymentReady       DeploymentState = "READY"
	DeploymentFailed      DeploymentState = "ERROR"
)

// DeploymentProblem is why a proxy deployment is in state ERROR: a gRPC code
// and its message.
type DeploymentProblem struct {
	Code    int
	Message string
}

// ProxyDeployment is the deployment of one revision of an API proxy to a
// PROXY environment.
type ProxyDeployment struct {
	Org, Env, Proxy string
	Revision        int
	State           DeploymentState
	// Errors are set in state ERROR.
	Errors []DeploymentProblem
	// Override asked that the deployment replace the proxy's other
	// deployed revision and take over the base paths of other proxies.
	Override  bool
	StartedAt time.Time
	// Basepaths are the revision's base paths.
	Basepaths []string
}

// Name is the deployment's resource name, as Apigee names the path it is
// reached at.
func (d *ProxyDeployment) Name() string {
	return fmt.Sprintf("%s/apis/%s/revisions/%d/deployments", EnvName(d.Org, d.Env), d.Proxy, d.Revision)
}

// DeploymentUses is what a READY deployment uses of its environment, and
// so what cannot be deleted while it is deployed: target servers,
// references, keystores, and the aliases whose certificates it validated,
// pinned at the version it validated.
type DeploymentUses struct {
	TargetServers []string
	References    []string
	Keystores     []string
	Aliases       []PinnedAlias
}

// PinnedAlias is an alias at the version of its certificate that a
// deployment validated.
type PinnedAlias struct {
	Keystore, Alias string
	ID, Version     int64
}

// RouteChange is a base path whose traffic a deployment or undeployment
// moves: from the deployment that serves it now (nil when none does) to
// the one that will (nil when none will).
type RouteChange struct {
	Basepath string
	From, To *ProxyDeployment
}

// RouteConflict is a base path of a revision that another proxy's
// deployment already serves: deploying the revision fails unless it
// overrides that deployment.
type RouteConflict struct {
	Basepath string
	With     ProxyDeployment
}

// ErrDeploymentSettled is returned when the job of a proxy deployment
// finds it no longer in progress: another worker settled it, or it was
// undeployed.
var ErrDeploymentSettled = errors.New("proxy deployment no longer in progress")

// LiveProxies are the proxy revisions a PROXY environment serves.
type LiveProxies struct {
	Org, Env string
	// ProxyType is the environment's apiProxyType.
	ProxyType string
	Revisions []LiveRevision
}

// LiveRevision is one API proxy revision a gateway serves.
type LiveRevision struct {
	Proxy    string
	Revision int
}
