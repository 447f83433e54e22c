package keyplane

// TargetServer is a backend of an environment that proxies name instead
// of a URL, with the TLS settings to reach it.
type TargetServer struct {
	Name        string
	Description string
	Host        string
	Port        int64
	IsEnabled   *bool // nil: enabled
	Protocol    string
	SSLInfo     *SSLInfo
}

// SSLInfo is the TLS settings of a target server or a target endpoint.
// KeyStore and TrustStore name a keystore, a reference (ref://name) or a
// flow variable ({name}); see internal/archive for how they resolve.
type SSLInfo struct {
	Enabled                bool
	Enforce                bool
	ClientAuthEnabled      bool
	KeyStore               string
	KeyAlias               string
	TrustStore             string
	IgnoreValidationErrors bool
	Protocols              []string
	Ciphers                []string
	CommonName             *CommonName
}

// CommonName is the expected common name of a TLS peer.
type CommonName struct {
	Value         string
	WildcardMatch bool
}
