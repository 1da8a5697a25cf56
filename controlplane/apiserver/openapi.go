package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// wireTypes are the schemas the route table names, by name.
var wireTypes = map[string]reflect.Type{
	api.KindPool:      reflect.TypeFor[api.Pool](),
	api.KindListener:  reflect.TypeFor[api.Listener](),
	api.KindRoute:     reflect.TypeFor[api.Route](),
	"ObjectList":      reflect.TypeFor[apiclient.ObjectList](),
	"ApplyResult":     reflect.TypeFor[apiclient.ApplyResult](),
	"HistoryPage":     reflect.TypeFor[apiclient.HistoryPage](),
	"Revision":        reflect.TypeFor[apiclient.Revision](),
	"RollbackRequest": reflect.TypeFor[apiclient.RollbackRequest](),
	"Proxy":           reflect.TypeFor[apiclient.Proxy](),
	"Token":           reflect.TypeFor[apiclient.Token](),
	"TokenRequest":    reflect.TypeFor[apiclient.TokenRequest](),
	"NewToken":        reflect.TypeFor[apiclient.NewToken](),
	"LoginRequest":    reflect.TypeFor[apiclient.LoginRequest](),
	"Session":         reflect.TypeFor[apiclient.Session](),
	"Error":           reflect.TypeFor[apiclient.Error](),
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

var paramDocs = map[string]string{
	"name":     "object name",
	"pool":     "pool name",
	"address":  "member address as in spec.members[].address, e.g. 127.0.0.1:9001 (path-escaped)",
	"revision": "revision number",
	"id":       "token ID",
}

var statusText = map[int]string{
	400: "malformed request", 401: "no token, or an invalid or expired one", 403: "the role may not do this, or a console session's mutation lacks X-CSRF-Token",
	404: "not found", 409: "conflict: a metadata.revision precondition failed, or the name is taken",
	412: "If-Match does not match the stored revision", 413: "body or change too large",
	415: "unsupported Content-Type", 422: "invalid: details lists every error with its object and field path",
	500: "internal error", 503: "the configuration store did not confirm; nothing can be assumed written",
}

// openAPIDocument describes the routes as an OpenAPI 3 document.
func openAPIDocument(routes []route) ([]byte, error) {
	sc := &schemas{defs: map[string]any{}}
	for name, t := range wireTypes {
		sc.add(name, t)
	}
	sc.defs["ProxyList"] = listSchema("Proxy")
	sc.defs["TokenList"] = listSchema("Token")
	sc.defs["OpenAPI"] = map[string]any{"type": "object", "description": "an OpenAPI 3 document"}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op, err := operation(rt, sc)
		if err != nil {
			return nil, err
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Fulcrum REST API", "version": "v1",
			"description": "Configuration, history, rollback, member state, data planes and tokens. docs/api.md has examples."},
		"security": []any{map[string]any{"bearerAuth": []any{}}, map[string]any{"sessionCookie": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": sc.defs,
			"securitySchemes": map[string]any{
				"bearerAuth":    map[string]any{"type": "http", "scheme": "bearer", "description": "an API token"},
				"sessionCookie": map[string]any{"type": "apiKey", "in": "cookie", "name": apiclient.SessionCookie, "description": "a console session (POST /api/v1/login); mutations also need the X-CSRF-Token header"},
			},
			"responses": map[string]any{"Error": map[string]any{"description": "an error",
				"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func listSchema(item string) map[string]any {
	return map[string]any{"type": "object", "required": []string{"items"},
		"properties": map[string]any{"items": map[string]any{"type": "array", "items": ref(item)}}}
}

// operation describes one route.
func operation(rt route, sc *schemas) (map[string]any, error) {
	op := map[string]any{"operationId": rt.op, "summary": rt.summary, "x-fulcrum-role": rt.role}
	if rt.role == "" {
		op["security"] = []any{} // login authenticates with the token in its body
		op["x-fulcrum-role"] = "none"
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": paramDocs[m[1]], "schema": map[string]any{"type": "string"}})
	}
	for _, q := range rt.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc, "schema": map[string]any{"type": q.typ}})
	}
	if slices.Contains(rt.errors, http.StatusPreconditionFailed) {
		params = append(params, map[string]any{"name": "If-Match", "in": "header",
			"description": `the object's revision as an ETag ("12"), or *`, "schema": map[string]any{"type": "string"}})
	}
	if params != nil {
		op["parameters"] = params
	}
	switch rt.body {
	case "":
	case bodyConfig:
		objs := map[string]any{"oneOf": []any{sc.of(objectType), map[string]any{"type": "array", "items": sc.of(objectType)}}}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/yaml": map[string]any{"schema": map[string]any{"type": "string", "description": "one or more YAML documents separated by ---"}},
			"application/json": map[string]any{"schema": objs},
		}}
	default:
		if _, ok := sc.defs[rt.body]; !ok {
			return nil, fmt.Errorf("apiserver: route %s %s: unknown body schema %q", rt.method, rt.path, rt.body)
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(rt.body)}}}
	}
	responses := map[string]any{}
	ok := map[string]any{"description": "success"}
	if rt.result != "" {
		if _, found := sc.defs[rt.result]; !found {
			return nil, fmt.Errorf("apiserver: route %s %s: unknown result schema %q", rt.method, rt.path, rt.result)
		}
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.result)}}
	}
	responses[strconv.Itoa(rt.status)] = ok
	if rt.created {
		responses["201"] = map[string]any{"description": "created", "content": ok["content"]}
	}
	for _, code := range errorStatuses(rt) {
		responses[strconv.Itoa(code)] = map[string]any{"description": statusText[code], "content": map[string]any{
			"application/json": map[string]any{"schema": ref("Error")}}}
	}
	op["responses"] = responses
	return op, nil
}

// errorStatuses are the error statuses a route can answer: its own, and
// those every route shares.
func errorStatuses(rt route) []int {
	out := append([]int{http.StatusUnauthorized, http.StatusInternalServerError, http.StatusServiceUnavailable}, rt.errors...)
	if rt.role != "" {
		out = append(out, http.StatusForbidden)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
