package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/httpapi"
)

// openAPIPath is openapi.yaml at the repository root, relative to this
// package's directory (where go test runs).
var openAPIPath = filepath.Join("..", "..", "openapi.yaml")

// openAPIMethods are the keys of an OpenAPI path item that are operations; the
// others (parameters, summary, description, servers) are not.
var openAPIMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

type openAPIDoc struct {
	OpenAPI    string                    `yaml:"openapi"`
	Security   []map[string][]string     `yaml:"security"`
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas         map[string]*openAPISchema `yaml:"schemas"`
		Parameters      map[string]openAPIParam   `yaml:"parameters"`
		SecuritySchemes map[string]any            `yaml:"securitySchemes"`
	} `yaml:"components"`
	raw map[string]any
}

type openAPIOperation struct {
	Summary    string                 `yaml:"summary"`
	Parameters []openAPIParam         `yaml:"parameters"`
	Responses  map[string]any         `yaml:"responses"`
	Security   *[]map[string][]string `yaml:"security"`
}

type openAPIParam struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

type openAPISchema struct {
	Ref        string                    `yaml:"$ref"`
	Type       string                    `yaml:"type"`
	Properties map[string]*openAPISchema `yaml:"properties"`
	AllOf      []*openAPISchema          `yaml:"allOf"`
}

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	b, err := os.ReadFile(openAPIPath)
	require.NoError(t, err, "openapi.yaml is the HTTP contract at the repository root")
	var doc openAPIDoc
	require.NoError(t, yaml.Unmarshal(b, &doc), "openapi.yaml is not valid YAML")
	require.NoError(t, yaml.Unmarshal(b, &doc.raw))
	require.Equal(t, "3.0.3", doc.OpenAPI)
	require.NotEmpty(t, doc.Paths)
	return &doc
}

// operation decodes one operation of the spec.
func (d *openAPIDoc) operation(t *testing.T, path, method string) openAPIOperation {
	t.Helper()
	b, err := yaml.Marshal(d.Paths[path][method])
	require.NoError(t, err)
	var op openAPIOperation
	require.NoError(t, yaml.Unmarshal(b, &op), "%s %s", method, path)
	return op
}

// pathParams are the parameters of a path item that apply to all of its
// operations.
func (d *openAPIDoc) pathParams(t *testing.T, path string) []openAPIParam {
	t.Helper()
	b, err := yaml.Marshal(d.Paths[path]["parameters"])
	require.NoError(t, err)
	var ps []openAPIParam
	require.NoError(t, yaml.Unmarshal(b, &ps), "parameters of %s", path)
	return ps
}

// resolveParam follows a #/components/parameters/ reference.
func (d *openAPIDoc) resolveParam(t *testing.T, p openAPIParam) openAPIParam {
	t.Helper()
	if p.Ref == "" {
		return p
	}
	name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
	require.True(t, ok, "parameter $ref %q must point into #/components/parameters/", p.Ref)
	got, ok := d.Components.Parameters[name]
	require.True(t, ok, "parameter $ref %q points at nothing", p.Ref)
	return got
}

// specRoutes lists "METHOD path" for every operation of the spec.
func (d *openAPIDoc) specRoutes() []string {
	var out []string
	for path, item := range d.Paths {
		for key := range item {
			if openAPIMethods[key] {
				out = append(out, strings.ToUpper(key)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// openAPIRoute is one route of the router as chi.Walk reports it.
type openAPIRoute struct {
	method, pattern string
	authenticated   bool
}

// openAPIAuthMiddleware names the middleware that demands the bearer token. If the
// router's authentication middleware is renamed, update this pattern.
var openAPIAuthMiddleware = regexp.MustCompile(`\.authenticate(-fm)?$`)

// openAPIRouterRoutes lists the routes of a router built without any service: only
// the route table is used.
func openAPIRouterRoutes(t *testing.T) map[string]openAPIRoute {
	t.Helper()
	srv := httpapi.New(httpapi.Config{})
	out := map[string]openAPIRoute{}
	err := chi.Walk(srv.Router(), func(method, route string, _ http.Handler, mws ...func(http.Handler) http.Handler) error {
		pattern := openAPINormalizePattern(route)
		auth := false
		for _, mw := range mws {
			if fn := runtime.FuncForPC(reflect.ValueOf(mw).Pointer()); fn != nil && openAPIAuthMiddleware.MatchString(fn.Name()) {
				auth = true
			}
		}
		key := method + " " + pattern
		if prev, dup := out[key]; dup && prev.pattern != pattern {
			return fmt.Errorf("two router patterns normalize to %s", key)
		}
		out[key] = openAPIRoute{method: method, pattern: pattern, authenticated: auth}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

// openAPINormalizePattern drops the trailing slash chi leaves on the root of a
// sub-router (r.Route("/x/{org}", ...) + r.Get("/") walks as "/x/{org}/").
func openAPINormalizePattern(p string) string {
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

func openAPIKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPI_RoutesMatchRouter fails when a route of the router is missing
// from openapi.yaml, or an operation of openapi.yaml has no route.
func TestOpenAPI_RoutesMatchRouter(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	routes := openAPIRouterRoutes(t)

	spec := map[string]bool{}
	for _, r := range doc.specRoutes() {
		spec[r] = true
	}
	var missingFromSpec, missingFromRouter []string
	for _, key := range openAPIKeys(routes) {
		if !spec[key] {
			missingFromSpec = append(missingFromSpec, key)
		}
	}
	for _, key := range openAPIKeys(spec) {
		if _, ok := routes[key]; !ok {
			missingFromRouter = append(missingFromRouter, key)
		}
	}
	require.Empty(t, missingFromSpec, "router routes that openapi.yaml does not describe")
	require.Empty(t, missingFromRouter, "openapi.yaml operations that the router does not serve")
}

// TestOpenAPI_OperationsAreComplete checks that every operation has a
// summary, a 2xx answer, declares each path parameter of its path (and no
// other), and resolves its parameter references.
func TestOpenAPI_OperationsAreComplete(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	templateParam := regexp.MustCompile(`\{([^}]+)\}`)
	for _, path := range openAPIKeys(doc.Paths) {
		var want []string
		for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		sort.Strings(want)
		common := doc.pathParams(t, path)
		for _, method := range openAPIKeys(doc.Paths[path]) {
			if !openAPIMethods[method] {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			op := doc.operation(t, path, method)
			require.NotEmpty(t, strings.TrimSpace(op.Summary), "%s has no summary", where)

			has2xx := false
			for code := range op.Responses {
				if (len(code) == 3 && code[0] == '2') || code == "2XX" {
					has2xx = true
				}
			}
			require.True(t, has2xx, "%s has no 2xx response", where)

			var got []string
			seen := map[string]bool{}
			for _, p := range slices.Concat(common, op.Parameters) {
				p = doc.resolveParam(t, p)
				require.NotEmpty(t, p.Name, "%s: a parameter has no name", where)
				require.False(t, seen[p.In+" "+p.Name], "%s declares %s parameter %q twice", where, p.In, p.Name)
				seen[p.In+" "+p.Name] = true
				if p.In == "path" {
					got = append(got, p.Name)
				}
			}
			sort.Strings(got)
			require.Equal(t, want, got, "%s: path parameters declared do not match the path template", where)
		}
	}
}

// TestOpenAPI_SecurityMatchesRouter checks that exactly the routes behind the
// authentication middleware (everything under /v1) require the bearer
// scheme, and the rest (/healthz, /readyz, /metrics) require nothing.
func TestOpenAPI_SecurityMatchesRouter(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	require.Contains(t, doc.Components.SecuritySchemes, "bearerAuth")
	routes := openAPIRouterRoutes(t)

	anyAuth := false
	for _, r := range routes {
		anyAuth = anyAuth || r.authenticated
	}
	require.True(t, anyAuth, "no router route has a middleware matching %s; update openAPIAuthMiddleware in openapi_test.go", openAPIAuthMiddleware)

	bearer := func(reqs []map[string][]string) bool {
		for _, req := range reqs {
			if _, ok := req["bearerAuth"]; ok {
				return true
			}
		}
		return false
	}
	for _, key := range openAPIKeys(routes) {
		r := routes[key]
		item, ok := doc.Paths[r.pattern]
		if !ok || item[strings.ToLower(r.method)] == nil {
			continue // TestOpenAPI_RoutesMatchRouter reports it
		}
		op := doc.operation(t, r.pattern, strings.ToLower(r.method))
		reqs := doc.Security
		if op.Security != nil {
			reqs = *op.Security
		}
		require.Equal(t, r.authenticated, bearer(reqs),
			"%s: openapi.yaml says bearer token required = %v, the router says %v", key, bearer(reqs), r.authenticated)
		if !r.authenticated {
			require.Empty(t, reqs, "%s answers without a token: its operation needs `security: []`", key)
		}
	}
}

// TestOpenAPI_ReferencesResolve checks that every $ref of the document points
// at something that exists.
func TestOpenAPI_ReferencesResolve(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "$ref" {
					ref, _ := child.(string)
					require.True(t, openAPIResolvePointer(doc.raw, ref), "%s: $ref %q points at nothing", where, ref)
					continue
				}
				walk(where+"/"+k, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s/%d", where, i), child)
			}
		}
	}
	walk("#", doc.raw)
}

// openAPIResolvePointer reports whether a local JSON pointer such as
// "#/components/schemas/Alias" names a node of root.
func openAPIResolvePointer(root map[string]any, ref string) bool {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var node any = root
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		if node, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestOpenAPI_SchemasMatchWireTypes checks that each component schema has
// exactly the JSON fields of its Go wire type in api/types.go, with a
// matching JSON type (strings for ",string" numbers, such as createdAt and
// expiryDate).
func TestOpenAPI_SchemasMatchWireTypes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for name, v := range map[string]any{
		"Organization":                   api.Organization{},
		"Environment":                    api.Environment{},
		"Keystore":                       api.Keystore{},
		"Alias":                          api.Alias{},
		"CertsInfo":                      api.CertsInfo{},
		"CertInfo":                       api.CertInfo{},
		"Reference":                      api.Reference{},
		"TargetServer":                   api.TargetServer{},
		"TLSInfo":                        api.TLSInfo{},
		"CommonName":                     api.CommonName{},
		"ArchiveDeployment":              api.ArchiveDeployment{},
		"ListArchiveDeploymentsResponse": api.ListArchiveDeploymentsResponse{},
		"GenerateUploadUrlResponse":      api.GenerateUploadURLResponse{},
		"GenerateDownloadUrlResponse":    api.GenerateDownloadURLResponse{},
		"Operation":                      api.Operation{},
		"OperationMetadata":              api.OperationMetadata{},
		"Status":                         api.Status{},
		"ListOperationsResponse":         api.ListOperationsResponse{},
		"Error":                          api.ErrorBody{},
		"ErrorDetail":                    api.ErrorDetail{},
		"ErrorDetailEntry":               api.ErrorDetailEntry{},
		"SelfSignedCertRequest":          api.SelfSignedCertRequest{},
		"CertSubject":                    api.CertSubject{},
		"SubjectAltDNS":                  api.SubjectAltDNS{},
		"Token":                          api.Token{},
		"ListOrganizationsResponse":      api.ListOrganizationsResponse{},
		"OrganizationMapping":            api.OrganizationMapping{},
		"ListTokensResponse":             api.ListTokensResponse{},
		"AuditLog":                       api.AuditLog{},
		"ListAuditLogsResponse":          api.ListAuditLogsResponse{},
		"CertificateExpiry":              api.CertificateExpiry{},
		"CertificateUsers":               api.CertificateUsers{},
		"ListCertificatesResponse":       api.ListCertificatesResponse{},
		"ApiProxy":                       api.ApiProxy{},
		"EntityMetadata":                 api.EntityMetadata{},
		"ListApiProxiesResponse":         api.ListApiProxiesResponse{},
		"ApiProxyRevision":               api.ApiProxyRevision{},
		"Deployment":                     api.Deployment{},
		"RPCStatus":                      api.RPCStatus{},
		"ListDeploymentsResponse":        api.ListDeploymentsResponse{},
		"DeploymentChangeReport":         api.DeploymentChangeReport{},
		"RoutingChange":                  api.RoutingChange{},
		"RoutingConflict":                api.RoutingConflict{},
		"RoutingDeployment":              api.RoutingDeployment{},
		"PreconditionFailure":            api.PreconditionFailure{},
		"Violation":                      api.Violation{},
	} {
		t.Run(name, func(t *testing.T) {
			schema, ok := doc.Components.Schemas[name]
			require.True(t, ok, "openapi.yaml has no schema %s", name)
			want := openAPIWireFields(reflect.TypeOf(v))
			require.ElementsMatch(t, openAPIKeys(want), openAPIKeys(schema.Properties),
				"schema %s: properties differ from the JSON fields of %T", name, v)
			for _, field := range openAPIKeys(want) {
				if want[field] == "" {
					continue // any JSON value
				}
				got := doc.schemaType(schema.Properties[field])
				require.Equal(t, want[field], got, "schema %s: property %s", name, field)
			}
		})
	}
}

// schemaType is the JSON type of a schema, following $ref and a one-element
// allOf.
func (d *openAPIDoc) schemaType(s *openAPISchema) string {
	for range 10 {
		switch {
		case s == nil:
			return ""
		case s.Type != "":
			return s.Type
		case s.Ref != "":
			s = d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		case len(s.AllOf) == 1:
			s = s.AllOf[0]
		default:
			return ""
		}
	}
	return ""
}

// openAPIWireFields maps the JSON names of a struct's fields to their JSON type
// ("" for any).
func openAPIWireFields(t reflect.Type) map[string]string {
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if slices.Contains(strings.Split(opts, ","), "string") {
			out[name] = "string"
			continue
		}
		out[name] = openAPIJSONType(f.Type)
	}
	return out
}

func openAPIJSONType(t reflect.Type) string {
	if t == reflect.TypeFor[json.RawMessage]() {
		return ""
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return ""
	}
}
