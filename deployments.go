package keyplane

import (
	"time"

	"github.com/google/uuid"
)

// ArchiveDeployment is a deployment of an uploaded archive to an
// environment, run by its operation.
type ArchiveDeployment struct {
	Org, Env, ID string
	UploadID     uuid.UUID
	GcsURI       string
	Labels       map[string]string
	Operation    uuid.UUID
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ResourceName is the deployment's full resource name.
func (d *ArchiveDeployment) ResourceName() string {
	return EnvName(d.Org, d.Env) + "/archiveDeployments/" + d.ID
}

// DeploymentItem is one thing a successful deployment made live or
// checked: a proxy at a revision, a target server, a reference, a keystore,
// or an alias pinned at the version it checked.
type DeploymentItem struct {
	Kind         string // proxy, targetserver, reference, keystore, alias
	Name         string
	Revision     int
	AliasID      int64
	AliasVersion int64
}

// LiveDeployment is the deployment that serves an environment.
type LiveDeployment struct {
	Org, Env   string
	Deployment string
	UploadID   uuid.UUID
	// ProxyType is the environment's apiProxyType.
	ProxyType string
}

// HostCollision is an environment that shares its gateway host with
// another one, found when host names became owned.
type HostCollision struct {
	Host, Org, Env string
}
