package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

const (
	historyPageSize = 50
	// shownRefs and shownDiffs bound what one revision shows: a bulk
	// apply can touch thousands of objects.
	shownRefs  = 5
	shownDiffs = 100
)

// historyRow is one revision in the operation log.
type historyRow struct {
	Number     int64
	Time       time.Time
	Actor      string
	Action     string
	RollbackTo int64
	Changes    []store.Change // the first few, for their refs
	More       int
}

// historyData is the operation log: everyone's, or one object's.
type historyData struct {
	Kind, Name string
	Exists     bool
	Rows       []historyRow
	NextURL    string
}

// Query is the kind and name as a query string ("" for everyone's).
func (d *historyData) Query() string {
	if d.Kind == "" {
		return ""
	}
	return "kind=" + url.QueryEscape(d.Kind) + "&name=" + url.QueryEscape(d.Name)
}

func badRequest(msg string) error {
	return &apiclient.Error{Status: http.StatusBadRequest, Code: apiclient.CodeBadRequest, Message: msg}
}

// kindAndName reads an optional object from the query: both or neither.
func kindAndName(q url.Values) (kind, name string, err error) {
	if k := q.Get("kind"); k != "" {
		var ok bool
		if kind, ok = apiclient.ParseKind(k); !ok {
			return "", "", badRequest("unknown kind " + strconv.Quote(k))
		}
	}
	name = q.Get("name")
	if (kind == "") != (name == "") {
		return "", "", badRequest("give kind and name together, or neither")
	}
	return kind, name, nil
}

// historyPage lists revisions newest first, from the store (the list
// needs no diffs; revisionPage asks the API for them).
func (c *Console) historyPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	kind, name, err := kindAndName(q)
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	page, err := c.st.History(r.Context(), store.HistoryQuery{Kind: kind, Name: name, Limit: historyPageSize, Before: max(before, 0)})
	if err != nil {
		return storeError(err)
	}
	d := &historyData{Kind: kind, Name: name}
	if v, err := c.view(r); err == nil && kind != "" {
		d.Exists = v.object(kind, name) != nil
	}
	for _, rev := range page.Revisions {
		row := historyRow{Number: rev.Number, Time: rev.Time, Actor: rev.Actor, Action: string(rev.Action), RollbackTo: rev.RollbackTo}
		row.Changes = rev.Changes[:min(len(rev.Changes), shownRefs)]
		row.More = len(rev.Changes) - len(row.Changes)
		d.Rows = append(d.Rows, row)
	}
	if page.Next > 0 {
		sep := ""
		if d.Query() != "" {
			sep = d.Query() + "&"
		}
		d.NextURL = "/history?" + sep + "before=" + strconv.FormatInt(page.Next, 10)
	}
	title := "History"
	if kind != "" {
		title = "History of " + kind + " " + name
	}
	c.render(w, r, s, http.StatusOK, "history", title, d)
	return nil
}

// storeError turns a store error into the API's error shape.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrUnavailable):
		return &apiclient.Error{Status: http.StatusServiceUnavailable, Code: apiclient.CodeUnavailable,
			Message: "the store did not answer; try again shortly"}
	}
	return err
}

// revisionData is one revision with its diffs.
type revisionData struct {
	Rev        *apiclient.Revision
	Changes    []apiclient.Change
	Hidden     int
	Kind, Name string
	Written    bool // the revision was just written by this user
}

// revisionPage shows one revision's changes as unified diffs of their
// YAML (redacted by the API), with rollback links.
func (c *Console) revisionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	n, err := strconv.ParseInt(r.PathValue("revision"), 10, 64)
	if err != nil || n <= 0 {
		return badRequest("a revision is a positive number")
	}
	kind, name, err := kindAndName(r.URL.Query())
	if err != nil {
		return err
	}
	rev, err := c.client(r, s).Revision(r.Context(), n)
	if err != nil {
		return err
	}
	d := &revisionData{Rev: rev, Kind: kind, Name: name, Written: r.URL.Query().Get("rev") == r.PathValue("revision")}
	for _, ch := range rev.Changes {
		if kind != "" && (ch.Kind != kind || ch.Name != name) {
			continue
		}
		if len(d.Changes) == shownDiffs {
			d.Hidden++
			continue
		}
		d.Changes = append(d.Changes, ch)
	}
	c.render(w, r, s, http.StatusOK, "revision", "Revision "+strconv.FormatInt(n, 10), d)
	return nil
}

// rollbackData is the confirmation page of a rollback: what it would do.
type rollbackData struct {
	Kind, Name string
	To         int64
	// Change is the preview: the diff from now to the restored state.
	Change  *apiclient.Change
	Nothing bool
	Errors  []apiclient.Detail
}

// rollbackPage previews a rollback (a dry run of the restored object, or
// the deletion of an object that did not exist then) and asks to confirm.
func (c *Console) rollbackPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	kind, name, err := kindAndName(q)
	if err != nil {
		return err
	}
	to, err := strconv.ParseInt(q.Get("to"), 10, 64)
	if kind == "" || err != nil || to <= 0 {
		return badRequest("a rollback needs kind, name and to (a revision)")
	}
	d := &rollbackData{Kind: kind, Name: name, To: to}
	target, err := c.st.ObjectAt(r.Context(), kind, name, to)
	if err != nil {
		return storeError(err)
	}
	v, err := c.view(r)
	if err != nil {
		return err
	}
	cur := v.object(kind, name)
	switch {
	case !s.CanEdit():
		d.Errors = []apiclient.Detail{{Reason: "your token's role (" + s.Role + ") may not roll back; an editor's may"}}
	case target != nil:
		t := target.DeepCopyObject()
		t.GetMetadata().Revision = 0
		// A dry run from a GET page: it writes nothing, but the API checks
		// CSRF on every POST, so it carries the session's own token.
		dry := *s
		dry.sentCSRF = s.CSRFToken
		res, err := c.client(r, &dry).ApplyObjects(r.Context(), []api.Object{t}, apiclient.ApplyOptions{DryRun: true})
		var ae *apiclient.Error
		switch {
		case err == nil && len(res.Changes) == 1:
			d.Change = &res.Changes[0]
			d.Nothing = d.Change.Op == "unchanged"
		case asAPIError(err, &ae) && ae.Code == apiclient.CodeInvalid:
			d.Errors = ae.Details
		case err != nil:
			return err
		}
	case cur != nil:
		text, err := objectYAML(cur)
		if err != nil {
			return err
		}
		diff := "--- " + api.Ref(cur) + "\n+++ /dev/null\n"
		for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			diff += "-" + l + "\n"
		}
		d.Change = &apiclient.Change{Kind: kind, Name: name, Op: "deleted", Diff: diff}
	default:
		d.Nothing = true
	}
	c.render(w, r, s, http.StatusOK, "rollback", "Roll back "+kind+" "+name, d)
	return nil
}

// rollback restores the object through the API (POST /api/v1/rollback).
func (c *Console) rollback(w http.ResponseWriter, r *http.Request, s *session) error {
	kind, ok := apiclient.ParseKind(r.PostFormValue("kind"))
	name := r.PostFormValue("name")
	to, err := strconv.ParseInt(r.PostFormValue("to"), 10, 64)
	if !ok || name == "" || err != nil || to <= 0 {
		return badRequest("a rollback needs kind, name and to (a revision)")
	}
	res, err := c.client(r, s).Rollback(r.Context(), kind, name, to)
	if err != nil {
		return err
	}
	if res.Revision == 0 {
		http.Redirect(w, r, "/history?kind="+url.QueryEscape(kind)+"&name="+url.QueryEscape(name), http.StatusSeeOther)
		return nil
	}
	c.hub.waitFor(r.Context(), res.Revision, 3*time.Second)
	n := strconv.FormatInt(res.Revision, 10)
	http.Redirect(w, r, "/history/"+n+"?rev="+n, http.StatusSeeOther)
	return nil
}

// confirmData is the confirmation page of a deletion.
type confirmData struct {
	Kind, Name string
	Revision   int64
	Text       string
}

func (c *Console) deletePage(w http.ResponseWriter, r *http.Request, s *session) error {
	kind, ok := apiclient.ParseKind(r.PathValue("kind"))
	if !ok {
		return badRequest("unknown kind")
	}
	v, err := c.view(r)
	if err != nil {
		return err
	}
	o := v.object(kind, r.PathValue("name"))
	if o == nil {
		return &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: "There is no such " + kind + "."}
	}
	text, err := objectYAML(o)
	if err != nil {
		return err
	}
	d := &confirmData{Kind: kind, Name: o.GetMetadata().Name, Revision: o.GetMetadata().Revision, Text: text}
	c.render(w, r, s, http.StatusOK, "confirm", "Delete "+kind+" "+d.Name, d)
	return nil
}

// deleteObject deletes through the API, conditional on the revision the
// confirmation page showed.
func (c *Console) deleteObject(w http.ResponseWriter, r *http.Request, s *session) error {
	kind, ok := apiclient.ParseKind(r.PathValue("kind"))
	if !ok {
		return badRequest("unknown kind")
	}
	rev, _ := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	res, err := c.client(r, s).Delete(r.Context(), kind, r.PathValue("name"), rev)
	if err != nil {
		return err
	}
	c.hub.waitFor(r.Context(), res.Revision, 3*time.Second)
	n := strconv.FormatInt(res.Revision, 10)
	http.Redirect(w, r, "/history/"+n+"?rev="+n, http.StatusSeeOther)
	return nil
}
