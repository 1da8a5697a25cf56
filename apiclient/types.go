// Package apiclient is a Go client for Fulcrum's REST API (/api/v1) and
// the definition of its wire format: the server in controlplane/apiserver
// encodes exactly these types, so client and server cannot drift apart.
//
// It imports nothing of the control plane (no etcd), so any Go program can
// use it:
//
//	c, err := apiclient.New(apiclient.Options{Server: "http://127.0.0.1:7700", Token: os.Getenv("FULCRUM_TOKEN")})
//	res, err := c.Apply(ctx, yamlBytes, apiclient.ApplyOptions{})
//	var apiErr *apiclient.Error
//	if errors.As(err, &apiErr) && apiErr.Code == apiclient.CodeInvalid {
//		for _, d := range apiErr.Details { fmt.Println(d) } // Pool/web: spec.members[2].port: ...
//	}
//
// docs/api.md describes every route.
package apiclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
)

// Roles of API tokens, weakest first. Each role may do everything the
// roles before it may.
const (
	// RoleViewer reads configuration, history, proxies and health.
	RoleViewer = "viewer"
	// RoleEditor also changes configuration and member state.
	RoleEditor = "editor"
	// RoleAdmin also manages tokens.
	RoleAdmin = "admin"
)

// Roles lists the roles, weakest first.
var Roles = []string{RoleViewer, RoleEditor, RoleAdmin}

// Member actions of SetMemberState: the member's new spec.members[].state
// is the action's state (drain → drain, disable → disabled, enable →
// enabled).
const (
	ActionDrain   = "drain"
	ActionDisable = "disable"
	ActionEnable  = "enable"
)

// CSRFHeader carries a console session's CSRF token on every mutation.
const CSRFHeader = "X-CSRF-Token"

// SessionCookie names the console's session cookie.
const SessionCookie = "fulcrum_session"

// Detail is one problem with one field of one object. The console places
// Reason next to the form field Path of the object Ref.
type Detail struct {
	// Ref is the object, "Kind/name"; empty for a problem with the request
	// as a whole.
	Ref string `json:"ref,omitempty"`
	// Path is the field's JSON path inside the object, e.g.
	// "spec.members[2].port"; empty for the object as a whole.
	Path string `json:"path,omitempty"`
	// Reason says what is wrong, in words a person can act on.
	Reason string `json:"reason"`
	// Document is the 1-based document of the request body the object came
	// from, when the body held several.
	Document int `json:"document,omitempty"`
}

// String formats the detail as "document N: Kind/name: path: reason",
// leaving out what is unknown.
func (d Detail) String() string { return d.FieldError("").Error() }

// FieldError converts the detail to an api.FieldError, with file as the
// source's name (the CLI gives the name of the file it sent).
func (d Detail) FieldError(file string) *api.FieldError {
	return &api.FieldError{Source: api.Source{File: file, Document: d.Document}, Ref: d.Ref, Path: d.Path, Reason: d.Reason}
}

// DetailsOf converts an api.ErrorList to details.
func DetailsOf(list api.ErrorList) []Detail {
	out := make([]Detail, 0, len(list))
	for _, e := range list {
		out = append(out, Detail{Ref: e.Ref, Path: e.Path, Reason: e.Reason, Document: e.Source.Document})
	}
	return out
}

// ObjectList is one page of a list of objects.
type ObjectList struct {
	Items []api.Object `json:"items"`
	// Continue fetches the next page (?continue=); empty on the last page.
	Continue string `json:"continue,omitempty"`
	// Revision is the configuration revision the page was read at.
	Revision int64 `json:"revision"`
}

type objectListJSON struct {
	Items    []json.RawMessage `json:"items"`
	Continue string            `json:"continue,omitempty"`
	Revision int64             `json:"revision"`
}

// UnmarshalJSON decodes each item by its kind.
func (l *ObjectList) UnmarshalJSON(data []byte) error {
	var in objectListJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*l = ObjectList{Continue: in.Continue, Revision: in.Revision, Items: make([]api.Object, 0, len(in.Items))}
	for _, raw := range in.Items {
		o, err := DecodeObject(raw)
		if err != nil {
			return err
		}
		l.Items = append(l.Items, o)
	}
	return nil
}

// Change is what a mutation did (or, in a dry run, would do) to one object.
// Objects are redacted: private keys and passwords read "<redacted>".
type Change struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Op is created, updated, unchanged or deleted.
	Op string `json:"op"`
	// Before is nil for a creation, After nil for a deletion.
	Before api.Object `json:"before,omitempty"`
	After  api.Object `json:"after,omitempty"`
	// Diff is a unified diff of the object's YAML, before to after; empty
	// when nothing changed.
	Diff string `json:"diff,omitempty"`
}

// Ref returns "Kind/name".
func (c Change) Ref() string { return c.Kind + "/" + c.Name }

type changeJSON struct {
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Op     string          `json:"op"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Diff   string          `json:"diff,omitempty"`
}

// UnmarshalJSON decodes before and after by their kind.
func (c *Change) UnmarshalJSON(data []byte) error {
	var in changeJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*c = Change{Kind: in.Kind, Name: in.Name, Op: in.Op, Diff: in.Diff}
	var err error
	if len(in.Before) > 0 && !bytes.Equal(in.Before, []byte("null")) {
		if c.Before, err = DecodeObject(in.Before); err != nil {
			return err
		}
	}
	if len(in.After) > 0 && !bytes.Equal(in.After, []byte("null")) {
		if c.After, err = DecodeObject(in.After); err != nil {
			return err
		}
	}
	return nil
}

// ApplyResult is the answer to every configuration mutation: apply, put,
// delete, rollback and member state.
type ApplyResult struct {
	// Revision is the revision written; 0 for a dry run or when nothing
	// changed.
	Revision int64 `json:"revision"`
	// DryRun is set when nothing was written on purpose.
	DryRun bool `json:"dryRun,omitempty"`
	// Changes lists every object of the request: pools, listeners, routes,
	// each kind by name.
	Changes []Change `json:"changes"`
	// Warnings are advice about the request's objects.
	Warnings []Detail `json:"warnings,omitempty"`
}

// Counts returns how many changes had each op.
func (r *ApplyResult) Counts() map[string]int {
	out := map[string]int{}
	for _, c := range r.Changes {
		out[c.Op]++
	}
	return out
}

// Revision is one entry of the operation log.
type Revision struct {
	Number int64     `json:"revision"`
	Actor  string    `json:"actor"`
	Time   time.Time `json:"time"`
	// Action is apply, delete, rollback or member-state.
	Action string `json:"action"`
	// RollbackTo is the revision a rollback restored.
	RollbackTo int64    `json:"rollbackTo,omitempty"`
	Changes    []Change `json:"changes"`
}

// HistoryQuery selects revisions, newest first: one object's with Kind and
// Name, everyone's without.
type HistoryQuery struct {
	Kind, Name string
	// Limit is the page size; 0 lets the server choose (50).
	Limit int
	// Before returns only older revisions; 0 starts at the newest.
	Before int64
}

// HistoryPage is one page of history.
type HistoryPage struct {
	Revisions []Revision `json:"revisions"`
	// Next is the Before of the next page; 0 on the last page.
	Next int64 `json:"next,omitempty"`
}

// RollbackRequest is the body of POST /api/v1/rollback.
type RollbackRequest struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	ToRevision int64  `json:"toRevision"`
}

// Proxy is what the control plane knows about one data plane.
type Proxy struct {
	// Name is the node name (`fulcrum proxy --node`).
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
	// Address is the node's address as the control plane sees it.
	Address string `json:"address,omitempty"`
	// ControlPlane names the replica serving the node's xDS stream.
	ControlPlane string `json:"controlPlane,omitempty"`
	// Connected is false when the node's stream has ended recently.
	Connected bool `json:"connected"`
	// ConnectedSince is when its current (or last) connection began.
	ConnectedSince time.Time `json:"connectedSince,omitzero"`
	// AckedVersion is the last configuration version it accepted.
	AckedVersion string `json:"ackedVersion,omitempty"`
	// NackedVersion and NackError describe the last version it rejected;
	// the node keeps running its last good configuration.
	NackedVersion string    `json:"nackedVersion,omitempty"`
	NackError     string    `json:"nackError,omitempty"`
	NackedAt      time.Time `json:"nackedAt,omitzero"`
	// Build is the data plane's version.
	Build     string    `json:"build,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Token describes an API token. The secret is never shown again after
// creation; the server keeps only its hash.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// NewToken is a created token with its secret, shown this once.
type NewToken struct {
	Token
	// Secret is the bearer token: "Authorization: Bearer <Secret>".
	Secret string `json:"token"`
}

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Token string `json:"token"`
}

// Session describes who a request is authenticated as (GET
// /api/v1/session, and the answer to a login).
type Session struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	TokenID string `json:"tokenId"`
	// Cookie is true for a console session (cookie-authenticated).
	Cookie bool `json:"cookie"`
	// CSRFToken must be sent as X-CSRF-Token on every mutation of a
	// cookie session; empty for bearer tokens, which need none.
	CSRFToken string `json:"csrfToken,omitempty"`
	// ExpiresAt is when a cookie session ends at the latest.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// newObject returns an empty object of a Fulcrum kind.
func newObject(kind string) (api.Object, error) {
	switch kind {
	case api.KindPool:
		return &api.Pool{}, nil
	case api.KindListener:
		return &api.Listener{}, nil
	case api.KindRoute:
		return &api.Route{}, nil
	}
	return nil, fmt.Errorf("apiclient: unknown kind %q", kind)
}

// DecodeObject decodes one object of the server's JSON by its kind. It is
// lenient about unknown fields: a newer server may send fields this client
// does not know.
func DecodeObject(data []byte) (api.Object, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("apiclient: decoding object: %w", err)
	}
	o, err := newObject(head.Kind)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, o); err != nil {
		return nil, fmt.Errorf("apiclient: decoding %s: %w", head.Kind, err)
	}
	return o, nil
}

// kindPaths maps each kind to its collection in URLs.
var kindPaths = map[string]string{api.KindPool: "pools", api.KindListener: "listeners", api.KindRoute: "routes"}

// CollectionOf returns the URL collection of a kind ("pools" for Pool), or
// "" for an unknown kind.
func CollectionOf(kind string) string { return kindPaths[kind] }

// ParseKind accepts a kind as people type it — Pool, pool, pools, POOLS —
// and returns the canonical kind (Pool, Listener or Route).
func ParseKind(s string) (string, bool) {
	l := strings.ToLower(s)
	for kind, coll := range kindPaths {
		if l == strings.ToLower(kind) || l == coll {
			return kind, true
		}
	}
	return "", false
}

// ETag formats a revision as an entity tag.
func ETag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// ParseETag parses an entity tag made by ETag; a weak tag (W/"5") is
// accepted, a bare number too.
func ParseETag(tag string) (int64, bool) {
	tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
	tag = strings.Trim(tag, `"`)
	n, err := strconv.ParseInt(tag, 10, 64)
	return n, err == nil && n > 0
}
