// Package archive reads an uploaded archive deployment, works out what it
// deploys to one environment, and validates the TLS settings of what it
// deploys against a snapshot of that environment.
//
// The package is pure domain logic: it does no I/O besides reading the bytes
// it is given. The caller (the archive deployment job) reads the archive,
// asks the bundle which target servers, references and keystores validation
// needs, loads them in one query each, and validates:
//
//	a, err := archive.Read(zipBytes, archive.DefaultLimits())
//	b, err := a.Bundle(env)
//	servers := /* env target servers named by */ b.EnvTargetServerNames()
//	refs := /* references named by */ b.ReferenceNames(servers)
//	stores := /* truststores and key aliases named by */ b.Material(servers, refs)
//	res, err := archive.Validate(b, &archive.Snapshot{...}, revisions)
//
// # Archive layout
//
// The zip root is the source folder (an archive whose entries all start
// with a single folder such as "proj/src/main/apigee/" is refused with a hint).
// Only these entries are parsed; every other entry is unpacked to be counted
// against the limits and otherwise ignored:
//
//	src/main/apigee/apiproxies/{proxy}/config.yaml                 configurable proxy
//	src/main/apigee/apiproxies/{proxy}/apiproxy/targets/{t}.xml     programmable proxy target endpoint
//	src/main/apigee/apiproxies/{proxy}/apiproxy/proxies/{p}.xml     programmable proxy proxy endpoint
//	src/main/apigee/environments/{env}/deployments.json            proxies deployed to {env}
//	src/main/apigee/environments/{env}/targetservers.json          target servers of {env}
//
// deployments.json is an array of proxies or an object with a "proxies"
// array; a proxy is its name or an object with a "name". Shared flows are
// ignored. targetservers.json is an array of target servers in the shape of
// the TargetServer resource; as with encoding/json, keys match
// case-insensitively and unknown keys are ignored, and, as the Apigee API
// accepts, booleans and integers may also be written as strings ("true",
// "443"). config.yaml follows Apigee's ApiConfig schema: the target servers a
// configurable proxy uses are the target_server_id (or targetServerId) of its
// top-level target and of every operations[].target.
//
// # Routing
//
// Bundle also reads what a runtime needs to route requests, and refuses
// what it could not route, with the file, line and column:
//
//   - config.yaml: basepath (see CleanBasePath), the top-level target, and
//     each operation's id (or name), target and http_match entries, each a
//     path_template (see PathTemplate) and an optional method. A target is
//     a target_server_id or an absolute http or https uri; an operation
//     without a target uses the top-level one, which must then exist.
//   - apiproxy/proxies/*.xml: each ProxyEndpoint's
//     HTTPProxyConnection/BasePath and its RouteRules in order, with their
//     Condition, TargetEndpoint or URL. A TargetEndpoint a RouteRule names
//     must be defined in apiproxy/targets/. Conditions are kept as text:
//     the condition language is parsed by the routing (package route), so
//     a deployment validates them by compiling the bundle's routes.
//   - apiproxy/targets/*.xml: HTTPTargetConnection/Path besides the URL
//     and the LoadBalancer's servers.
//
// # Archive errors
//
// Every problem with the archive is a *keyplane.Error with code
// InvalidArgument whose message starts with "generic::invalid_argument: ".
// A problem within a parsed file is reported as "{path}:{line}:{col}: {what}",
// the path being the entry's path in the zip, the line and column 1-based,
// the column counted in bytes (in characters for YAML). YAML syntax errors
// are the one exception: the YAML parser reports only a line, so they read
// "{path}:{line}: {what}". A problem with a whole file reads
// "{path}: {what}" (a parsed file larger than its limit is such a problem
// only when Bundle needs that file), a problem with an entry reads
// "archive entry {quoted name} {what}", and a problem with the whole archive
// reads "archive {what}".
//
// # Validation messages
//
// Validate checks every target server a deployed proxy uses, and the SSLInfo
// of every target endpoint of a programmable proxy. All problems are reported
// in one message, composed so that the same archive and snapshot always give
// the same text:
//
//   - The message is "generic::invalid_argument: " followed by the proxy
//     sentences, proxies sorted by name, joined with "; ".
//   - A proxy with target server problems gives the sentence
//     `proxy "organizations/{org}/apis/{api}/revisions/{rev}" contains
//     reference(s) to invalid target server(s): ` followed by one part per
//     invalid target server, sorted by name, joined with "; ". A part is
//     `target server "{ts}" does not exist` or
//     `target server "{ts}" contains invalid TLS settings: ` followed by its
//     problems joined with "; ".
//   - A proxy with target endpoint problems gives, after its target server
//     sentence, one sentence per invalid endpoint, sorted by name:
//     `proxy "organizations/{org}/apis/{api}/revisions/{rev}" contains invalid
//     TLS settings in target endpoint "{name}": ` followed by its problems
//     joined with "; ".
//   - The problems of one TLS settings come in a fixed order: keyStore and
//     keyAlias presence and the keyStore reference; the key alias's private
//     key, certificate(s) and expiry; the trustStore reference; the
//     truststore's certificate(s), then one expiry problem per alias sorted by
//     name; then protocols and ciphers in the order they are listed.
//
// TLS settings are checked only when enabled. The keystore and key alias are
// checked when client authentication applies (clientAuthEnabled is true or a
// keyAlias is set); the truststore when trustStore is set. A keyStore,
// trustStore or keyAlias written as a flow variable ("{ssl.keystore}") is
// resolved only at runtime, so it gives a warning instead of a check, as do
// protocols TLSv1 and TLSv1.1 and the cipher suites crypto/tls lists as
// insecure. Protocols are TLSv1, TLSv1.1, TLSv1.2 and TLSv1.3 (also written
// "1.0" to "1.3", in any case); ciphers are the IANA names known to
// crypto/tls, OpenSSL names are not accepted.
package archive
