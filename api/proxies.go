package api

// ApiProxy is organizations/{org}/apis/{api}: an API proxy and the
// revisions imported for it. The field names and shapes are those of
// Apigee's GoogleCloudApigeeV1ApiProxy.
type ApiProxy struct {
	Name string `json:"name"`
	// Revision lists the proxy's revisions, as numbers in strings, oldest
	// first.
	Revision []string `json:"revision,omitempty"`
	// LatestRevisionID is the newest revision's number, as a string.
	LatestRevisionID string            `json:"latestRevisionId,omitempty"`
	MetaData         *EntityMetadata   `json:"metaData,omitempty"`
	APIProxyType     string            `json:"apiProxyType,omitempty"`
	ReadOnly         bool              `json:"readOnly,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
}

// EntityMetadata is the metaData of an API proxy: times in milliseconds
// since the epoch, as strings.
type EntityMetadata struct {
	CreatedAt      int64  `json:"createdAt,omitempty,string"`
	LastModifiedAt int64  `json:"lastModifiedAt,omitempty,string"`
	SubType        string `json:"subType,omitempty"`
}

// ListApiProxiesResponse answers GET /v1/organizations/{org}/apis.
type ListApiProxiesResponse struct {
	Proxies []ApiProxy `json:"proxies"`
}

// ApiProxyRevision is organizations/{org}/apis/{api}/revisions/{rev}: one
// imported bundle, described as Apigee's GoogleCloudApigeeV1ApiProxyRevision
// describes it.
type ApiProxyRevision struct {
	Name string `json:"name"`
	// Revision is the revision's number, as a string.
	Revision       string   `json:"revision"`
	CreatedAt      int64    `json:"createdAt,omitempty,string"`
	LastModifiedAt int64    `json:"lastModifiedAt,omitempty,string"`
	Description    string   `json:"description,omitempty"`
	DisplayName    string   `json:"displayName,omitempty"`
	Basepaths      []string `json:"basepaths,omitempty"`
	// Proxies and ProxyEndpoints name the bundle's proxy endpoints;
	// Targets and TargetEndpoints its target endpoints; TargetServers the
	// target servers its target endpoints use.
	Proxies         []string `json:"proxies,omitempty"`
	ProxyEndpoints  []string `json:"proxyEndpoints,omitempty"`
	Targets         []string `json:"targets,omitempty"`
	TargetEndpoints []string `json:"targetEndpoints,omitempty"`
	TargetServers   []string `json:"targetServers,omitempty"`
	Policies        []string `json:"policies,omitempty"`
	Resources       []string `json:"resources,omitempty"`
	// Type is always "Application", as Apigee sends it.
	Type string `json:"type,omitempty"`
}

// Deployment states.
const (
	DeploymentStateProgressing = "PROGRESSING"
	DeploymentStateReady       = "READY"
	DeploymentStateError       = "ERROR"
)

// Deployment is the deployment of an API proxy revision to an
// environment, Apigee's GoogleCloudApigeeV1Deployment.
type Deployment struct {
	Environment string `json:"environment"`
	APIProxy    string `json:"apiProxy"`
	// Revision is the deployed revision's number, as a string.
	Revision string `json:"revision"`
	// DeployStartTime is when the deployment was asked for, in
	// milliseconds since the epoch.
	DeployStartTime int64 `json:"deployStartTime,omitempty,string"`
	// State is PROGRESSING until the deployment is validated, then READY
	// or ERROR.
	State string `json:"state,omitempty"`
	// Errors say why a deployment is in state ERROR.
	Errors []RPCStatus `json:"errors,omitempty"`
	// BasePath is the first base path the revision serves; keyplane sends
	// it as Apigee's list of deployments does.
	BasePath string `json:"basePath,omitempty"`
	// ProxyDeploymentType is STANDARD for every keyplane deployment.
	ProxyDeploymentType string `json:"proxyDeploymentType,omitempty"`
}

// RPCStatus is a google.rpc.Status in a deployment's errors.
type RPCStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ListDeploymentsResponse lists the deployments of an environment, of an
// API proxy or of one of its revisions.
type ListDeploymentsResponse struct {
	Deployments []Deployment `json:"deployments"`
}

// DeploymentChangeReport answers generateDeployChangeReport and
// generateUndeployChangeReport: what deploying or undeploying a revision
// would change in routing, and what conflicts with it.
type DeploymentChangeReport struct {
	RoutingChanges   []RoutingChange      `json:"routingChanges,omitempty"`
	RoutingConflicts []RoutingConflict    `json:"routingConflicts,omitempty"`
	ValidationErrors *PreconditionFailure `json:"validationErrors,omitempty"`
}

// RoutingChange is a base path whose traffic moves.
type RoutingChange struct {
	Description           string             `json:"description,omitempty"`
	EnvironmentGroup      string             `json:"environmentGroup,omitempty"`
	FromDeployment        *RoutingDeployment `json:"fromDeployment,omitempty"`
	ToDeployment          *RoutingDeployment `json:"toDeployment,omitempty"`
	ShouldSequenceRollout bool               `json:"shouldSequenceRollout,omitempty"`
}

// RoutingConflict is a base path another deployment already serves.
type RoutingConflict struct {
	Description           string             `json:"description,omitempty"`
	EnvironmentGroup      string             `json:"environmentGroup,omitempty"`
	ConflictingDeployment *RoutingDeployment `json:"conflictingDeployment,omitempty"`
}

// RoutingDeployment is a deployed revision and one of its base paths.
type RoutingDeployment struct {
	APIProxy    string `json:"apiProxy,omitempty"`
	Basepath    string `json:"basepath,omitempty"`
	Environment string `json:"environment,omitempty"`
	Revision    string `json:"revision,omitempty"`
}

// PreconditionFailure is a google.rpc.PreconditionFailure.
type PreconditionFailure struct {
	Violations []Violation `json:"violations"`
}

// Violation is one violated precondition.
type Violation struct {
	Type        string `json:"type,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Description string `json:"description,omitempty"`
}
