// Package upstream is the gateway's client side towards targets: it turns an
// SSLInfo into a TLS client configuration, explains a failed connection in
// the words Apigee X shows its callers, and pools HTTP transports per target
// and TLS configuration.
//
// # SSLInfo rules
//
// Config is called only when TLS is on for a target (an https URL or
// sSLInfo.enabled); the caller decides that. Within the handshake, the server
// certificate is checked by these rules, which follow Apigee's "Options for
// configuring TLS" where the issue does not say otherwise:
//
//   - enforce: strict. The chain must verify (not expired, not self-signed
//     unless the truststore holds it, issued by a trusted root, usable for
//     server authentication) against the truststore's certificates, or the
//     system's roots when no truststore is named, and the server's identity
//     must match (below). ignoreValidationErrors makes no difference.
//   - a truststore without enforce: the chain must verify against exactly the
//     truststore's certificates (never the system's roots), and the identity
//     must match. ignoreValidationErrors skips the chain checks (expiry,
//     unknown issuer, self-signed) but not the identity: a server that answers
//     the SNI name with a certificate for another name is refused.
//   - neither: like Apigee, the server certificate is not validated: without a
//     truststore there is nothing to validate it against. The identity is
//     still checked when the settings ask for it: a commonName, an explicit
//     requirement, or ignoreValidationErrors, which skips chain checks but
//     never the host name.
//
// The identity is the host name the caller gives (sent as SNI), checked
// against the certificate's subject alternative names, or, when the settings
// name a commonName, the certificate's subject common name instead: a
// commonName replaces the host-name check, as it does in Apigee, so that a
// target reached by an address its certificate does not name can still be
// verified. The common name must equal commonName.value (ignoring case, as
// host names do); with wildcardMatch, a value "*.example.com" also matches
// exactly one label in place of the "*" ("a.example.com", not
// "a.b.example.com" nor "example.com").
//
// The checks run in tls.Config.VerifyConnection, so a failure aborts the
// handshake (with a bad_certificate alert) and surfaces as a
// *CertificateError that says which check failed.
//
// clientAuthEnabled, which is what enables two-way TLS, presents the key
// alias's certificate chain whenever the server asks for a certificate,
// whatever certificate authorities the server says it accepts: the server
// decides. Without it no certificate is presented, whatever keyStore and
// keyAlias name, and a server that demands one refuses the handshake.
//
// protocols sets the range of versions from the lowest to the highest listed
// ("TLSv1.2", "TLSv1.3", also "1.2" and any case). TLSv1 and TLSv1.1 are
// accepted names (deployment validation warns about them) but never
// negotiated, as Apigee does not support them either: the range starts at
// TLS 1.2 at the lowest, and a list of nothing else leaves no version to
// offer, which fails every handshake with NO_SUPPORTED_VERSIONS_ENABLED.
// Without protocols, Go's defaults apply (TLS 1.2 and 1.3).
//
// ciphers lists the TLS 1.2 cipher suites allowed, by the IANA names crypto/tls
// knows (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...; the names deployment
// validation accepts). Go does not let TLS 1.3 suites be configured: naming
// one is allowed and changes nothing, and a list of only TLS 1.3 suites leaves
// TLS 1.2 without any. The order of the list is not a preference: Go chooses.
//
// # Failure bodies
//
// Failure gives the status and body the gateway answers when the target
// could not be reached, modelled on Envoy's as Apigee X shows them. A TLS
// failure is
//
//	upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: REASON
//
// where REASON (what Reason returns) ends with the BoringSSL reason name and
// says before it what failed:
//
//	certificate has expired:CERTIFICATE_VERIFY_FAILED
//	certificate is not yet valid:CERTIFICATE_VERIFY_FAILED
//	unable to get local issuer certificate:CERTIFICATE_VERIFY_FAILED
//	self-signed certificate:CERTIFICATE_VERIFY_FAILED
//	hostname mismatch:CERTIFICATE_VERIFY_FAILED
//	common name mismatch:CERTIFICATE_VERIFY_FAILED
//	the target requires a client certificate:TLSV1_ALERT_CERTIFICATE_REQUIRED
//	the target does not trust the client certificate's issuer:TLSV1_ALERT_UNKNOWN_CA
//	the target rejected the client certificate:SSLV3_ALERT_BAD_CERTIFICATE
//	no protocol version in common with the target:TLSV1_ALERT_PROTOCOL_VERSION
//	handshake refused by the target, no common cipher suite or missing client certificate:SSLV3_ALERT_HANDSHAKE_FAILURE
//	no protocol version enabled, TLSv1 and TLSv1.1 are not supported:NO_SUPPORTED_VERSIONS_ENABLED
//	the target did not answer with TLS:WRONG_VERSION_NUMBER
//
// The verification texts are OpenSSL's (Problem lists them all); other
// alerts from the target read "the target sent alert NAME:REASON" with
// BoringSSL's reason name. A TLS 1.2 target refuses a missing client
// certificate with handshake_failure, as it does a cipher suite mismatch;
// a TLS 1.3 target with certificate_required, but only after the handshake
// has completed on the client's side, so its alert may be lost to a write
// that fails first or to HTTP/2 giving up on the connection without saying
// why. A Transport then infers it: when the target asked for a client
// certificate, has never answered a request, and the connection died
// without a TLS error, the reason is certificate_required when none was
// sent and bad_certificate when one was.
//
// Failures that are not TLS read as Envoy's do:
//
//	503 upstream connect error or disconnect/reset before headers. reset reason: connection failure
//	503 upstream connect error or disconnect/reset before headers. reset reason: connection timeout
//	503 upstream connect error or disconnect/reset before headers. reset reason: connection termination
//	503 no healthy upstream
//	504 upstream request timeout
//
// respectively for a connect that failed (refused, unreachable, timed out,
// or refused by the gateway's target fence: the answer never tells a closed
// port from a filtered one) and any other failure, a TLS handshake timeout,
// a connection the target closed or reset, a host name that does not
// resolve, and no response headers in time. Bodies never hold more than what the target itself shows anyone
// who connects; the error itself, for logs, says more (the names a
// certificate is valid for, the x509 error).
//
// # Pooled transports
//
// Transports shares one Transport per target address and TLS configuration
// fingerprint (the settings, the host name, and the DER of the client chain
// and the roots), with keep-alive, and HTTP/2 when a TLS target offers it by
// ALPN. HTTP/1.1 requests run on the caller's goroutine over a pool of the
// transport's own (write the request, read the answer, give the connection
// back once the body is read); connections on which the target chose
// HTTP/2, and protocol upgrades, go through net/http's transport. A caller that rebuilds its whole configuration on every
// change calls Get for each target it uses, then Retain with their keys:
// unchanged targets keep their warm connections, and every other transport
// is retired: requests in flight on it finish, and its connections are
// closed as they become idle.
package upstream
