package keyplane

import (
	"encoding/json"
	"time"
)

// Environment is where TLS material lives and where archives are deployed.
// Its deployment type decides whether it takes archive deployments; its
// proxy type whether its keystore changes take effect in place
// (PROGRAMMABLE) or only through a new deployment (CONFIGURABLE).
type Environment struct {
	Name           string
	Description    string
	DeploymentType string
	APIProxyType   string
	CreatedAt      time.Time
	LastModifiedAt time.Time
	// Extra holds, by field name, the attributes keyplane keeps for a
	// client without acting on them; each value is the JSON it came as.
	Extra map[string]json.RawMessage
}

// Environment deployment and proxy types.
const (
	DeploymentTypeProxy   = "PROXY"
	DeploymentTypeArchive = "ARCHIVE"
	ProxyTypeProgrammable = "PROGRAMMABLE"
	ProxyTypeConfigurable = "CONFIGURABLE"
)

// EnvName is the resource name of an environment, the prefix of every
// environment-level resource's name.
func EnvName(org, env string) string {
	return "organizations/" + org + "/environments/" + env
}
