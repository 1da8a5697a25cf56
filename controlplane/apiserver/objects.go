package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// maxListLimit bounds a page: api.Validate bounds a configuration at
// 10 000 objects, so one page can always hold a whole kind.
const maxListLimit = 10000

func (s *Server) listObjects(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		limit, err := queryInt(r, "limit", maxListLimit)
		if err != nil {
			return err
		}
		page, err := s.st.List(r.Context(), kind, store.ListOptions{Limit: int(limit), Continue: r.URL.Query().Get("continue")})
		if err != nil {
			return fromStore(err, false)
		}
		out := apiclient.ObjectList{Items: make([]api.Object, 0, len(page.Items)), Continue: page.Continue, Revision: page.Revision}
		for _, o := range page.Items {
			out.Items = append(out.Items, api.Redact(o))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Server) getObject(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		o, err := s.st.Get(r.Context(), kind, r.PathValue("name"))
		if err != nil {
			return fromStore(err, false)
		}
		w.Header().Set("ETag", apiclient.ETag(o.GetMetadata().Revision))
		writeJSON(w, http.StatusOK, api.Redact(o))
		return nil
	}
}

// putObject creates or updates one object. An If-Match header is the
// precondition (412 when it fails); without one, a metadata.revision in
// the body is (409 when it fails).
func (s *Server) putObject(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		dryRun, err := queryBool(r, "dryRun")
		if err != nil {
			return err
		}
		data, err := s.readConfig(w, r)
		if err != nil {
			return err
		}
		d, err := decodeConfig(data)
		if err != nil {
			return err
		}
		checkSingle(d, kind, name)
		tag := r.Header.Get("If-Match")
		if tag != "" && len(d.objects) == 1 {
			rev, err := s.ifMatch(r.Context(), kind, name, tag)
			if err != nil {
				return err
			}
			d.objects[0].GetMetadata().Revision = rev
		}
		res, err := s.applyDecoded(r.Context(), d, principal(r).Name, dryRun, tag != "")
		if err != nil {
			return err
		}
		noteRequest(r, nil, res.Revision)
		c := res.Changes[0]
		status := http.StatusOK
		if c.Op == store.OpCreated && !dryRun {
			status = http.StatusCreated
		}
		if !dryRun {
			w.Header().Set("ETag", apiclient.ETag(c.After.GetMetadata().Revision))
		}
		writeJSON(w, status, api.Redact(c.After))
		return nil
	}
}

// checkSingle adds an error unless the body is exactly one object of the
// URL's kind and name.
func checkSingle(d *decoded, kind, name string) {
	if len(d.objects) != 1 {
		d.errs = append(d.errs, &api.FieldError{Reason: fmt.Sprintf(
			"PUT takes exactly one %s, not %d objects: POST /api/v1/apply takes several (and Kubernetes Service + Endpoints pairs)", kind, len(d.objects))})
		return
	}
	o := d.objects[0]
	src := d.sources[o]
	if o.GetKind() != kind {
		d.errs = append(d.errs, &api.FieldError{Source: src, Ref: api.Ref(o), Path: "kind",
			Reason: fmt.Sprintf("must be %s, as in the URL", kind)})
	}
	if o.GetMetadata().Name != name {
		d.errs = append(d.errs, &api.FieldError{Source: src, Ref: api.Ref(o), Path: "metadata.name",
			Reason: fmt.Sprintf("must be %q, as in the URL", name)})
	}
}

// ifMatch turns an If-Match header into a revision precondition. "*"
// means "as it is now": the current revision, so that the write fails if
// the object is changed or deleted meanwhile.
func (s *Server) ifMatch(ctx context.Context, kind, name, tag string) (int64, error) {
	if tag == "*" {
		o, err := s.st.Get(ctx, kind, name)
		if errors.Is(err, store.ErrNotFound) {
			return 0, errorf(apiclient.CodePreconditionFailed, "If-Match: * but %s/%s does not exist", kind, name)
		}
		if err != nil {
			return 0, fromStore(err, true)
		}
		return o.GetMetadata().Revision, nil
	}
	rev, ok := apiclient.ParseETag(tag)
	if !ok {
		return 0, errorf(apiclient.CodePreconditionFailed, "If-Match %q is not a revision (an ETag such as \"12\")", tag)
	}
	return rev, nil
}

func (s *Server) deleteObject(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		tag := r.Header.Get("If-Match")
		var rev int64
		if tag != "" && tag != "*" {
			var ok bool
			if rev, ok = apiclient.ParseETag(tag); !ok {
				return errorf(apiclient.CodePreconditionFailed, "If-Match %q is not a revision (an ETag such as \"12\")", tag)
			}
		}
		res, err := s.st.Delete(r.Context(), kind, name, principal(r).Name, rev)
		if err != nil {
			return fromStore(err, tag != "")
		}
		noteRequest(r, nil, res.Revision)
		writeJSON(w, http.StatusOK, resultOf(res))
		return nil
	}
}

// apply creates or updates every object of the body, all or nothing.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) error {
	dryRun, err := queryBool(r, "dryRun")
	if err != nil {
		return err
	}
	data, err := s.readConfig(w, r)
	if err != nil {
		return err
	}
	d, err := decodeConfig(data)
	if err != nil {
		return err
	}
	res, err := s.applyDecoded(r.Context(), d, principal(r).Name, dryRun, false)
	if err != nil {
		return err
	}
	noteRequest(r, nil, res.Revision)
	writeJSON(w, http.StatusOK, resultOf(res))
	return nil
}
