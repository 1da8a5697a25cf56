package apiserver

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// maxHistoryLimit bounds a page of history: each revision carries whole
// objects, before and after.
const maxHistoryLimit = 1000

func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", maxHistoryLimit)
	if err != nil {
		return err
	}
	before, err := queryInt(r, "before", math.MaxInt64)
	if err != nil {
		return err
	}
	hq := store.HistoryQuery{Name: q.Get("name"), Limit: int(limit), Before: before}
	if k := q.Get("kind"); k != "" {
		var ok bool
		if hq.Kind, ok = apiclient.ParseKind(k); !ok {
			return errorf(apiclient.CodeBadRequest, "kind=%q: want one of %v", k, api.Kinds)
		}
	}
	if (hq.Kind == "") != (hq.Name == "") {
		return errorf(apiclient.CodeBadRequest, "give kind and name together (one object's history), or neither (everyone's)")
	}
	page, err := s.st.History(r.Context(), hq)
	if err != nil {
		return fromStore(err, false)
	}
	out := apiclient.HistoryPage{Revisions: make([]apiclient.Revision, 0, len(page.Revisions)), Next: page.Next}
	for _, rev := range page.Revisions {
		out.Revisions = append(out.Revisions, revisionOf(rev))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revision(w http.ResponseWriter, r *http.Request) error {
	v := r.PathValue("revision")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return errorf(apiclient.CodeBadRequest, "revision %q: want a positive integer", v)
	}
	rev, err := s.st.Revision(r.Context(), n)
	if err != nil {
		return fromStore(err, false)
	}
	writeJSON(w, http.StatusOK, revisionOf(*rev))
	return nil
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	var in apiclient.RollbackRequest
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	kind, ok := apiclient.ParseKind(in.Kind)
	if !ok {
		return errorf(apiclient.CodeBadRequest, "kind %q: want one of %v", in.Kind, api.Kinds)
	}
	if in.Name == "" || in.ToRevision <= 0 {
		return errorf(apiclient.CodeBadRequest, "give the object's name and toRevision, a positive revision number")
	}
	res, err := s.st.Rollback(r.Context(), kind, in.Name, in.ToRevision, principal(r).Name)
	if err != nil {
		return fromStore(err, false)
	}
	noteRequest(r, nil, res.Revision)
	writeJSON(w, http.StatusOK, resultOf(res))
	return nil
}

// memberStates maps each member action to the state it sets.
var memberStates = map[string]string{
	apiclient.ActionDrain:   api.StateDrain,
	apiclient.ActionDisable: api.StateDisabled,
	apiclient.ActionEnable:  api.StateEnabled,
}

func (s *Server) memberState(action string) handlerFunc {
	state := memberStates[action]
	return func(w http.ResponseWriter, r *http.Request) error {
		res, err := s.st.SetMemberState(r.Context(), r.PathValue("pool"), r.PathValue("address"), state, principal(r).Name)
		if err != nil {
			return fromStore(err, false)
		}
		noteRequest(r, nil, res.Revision)
		writeJSON(w, http.StatusOK, resultOf(res))
		return nil
	}
}

func (s *Server) listProxies(w http.ResponseWriter, r *http.Request) error {
	list, err := s.proxies(r.Context())
	if err != nil {
		return fromStore(err, false)
	}
	if list == nil {
		list = []ProxyView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
	return nil
}

// storeProxies lists the proxy statuses the control planes keep in the
// store: what GET /api/v1/proxies shows when Options.Proxies is nil.
func (s *Server) storeProxies(ctx context.Context) ([]ProxyView, error) {
	sts, err := s.st.ListProxyStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ProxyView, 0, len(sts))
	for _, st := range sts {
		out = append(out, ProxyFromStatus(st))
	}
	return out, nil
}

// ProxyFromStatus converts a store proxy status; a status present in the
// store belongs to a connected node (it lives under its control plane's
// lease).
func ProxyFromStatus(st store.ProxyStatus) ProxyView {
	return ProxyView{Name: st.Node, Zone: st.Zone, Address: st.Address, ControlPlane: st.ControlPlane,
		Connected: true, ConnectedSince: st.ConnectedAt, AckedVersion: st.AckedVersion,
		NackedVersion: st.NackedVersion, NackError: st.NackError, UpdatedAt: st.UpdatedAt}
}
