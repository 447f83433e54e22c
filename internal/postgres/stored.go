package postgres

import (
	"encoding/json"

	"github.com/keyplane/keyplane"
)

// The JSON columns hold domain values in the shapes below, which are
// storage's own: target_servers.body holds a target server and
// aliases.certs_info an alias's certificate facts. Their field names and
// encodings are those the rows were first written with, so that no row
// needs rewriting; they change only together with a migration.

// storedTargetServer is the shape of target_servers.body.
type storedTargetServer struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Host        string         `json:"host"`
	Port        int64          `json:"port"`
	IsEnabled   *bool          `json:"isEnabled,omitempty"`
	Protocol    string         `json:"protocol,omitempty"`
	SSLInfo     *storedSSLInfo `json:"sSLInfo,omitempty"`
}

type storedSSLInfo struct {
	Enabled                bool              `json:"enabled,omitempty"`
	Enforce                bool              `json:"enforce,omitempty"`
	ClientAuthEnabled      bool              `json:"clientAuthEnabled,omitempty"`
	KeyStore               string            `json:"keyStore,omitempty"`
	KeyAlias               string            `json:"keyAlias,omitempty"`
	TrustStore             string            `json:"trustStore,omitempty"`
	IgnoreValidationErrors bool              `json:"ignoreValidationErrors,omitempty"`
	Protocols              []string          `json:"protocols,omitempty"`
	Ciphers                []string          `json:"ciphers,omitempty"`
	CommonName             *storedCommonName `json:"commonName,omitempty"`
}

type storedCommonName struct {
	Value         string `json:"value,omitempty"`
	WildcardMatch bool   `json:"wildcardMatch,omitempty"`
}

// marshalTargetServer encodes a target server for target_servers.body.
func marshalTargetServer(ts *keyplane.TargetServer) ([]byte, error) {
	s := storedTargetServer{Name: ts.Name, Description: ts.Description, Host: ts.Host, Port: ts.Port,
		IsEnabled: ts.IsEnabled, Protocol: ts.Protocol}
	if t := ts.SSLInfo; t != nil {
		s.SSLInfo = &storedSSLInfo{Enabled: t.Enabled, Enforce: t.Enforce, ClientAuthEnabled: t.ClientAuthEnabled,
			KeyStore: t.KeyStore, KeyAlias: t.KeyAlias, TrustStore: t.TrustStore, IgnoreValidationErrors: t.IgnoreValidationErrors,
			Protocols: t.Protocols, Ciphers: t.Ciphers}
		if cn := t.CommonName; cn != nil {
			s.SSLInfo.CommonName = &storedCommonName{Value: cn.Value, WildcardMatch: cn.WildcardMatch}
		}
	}
	return json.Marshal(s)
}

// unmarshalTargetServer decodes target_servers.body.
func unmarshalTargetServer(body []byte) (keyplane.TargetServer, error) {
	var s storedTargetServer
	if err := json.Unmarshal(body, &s); err != nil {
		return keyplane.TargetServer{}, err
	}
	ts := keyplane.TargetServer{Name: s.Name, Description: s.Description, Host: s.Host, Port: s.Port,
		IsEnabled: s.IsEnabled, Protocol: s.Protocol}
	if t := s.SSLInfo; t != nil {
		ts.SSLInfo = &keyplane.SSLInfo{Enabled: t.Enabled, Enforce: t.Enforce, ClientAuthEnabled: t.ClientAuthEnabled,
			KeyStore: t.KeyStore, KeyAlias: t.KeyAlias, TrustStore: t.TrustStore, IgnoreValidationErrors: t.IgnoreValidationErrors,
			Protocols: t.Protocols, Ciphers: t.Ciphers}
		if cn := t.CommonName; cn != nil {
			ts.SSLInfo.CommonName = &keyplane.CommonName{Value: cn.Value, WildcardMatch: cn.WildcardMatch}
		}
	}
	return ts, nil
}

// storedCertInfo is the shape of one certificate in aliases.certs_info.
type storedCertInfo struct {
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

// marshalCertsInfo encodes an alias's certificate facts for
// aliases.certs_info.
func marshalCertsInfo(info []keyplane.CertInfo) ([]byte, error) {
	var out []storedCertInfo // nil stays nil, and is stored as null
	if info != nil {
		out = make([]storedCertInfo, len(info))
	}
	for i, c := range info {
		out[i] = storedCertInfo(c)
	}
	return json.Marshal(out)
}

// unmarshalCertsInfo decodes aliases.certs_info: by scanCertsInfo when it
// can, by encoding/json when not.
func unmarshalCertsInfo(b []byte) ([]keyplane.CertInfo, error) {
	if out, ok := scanCertsInfo(b); ok {
		return out, nil
	}
	return unmarshalCertsInfoJSON(b)
}

// unmarshalCertsInfoJSON decodes aliases.certs_info with encoding/json.
func unmarshalCertsInfoJSON(b []byte) ([]keyplane.CertInfo, error) {
	var in []storedCertInfo
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, nil
	}
	out := make([]keyplane.CertInfo, len(in))
	for i, c := range in {
		out[i] = keyplane.CertInfo(c)
	}
	return out, nil
}
