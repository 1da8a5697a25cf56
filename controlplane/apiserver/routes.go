package apiserver

import (
	"net/http"
	"strings"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// Every route lives under this prefix.
const apiPrefix = "/api/v1"

const loginPath = apiPrefix + "/login"

// route is one method on one path: what the mux registers and what the
// OpenAPI document describes, from the same entry, so the two cannot
// disagree (TestOpenAPIMatchesRoutes checks the served result anyway).
type route struct {
	method, path string
	// role is the least role allowed; "" only for login, which checks
	// the token in its body instead.
	role    string
	op      string // OpenAPI operationId
	summary string
	query   []param
	// body is the request body: "" none, bodyConfig for YAML or JSON
	// objects, else the name of a JSON schema.
	body string
	// status is the success status; created adds 201 beside it.
	status  int
	created bool
	// result names the schema of the success body; "" for none.
	result string
	// errors lists the statuses the route can answer besides 401, 403,
	// 500 and 503, which every route can.
	errors []int
	h      handlerFunc
}

// param is a query parameter.
type param struct{ name, typ, desc string }

const bodyConfig = "config"

var (
	pLimit    = param{"limit", "integer", "page size (0 or absent: everything); at most 10000"}
	pContinue = param{"continue", "string", "the continue token of the previous page"}
	pDryRun   = param{"dryRun", "boolean", "validate and report without writing"}
)

// routeTable lists every route of the API.
func (s *Server) routeTable() []route {
	var rs []route
	for _, kind := range api.Kinds {
		rs = append(rs, s.objectRoutes(kind)...)
	}
	viewer, editor, admin := apiclient.RoleViewer, apiclient.RoleEditor, apiclient.RoleAdmin
	rs = append(rs,
		route{method: "POST", path: "/apply", role: editor, op: "apply",
			summary: "Create or update every object of a YAML or JSON body, all or nothing",
			query:   []param{pDryRun}, body: bodyConfig, status: 200, result: "ApplyResult",
			errors: []int{400, 409, 413, 415, 422}, h: s.apply},
		route{method: "GET", path: "/history", role: viewer, op: "listHistory",
			summary: "Revisions, newest first: everyone's, or one object's with kind and name",
			query: []param{{"kind", "string", "Pool, Listener or Route (with name)"}, {"name", "string", "object name (with kind)"},
				{"limit", "integer", "page size, default 50, at most 1000"}, {"before", "integer", "only revisions older than this one (the previous page's next)"}},
			status: 200, result: "HistoryPage", errors: []int{400}, h: s.history},
		route{method: "GET", path: "/history/{revision}", role: viewer, op: "getRevision",
			summary: "One revision with every change and its diff",
			status:  200, result: "Revision", errors: []int{400, 404}, h: s.revision},
		route{method: "POST", path: "/rollback", role: editor, op: "rollback",
			summary: "Make one object as it was at a revision, as a new revision (restores deleted objects)",
			body:    "RollbackRequest", status: 200, result: "ApplyResult", errors: []int{400, 404, 413, 415, 422}, h: s.rollback},
		route{method: "GET", path: "/proxies", role: viewer, op: "listProxies",
			summary: "The data planes: zone, acknowledged version, last rejected version and its error",
			status:  200, result: "ProxyList", h: s.listProxies},
	)
	for _, action := range []string{apiclient.ActionDrain, apiclient.ActionDisable, apiclient.ActionEnable} {
		rs = append(rs, route{method: "POST", path: "/pools/{pool}/members/{address}/" + action, role: editor,
			op: action + "Member", summary: memberSummary[action],
			status: 200, result: "ApplyResult", errors: []int{404, 422}, h: s.memberState(action)})
	}
	rs = append(rs,
		route{method: "GET", path: "/tokens", role: admin, op: "listTokens", summary: "API tokens (never their secrets)",
			status: 200, result: "TokenList", h: s.listTokens},
		route{method: "POST", path: "/tokens", role: admin, op: "createToken",
			summary: "Create a token; the answer holds its secret, shown this once",
			body:    "TokenRequest", status: 201, result: "NewToken", errors: []int{400, 409, 413, 415}, h: s.createToken},
		route{method: "DELETE", path: "/tokens/{id}", role: admin, op: "deleteToken",
			summary: "Delete a token; its console sessions end at once",
			status:  204, errors: []int{404, 409}, h: s.deleteToken},
		route{method: "POST", path: "/login", op: "login",
			summary: "Exchange a token for a console session cookie and its CSRF token",
			body:    "LoginRequest", status: 200, result: "Session", errors: []int{400, 413, 415}, h: s.auth.login},
		route{method: "POST", path: "/logout", role: viewer, op: "logout", summary: "End the console session",
			status: 204, h: s.auth.logout},
		route{method: "GET", path: "/session", role: viewer, op: "getSession",
			summary: "Who the request is authenticated as; a console session's CSRF token",
			status:  200, result: "Session", h: s.auth.session},
		route{method: "GET", path: "/openapi.json", role: viewer, op: "getOpenAPI", summary: "This document",
			status: 200, result: "OpenAPI", h: s.serveOpenAPI},
	)
	for i := range rs {
		rs[i].path = apiPrefix + rs[i].path
	}
	return rs
}

var memberSummary = map[string]string{
	apiclient.ActionDrain:   "Drain a member: no new traffic, existing traffic finishes",
	apiclient.ActionDisable: "Disable a member: no traffic at all",
	apiclient.ActionEnable:  "Enable a member again",
}

// objectRoutes are list, get, put and delete of one kind.
func (s *Server) objectRoutes(kind string) []route {
	coll := apiclient.CollectionOf(kind)
	viewer, editor := apiclient.RoleViewer, apiclient.RoleEditor
	title := strings.ToUpper(coll[:1]) + coll[1:]
	return []route{
		{method: "GET", path: "/" + coll, role: viewer, op: "list" + title,
			summary: "List " + coll + " by name, with status (paged)",
			query:   []param{pLimit, pContinue}, status: 200, result: "ObjectList", errors: []int{400}, h: s.listObjects(kind)},
		{method: "GET", path: "/" + coll + "/{name}", role: viewer, op: "get" + kind,
			summary: "One " + kind + " with status; ETag is its revision",
			status:  200, result: kind, errors: []int{404}, h: s.getObject(kind)},
		{method: "PUT", path: "/" + coll + "/{name}", role: editor, op: "put" + kind,
			summary: "Create (201) or update (200) one " + kind + "; If-Match makes it conditional",
			query:   []param{pDryRun}, body: bodyConfig, status: 200, created: true, result: kind,
			errors: []int{400, 409, 412, 413, 415, 422}, h: s.putObject(kind)},
		{method: "DELETE", path: "/" + coll + "/{name}", role: editor, op: "delete" + kind,
			summary: "Delete one " + kind + "; If-Match makes it conditional",
			status:  200, result: "ApplyResult", errors: []int{404, 412, 422}, h: s.deleteObject(kind)},
	}
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(s.openapi)
	return nil
}
