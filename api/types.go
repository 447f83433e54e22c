// Package api holds keyplane's wire types, the JSON resources of the Apigee
// management API v1 subset that keyplane serves, and the Go client that the
// CLI uses to talk to a server.
package api

import "encoding/json"

// Organization is organizations/{org}.
type Organization struct {
	Name           string `json:"name"`
	CreatedAt      int64  `json:"createdAt,omitempty,string"`
	LastModifiedAt int64  `json:"lastModifiedAt,omitempty,string"`
	// Extra holds the fields keyplane keeps without acting on them
	// (analyticsRegion, runtimeType, ...); they are written back as they
	// came.
	Extra Extra `json:"-"`
}

// OrganizationType is the @type of an organization in an operation's
// response.
const OrganizationType = "type.googleapis.com/google.cloud.apigee.v1.Organization"

// EnvironmentType is the @type of an environment in an operation's
// response.
const EnvironmentType = "type.googleapis.com/google.cloud.apigee.v1.Environment"

// ArchiveDeploymentType is the @type of an archive deployment in an
// operation's response.
const ArchiveDeploymentType = "type.googleapis.com/google.cloud.apigee.v1.ArchiveDeployment"

// ListOrganizationsResponse answers GET /v1/organizations, in Apigee's
// shape.
type ListOrganizationsResponse struct {
	Organizations []OrganizationMapping `json:"organizations"`
}

// OrganizationMapping names one organization in a list of them.
type OrganizationMapping struct {
	Organization string `json:"organization"`
}

// Environment is organizations/{org}/environments/{env}.
type Environment struct {
	Name           string `json:"name"`
	Description    string `json:"description,omitempty"`
	DeploymentType string `json:"deploymentType,omitempty"`
	APIProxyType   string `json:"apiProxyType,omitempty"`
	CreatedAt      int64  `json:"createdAt,omitempty,string"`
	LastModifiedAt int64  `json:"lastModifiedAt,omitempty,string"`
	// Extra holds the fields keyplane keeps without acting on them
	// (displayName, type, properties, forwardProxyUri, ...); they are
	// written back as they came.
	Extra Extra `json:"-"`
}

// Environment deployment and proxy types.
const (
	DeploymentTypeProxy   = "PROXY"
	DeploymentTypeArchive = "ARCHIVE"
	ProxyTypeProgrammable = "PROGRAMMABLE"
	ProxyTypeConfigurable = "CONFIGURABLE"
)

// Keystore is .../environments/{env}/keystores/{ks}.
type Keystore struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
}

// Alias types.
const (
	AliasTypeKeyCert = "KEY_CERT"
	AliasTypeCert    = "CERT"
)

// Alias is .../keystores/{ks}/aliases/{alias}.
type Alias struct {
	Alias     string    `json:"alias"`
	Type      string    `json:"type"`
	CertsInfo CertsInfo `json:"certsInfo"`
}

// CertsInfo wraps the certificates of an alias, leaf first.
type CertsInfo struct {
	CertInfo []CertInfo `json:"certInfo"`
}

// CertInfo describes one certificate. Times are milliseconds since the epoch,
// encoded as strings as Apigee does.
type CertInfo struct {
	Version                 int64    `json:"version"`
	Subject                 string   `json:"subject"`
	Issuer                  string   `json:"issuer"`
	ExpiryDate              int64    `json:"expiryDate,string"`
	ValidFrom               int64    `json:"validFrom,string"`
	IsValid                 string   `json:"isValid"`
	SubjectAlternativeNames []string `json:"subjectAlternativeNames,omitempty"`
	SigAlgName              string   `json:"sigAlgName"`
	PublicKey               string   `json:"publicKey"`
	BasicConstraints        string   `json:"basicConstraints"`
	SerialNumber            string   `json:"serialNumber"`
}

// Reference resource types.
const (
	ResourceTypeKeyStore   = "KeyStore"
	ResourceTypeTrustStore = "TrustStore"
)

// Reference is .../environments/{env}/references/{ref}.
type Reference struct {
	Name         string `json:"name"`
	Description  string `json:"description,omitempty"`
	ResourceType string `json:"resourceType"`
	Refers       string `json:"refers"`
}

// TargetServer is .../environments/{env}/targetservers/{ts}.
type TargetServer struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Host        string   `json:"host"`
	Port        int64    `json:"port"`
	IsEnabled   *bool    `json:"isEnabled,omitempty"`
	Protocol    string   `json:"protocol,omitempty"`
	SSLInfo     *TLSInfo `json:"sSLInfo,omitempty"`
}

// TLSInfo is the sSLInfo of a target server or target endpoint.
type TLSInfo struct {
	Enabled                bool        `json:"enabled,omitempty"`
	Enforce                bool        `json:"enforce,omitempty"`
	ClientAuthEnabled      bool        `json:"clientAuthEnabled,omitempty"`
	KeyStore               string      `json:"keyStore,omitempty"`
	KeyAlias               string      `json:"keyAlias,omitempty"`
	TrustStore             string      `json:"trustStore,omitempty"`
	IgnoreValidationErrors bool        `json:"ignoreValidationErrors,omitempty"`
	Protocols              []string    `json:"protocols,omitempty"`
	Ciphers                []string    `json:"ciphers,omitempty"`
	CommonName             *CommonName `json:"commonName,omitempty"`
}

// CommonName is the expected common name of a TLS peer.
type CommonName struct {
	Value         string `json:"value,omitempty"`
	WildcardMatch bool   `json:"wildcardMatch,omitempty"`
}

// ArchiveDeployment is .../environments/{env}/archiveDeployments/{id}.
type ArchiveDeployment struct {
	Name      string            `json:"name"`
	GcsURI    string            `json:"gcsUri,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Operation string            `json:"operation,omitempty"`
	CreatedAt int64             `json:"createdAt,omitempty,string"`
	UpdatedAt int64             `json:"updatedAt,omitempty,string"`
}

// ListArchiveDeploymentsResponse is one page of archive deployments.
type ListArchiveDeploymentsResponse struct {
	ArchiveDeployments []ArchiveDeployment `json:"archiveDeployments"`
	NextPageToken      string              `json:"nextPageToken,omitempty"`
}

// GenerateUploadURLResponse answers archiveDeployments:generateUploadUrl.
type GenerateUploadURLResponse struct {
	UploadURI string `json:"uploadUri"`
}

// GenerateDownloadURLResponse answers archiveDeployments/{id}:generateDownloadUrl.
type GenerateDownloadURLResponse struct {
	DownloadURI string `json:"downloadUri"`
}

// Operation states.
const (
	StateNotStarted = "NOT_STARTED"
	StateInProgress = "IN_PROGRESS"
	StateFinished   = "FINISHED"
)

// OperationMetadataType is the @type of every operation's metadata.
const OperationMetadataType = "type.googleapis.com/google.cloud.apigee.v1.OperationMetadata"

// Operation is a google.longrunning.Operation.
type Operation struct {
	Name     string            `json:"name"`
	Metadata OperationMetadata `json:"metadata"`
	Done     bool              `json:"done"`
	Error    *Status           `json:"error,omitempty"`
	Response json.RawMessage   `json:"response,omitempty"`
}

// OperationMetadata is google.cloud.apigee.v1.OperationMetadata.
type OperationMetadata struct {
	Type               string   `json:"@type"`
	OperationType      string   `json:"operationType"`
	State              string   `json:"state"`
	TargetResourceName string   `json:"targetResourceName"`
	Warnings           []string `json:"warnings,omitempty"`
}

// Status is a google.rpc.Status: the error of a finished operation.
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ListOperationsResponse is one page of operations.
type ListOperationsResponse struct {
	Operations    []Operation `json:"operations"`
	NextPageToken string      `json:"nextPageToken,omitempty"`
}

// ErrorBody is the body of every error answer: {"error": {...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error of an HTTP answer.
type ErrorDetail struct {
	Code    int                `json:"code"`
	Message string             `json:"message"`
	Status  string             `json:"status"`
	Details []ErrorDetailEntry `json:"details,omitempty"`
}

// RequestInfoType is the @type of the google.rpc.RequestInfo in an error's
// details.
const RequestInfoType = "type.googleapis.com/google.rpc.RequestInfo"

// ErrorDetailEntry is one entry of an error's details, a
// google.protobuf.Any; keyplane sends a google.rpc.RequestInfo holding the
// request's id.
type ErrorDetailEntry struct {
	Type      string `json:"@type"`
	RequestID string `json:"requestId,omitempty"`
}

// SelfSignedCertRequest is the JSON body of an alias create with
// format=selfsignedcert.
type SelfSignedCertRequest struct {
	Alias                      string         `json:"alias,omitempty"`
	KeySize                    string         `json:"keySize,omitempty"`
	SigAlg                     string         `json:"sigAlg,omitempty"`
	Subject                    CertSubject    `json:"subject"`
	CertValidityInDays         int            `json:"certValidityInDays,omitempty"`
	SubjectAlternativeDNSNames *SubjectAltDNS `json:"subjectAlternativeDNSNames,omitempty"`
}

// CertSubject is the distinguished name of a self-signed certificate.
type CertSubject struct {
	CommonName  string `json:"commonName,omitempty"`
	CountryCode string `json:"countryCode,omitempty"`
	Email       string `json:"email,omitempty"`
	Locality    string `json:"locality,omitempty"`
	Org         string `json:"org,omitempty"`
	OrgUnit     string `json:"orgUnit,omitempty"`
	State       string `json:"state,omitempty"`
}

// SubjectAltDNS lists subject alternative DNS names.
type SubjectAltDNS struct {
	SubjectAlternativeName []string `json:"subjectAlternativeName,omitempty"`
}

// Token is organizations/{org}/tokens/{id}: a bearer token's attributes.
// The secret is in Token only in the answer to its creation: the server
// keeps a hash.
type Token struct {
	Name       string `json:"name"`
	Role       string `json:"role,omitempty"`
	Token      string `json:"token,omitempty"`
	CreateTime string `json:"createTime,omitempty"`
	ExpireTime string `json:"expireTime,omitempty"`
	RevokeTime string `json:"revokeTime,omitempty"`
}

// Token roles.
const (
	RoleAdmin    = "admin"
	RoleDeployer = "deployer"
	RoleViewer   = "viewer"
)

// ListTokensResponse is one page of tokens.
type ListTokensResponse struct {
	Tokens        []Token `json:"tokens"`
	NextPageToken string  `json:"nextPageToken,omitempty"`
}

// AuditLog is one recorded change: who (a token's resource name, never the
// token), what, when and how it ended.
type AuditLog struct {
	Actor    string `json:"actor"`
	Role     string `json:"role"`
	Method   string `json:"method"`
	Resource string `json:"resource"`
	Status   int    `json:"status"`
	Outcome  string `json:"outcome"`
	Time     string `json:"time"`
}

// ListAuditLogsResponse is one page of the audit log, newest first.
type ListAuditLogsResponse struct {
	AuditLogs     []AuditLog `json:"auditLogs"`
	NextPageToken string     `json:"nextPageToken,omitempty"`
}

// CertificateExpiry is one certificate of an alias's chain in the
// organization's expiry view, GET /v1/organizations/{org}/certificates: a
// keyplane addition, not part of the Apigee API. ExpiryDate is in
// milliseconds since the epoch, as a string, like CertInfo's.
type CertificateExpiry struct {
	// Name is the alias's resource name.
	Name        string `json:"name"`
	Environment string `json:"environment"`
	Keystore    string `json:"keystore"`
	Alias       string `json:"alias"`
	// Index is the certificate's place in the chain: 0 is the leaf.
	Index        int    `json:"index"`
	Subject      string `json:"subject"`
	Issuer       string `json:"issuer"`
	SerialNumber string `json:"serialNumber"`
	ExpiryDate   int64  `json:"expiryDate,string"`
	// DaysLeft counts the whole days until expiry; see DaysLeft.
	DaysLeft int              `json:"daysLeft"`
	Expired  bool             `json:"expired"`
	UsedBy   CertificateUsers `json:"usedBy"`
	// InUse is true when the certificate has any user: a live deployment
	// or a reference.
	InUse bool `json:"inUse"`
}

// CertificateUsers are what use a certificate's keystore: the live archive
// deployment of its environment, when it uses the keystore, and the
// references that refer to the keystore. Both are resource names.
type CertificateUsers struct {
	Deployments []string `json:"deployments"`
	References  []string `json:"references"`
}

// ListCertificatesResponse is one page of the expiry view, soonest expiry
// first.
type ListCertificatesResponse struct {
	Certificates  []CertificateExpiry `json:"certificates"`
	NextPageToken string              `json:"nextPageToken,omitempty"`
}
