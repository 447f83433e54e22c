// Package route compiles the proxies that one environment deploys into a
// routing table, and matches requests against it: which proxy serves a
// request, and which target it goes to.
//
// The caller resolves the environment from the request's host, compiles the
// environment's bundle once per deployment, and matches each request:
//
//	t, err := route.Compile(bundle)   // at deployment, and when loading it
//	m, ok := t.Match(req)             // per request; !ok: no route (404)
//	if m.Target == nil { /* a null route: answer without a backend */ }
//	path := m.UpstreamPath()          // + "?" + req.URL.RawQuery
//
// Compile finds problems that archive.Bundle cannot, a Condition that does
// not parse above all, so a deployment should compile the bundle it
// validates: an error is then the deployment's error, with code 3.
//
// # Configurable proxies
//
// A configurable proxy is served at its basepath or, when config.yaml has
// none, at /{proxy name}, as Apigee serves it.
//
// A request under a configurable proxy's basepath goes to the first
// operation, in file order, with an http_match whose method matches (in any
// case; no method matches any) and whose path_template matches the path
// after the base path: the template "/users/{id}" of a proxy with basepath
// /orders matches /orders/users/42. See archive.PathTemplate for the
// template syntax. The empty path after the base path is "/", and one
// trailing slash is ignored. No operation matching means no route.
//
// # Programmable proxies
//
// A request under a ProxyEndpoint's BasePath goes where the first of its
// RouteRules whose Condition is true says: a target endpoint, a URL, or
// nowhere (a null route). A rule without Condition is always true; no rule
// being true means no route. Apigee recommends a last, unconditional rule.
//
// # Conditions
//
// A Condition is written in this subset of Apigee's condition language:
//
//	expr       = term { ("or" | "||") term }
//	term       = factor { ("and" | "&&") factor }
//	factor     = ("not" | "!") factor | "(" expr ")" | comparison | "true" | "false"
//	comparison = operand operator operand
//	operand    = variable | "quoted string" | number | true | false | null
//
// Keywords and operator names are matched in any case. In a quoted string,
// \" stands for a quote and \\ for a backslash; any other backslash is kept
// as it is. The operators are:
//
//	=  ==  Equals  Is             equal; numbers compare as numbers
//	!=  NotEquals  IsNot          not equal
//	:=  EqualsCaseInsensitive     equal, ignoring case
//	>  >=  <  <=  GreaterThan...  order, as numbers when both are
//	~   Matches  Like             glob: "*" matches any characters
//	~/  MatchesPath  LikePath     path: "*" matches one non-empty segment,
//	                              "**" any characters, "/" included
//	~~  JavaRegex                 regular expression matching the whole value
//	                              (RE2 syntax, Go's regexp: no backreferences)
//	=|  StartsWith                prefix
//
// All comparisons are case-sensitive except :=, and the pattern of ~, ~/ and
// ~~ must be a quoted string, compiled once by Compile. The variables are
// proxy.pathsuffix, proxy.basepath, request.verb, request.path (the whole
// path, base path included), request.uri (the path and query string),
// request.querystring, request.header.NAME (the first value; NAME in any
// case) and request.queryparam.NAME (the first value). Paths are as the
// client escaped them. Any other variable, like a header or query parameter
// the request does not have, is null: null equals only null, and every
// other comparison with null is false.
//
// A regular expression (~~, and the one ~/ compiles to) costs time in
// proportion to the value's length times the size of its compiled program,
// and a short pattern can compile to a large program ((.*a){1000} is 5,000
// instructions). So a pattern is at most 1,024 bytes and 256 instructions,
// or the Condition is invalid; and a pattern runs only on values of at most
// 256 Ki divided by its instruction count bytes (64 KiB at most): a longer
// value does not match. One match costs a few milliseconds at most.
package route
