package keyplane

// Reference resource types.
const (
	ResourceTypeKeyStore   = "KeyStore"
	ResourceTypeTrustStore = "TrustStore"
)

// Reference names a keystore of its environment, so that TLS settings
// (ref://name) can be re-pointed without a new deployment.
type Reference struct {
	Name         string
	Description  string
	ResourceType string
	Refers       string // a keystore of the same environment
	// EnvProxyType is the apiProxyType of the reference's environment when
	// the reference was read for a change, which it decides; empty
	// otherwise.
	EnvProxyType string
}
