package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

// This file is the one place where the wire types of package api meet the
// domain types of package keyplane: handlers decode a request into api
// types, convert it with the functions below, call a service in domain
// types, and convert its answer back. Each pair of functions is exact in
// both directions, so the wire format does not depend on the domain's.

// millis is a time as the wire carries it, in milliseconds since the epoch;
// the zero time is 0, which the wire leaves out.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func organizationFromAPI(o *api.Organization) *keyplane.Organization {
	return &keyplane.Organization{Name: o.Name, Extra: maps.Clone(o.Extra)}
}

func organizationToAPI(o *keyplane.Organization) *api.Organization {
	if o == nil {
		return nil
	}
	return &api.Organization{Name: o.Name, CreatedAt: millis(o.CreatedAt), LastModifiedAt: millis(o.LastModifiedAt), Extra: o.Extra}
}

func environmentFromAPI(e *api.Environment) *keyplane.Environment {
	return &keyplane.Environment{Name: e.Name, Description: e.Description, DeploymentType: e.DeploymentType,
		APIProxyType: e.APIProxyType, Extra: maps.Clone(e.Extra)}
}

func environmentToAPI(e *keyplane.Environment) *api.Environment {
	if e == nil {
		return nil
	}
	return &api.Environment{Name: e.Name, Description: e.Description, DeploymentType: e.DeploymentType,
		APIProxyType: e.APIProxyType, CreatedAt: millis(e.CreatedAt), LastModifiedAt: millis(e.LastModifiedAt), Extra: e.Extra}
}

func keystoreToAPI(k *keyplane.Keystore) *api.Keystore {
	if k == nil {
		return nil
	}
	return &api.Keystore{Name: k.Name, Aliases: k.Aliases}
}

func aliasToAPI(a *keyplane.Alias) *api.Alias {
	if a == nil {
		return nil
	}
	out := &api.Alias{Alias: a.Name, Type: a.Type, CertsInfo: api.CertsInfo{CertInfo: []api.CertInfo{}}}
	if a.CertsInfo == nil {
		out.CertsInfo.CertInfo = nil
	}
	for _, c := range a.CertsInfo {
		out.CertsInfo.CertInfo = append(out.CertsInfo.CertInfo, api.CertInfo(c))
	}
	return out
}

func referenceFromAPI(r *api.Reference) *keyplane.Reference {
	return &keyplane.Reference{Name: r.Name, Description: r.Description, ResourceType: r.ResourceType, Refers: r.Refers}
}

func referenceToAPI(r *keyplane.Reference) *api.Reference {
	if r == nil {
		return nil
	}
	return &api.Reference{Name: r.Name, Description: r.Description, ResourceType: r.ResourceType, Refers: r.Refers}
}

func targetServerFromAPI(ts *api.TargetServer) *keyplane.TargetServer {
	out := &keyplane.TargetServer{Name: ts.Name, Description: ts.Description, Host: ts.Host, Port: ts.Port,
		IsEnabled: ts.IsEnabled, Protocol: ts.Protocol}
	if t := ts.SSLInfo; t != nil {
		out.SSLInfo = &keyplane.SSLInfo{Enabled: t.Enabled, Enforce: t.Enforce, ClientAuthEnabled: t.ClientAuthEnabled,
			KeyStore: t.KeyStore, KeyAlias: t.KeyAlias, TrustStore: t.TrustStore, IgnoreValidationErrors: t.IgnoreValidationErrors,
			Protocols: t.Protocols, Ciphers: t.Ciphers}
		if cn := t.CommonName; cn != nil {
			out.SSLInfo.CommonName = &keyplane.CommonName{Value: cn.Value, WildcardMatch: cn.WildcardMatch}
		}
	}
	return out
}

func targetServerToAPI(ts *keyplane.TargetServer) *api.TargetServer {
	if ts == nil {
		return nil
	}
	out := &api.TargetServer{Name: ts.Name, Description: ts.Description, Host: ts.Host, Port: ts.Port,
		IsEnabled: ts.IsEnabled, Protocol: ts.Protocol}
	if t := ts.SSLInfo; t != nil {
		out.SSLInfo = &api.TLSInfo{Enabled: t.Enabled, Enforce: t.Enforce, ClientAuthEnabled: t.ClientAuthEnabled,
			KeyStore: t.KeyStore, KeyAlias: t.KeyAlias, TrustStore: t.TrustStore, IgnoreValidationErrors: t.IgnoreValidationErrors,
			Protocols: t.Protocols, Ciphers: t.Ciphers}
		if cn := t.CommonName; cn != nil {
			out.SSLInfo.CommonName = &api.CommonName{Value: cn.Value, WildcardMatch: cn.WildcardMatch}
		}
	}
	return out
}

func archiveDeploymentToAPI(d *keyplane.ArchiveDeployment) *api.ArchiveDeployment {
	if d == nil {
		return nil
	}
	return &api.ArchiveDeployment{
		Name:      d.ResourceName(),
		GcsURI:    d.GcsURI,
		Labels:    d.Labels,
		Operation: keyplane.OperationName(d.Org, d.Operation),
		CreatedAt: millis(d.CreatedAt),
		UpdatedAt: millis(d.UpdatedAt),
	}
}

// tokenToAPI is a token's attributes, never its secret: the answer to its
// creation adds that.
func tokenToAPI(t *keyplane.Token) *api.Token {
	if t == nil {
		return nil
	}
	out := &api.Token{Name: t.ResourceName(), Role: t.Role, CreateTime: t.CreatedAt.UTC().Format(time.RFC3339)}
	if t.ExpireTime != nil {
		out.ExpireTime = t.ExpireTime.UTC().Format(time.RFC3339)
	}
	if t.RevokedAt != nil {
		out.RevokeTime = t.RevokedAt.UTC().Format(time.RFC3339)
	}
	return out
}

func auditLogToAPI(e *keyplane.AuditEntry) api.AuditLog {
	return api.AuditLog{Actor: e.Actor, Role: e.Role, Method: e.Method, Resource: e.Resource, Status: e.Status,
		Outcome: e.Outcome, Time: e.Time.UTC().Format(time.RFC3339Nano)}
}

// certificateToAPI is a certificate of the expiry view as of now, with the
// resource names of what uses it.
func certificateToAPI(org string, c *keyplane.Certificate, now time.Time) api.CertificateExpiry {
	env := keyplane.EnvName(org, c.Env)
	used := api.CertificateUsers{Deployments: []string{}, References: []string{}}
	for _, d := range c.Deployments {
		used.Deployments = append(used.Deployments, env+"/archiveDeployments/"+d)
	}
	for _, r := range c.References {
		used.References = append(used.References, env+"/references/"+r)
	}
	return api.CertificateExpiry{
		Name:         keyplane.AliasName(org, c.Env, c.Keystore, c.Alias),
		Environment:  c.Env,
		Keystore:     c.Keystore,
		Alias:        c.Alias,
		Index:        c.Index,
		Subject:      c.Subject,
		Issuer:       c.Issuer,
		SerialNumber: c.SerialNumber,
		ExpiryDate:   c.NotAfter.UnixMilli(),
		DaysLeft:     api.DaysLeft(now, c.NotAfter),
		Expired:      now.After(c.NotAfter),
		UsedBy:       used,
		InUse:        len(used.Deployments) > 0 || len(used.References) > 0,
	}
}

func selfSignedFromAPI(r *api.SelfSignedCertRequest) *keyplane.SelfSignedCertRequest {
	out := &keyplane.SelfSignedCertRequest{Alias: r.Alias, KeySize: r.KeySize, SigAlg: r.SigAlg,
		Subject: keyplane.CertSubject(r.Subject), CertValidityInDays: r.CertValidityInDays}
	if r.SubjectAlternativeDNSNames != nil {
		out.SubjectAlternativeDNSNames = &keyplane.SubjectAltDNS{SubjectAlternativeName: r.SubjectAlternativeDNSNames.SubjectAlternativeName}
	}
	return out
}

// OperationResponse is the response an operation reports for the resource
// it created or deleted: the resource's wire form with its @type, as a
// google.protobuf.Any is written in JSON. The services that record
// operations are given it, so that they store what clients will read
// without knowing the wire format.
func OperationResponse(resource any) ([]byte, error) {
	switch r := resource.(type) {
	case *keyplane.Organization:
		return withType(organizationToAPI(r), api.OrganizationType)
	case *keyplane.Environment:
		return withType(environmentToAPI(r), api.EnvironmentType)
	case *keyplane.ArchiveDeployment:
		return withType(archiveDeploymentToAPI(r), api.ArchiveDeploymentType)
	}
	return nil, fmt.Errorf("httpapi: an operation cannot report a %T", resource)
}

// withType encodes v as JSON with an "@type" field, the shape of a
// google.protobuf.Any in JSON.
func withType(v any, typeURL string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	fields["@type"], _ = json.Marshal(typeURL)
	return json.Marshal(fields)
}

// operationToAPI is the google.longrunning.Operation clients poll. done is
// derived from the state, so the two can never disagree; a finished
// operation carries its error or its response, never both.
func operationToAPI(op *keyplane.Operation) *api.Operation {
	if op == nil {
		return nil
	}
	out := &api.Operation{
		Name: op.ResourceName(),
		Metadata: api.OperationMetadata{
			Type:               api.OperationMetadataType,
			OperationType:      op.Type,
			State:              op.State,
			TargetResourceName: op.Target,
			Warnings:           op.Warnings,
		},
		Done: op.Done(),
	}
	if !out.Done {
		return out
	}
	if op.ErrorCode != nil {
		msg := ""
		if op.ErrorMessage != nil {
			msg = *op.ErrorMessage
		}
		out.Error = &api.Status{Code: *op.ErrorCode, Message: msg}
	} else {
		out.Response = op.Response
	}
	return out
}
