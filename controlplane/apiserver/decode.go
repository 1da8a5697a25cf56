package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// sourceName is the file name of a request body in errors.
const sourceName = "request"

// decoded is a request body's objects and the mistakes found decoding it.
type decoded struct {
	objects []api.Object
	sources map[api.Object]api.Source
	// bad lists, by "Kind/name", the fields that failed decoding: later
	// validation errors about them would only repeat the news.
	bad  map[string][]string
	errs api.ErrorList
}

// decodeConfig decodes a YAML or JSON body strictly, imports Kubernetes
// Service + Endpoints pairs, and keeps going after errors so that one
// answer reports every mistake. A body that is not YAML or JSON at all is
// a 400; field errors are kept for the 422.
func decodeConfig(data []byte) (*decoded, error) {
	dec, list := api.DecodeInputs([]api.Input{{Name: sourceName, Data: data}}, api.ValidateOptions{})
	d := &decoded{sources: map[api.Object]api.Source{}, bad: map[string][]string{}, errs: list}
	for _, o := range dec.Objects {
		d.add(o, dec.Sources[o], dec.BadPaths[o])
	}
	if len(d.objects) == 0 {
		if len(d.errs) > 0 && syntaxOnly(d.errs) {
			e := errorf(apiclient.CodeBadRequest, "the body is not valid YAML or JSON")
			e.body.Details = details(d.errs)
			return nil, e
		}
		if len(d.errs) == 0 {
			return nil, errorf(apiclient.CodeBadRequest, "the body holds no objects: expected YAML or JSON documents with apiVersion, kind, metadata and spec")
		}
	}
	return d, nil
}

func (d *decoded) add(o api.Object, src api.Source, bad []string) {
	d.objects = append(d.objects, o)
	d.sources[o] = src
	d.bad[api.Ref(o)] = append(d.bad[api.Ref(o)], bad...)
}

// syntaxOnly reports whether no error names an object or a field: the
// documents could not even be parsed.
func syntaxOnly(list api.ErrorList) bool {
	for _, e := range list {
		if e.Ref != "" || e.Path != "" {
			return false
		}
	}
	return true
}

// applyDecoded sends decoded objects to the store. When decoding found
// mistakes, nothing is written, but the objects are still validated (a
// dry run) against the stored configuration so that the answer lists
// every error. ifMatch says whether a precondition came from If-Match.
func (s *Server) applyDecoded(ctx context.Context, d *decoded, actor string, dryRun, ifMatch bool) (*store.ApplyResult, error) {
	list, err := s.restoreSecrets(ctx, d)
	if err != nil {
		return nil, err
	}
	d.errs = append(d.errs, list...)
	req := store.ApplyRequest{Objects: d.objects, Sources: d.sources, Actor: actor, DryRun: dryRun}
	if len(d.errs) == 0 {
		res, err := s.st.Apply(ctx, req)
		if err != nil {
			return nil, fromStore(err, ifMatch)
		}
		return res, nil
	}
	all := d.errs
	if len(d.objects) > 0 {
		req.DryRun = true
		var verr *store.ValidationError
		if _, err := s.st.Apply(ctx, req); errors.As(err, &verr) {
			for _, e := range verr.Errors {
				if !underAny(e.Path, d.bad[e.Ref]) {
					all = append(all, e)
				}
			}
		}
	}
	all.Sort()
	return nil, invalid(fmt.Sprintf("the configuration has %d error(s): nothing was written", len(all)), all)
}

func underAny(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// secret is one secret field of an object: where it is and, for private
// keys, the certificate it belongs with.
type secret struct {
	path  string
	value *string
	cert  string // the certificate (inline PEM or file) of a key
}

// secretsOf lists the secret fields that api.Redact hides.
func secretsOf(o api.Object) []secret {
	var out []secret
	var fe *api.Frontend
	prefix := "spec"
	switch v := o.(type) {
	case *api.Pool:
		if hc := v.Spec.HealthCheck; hc != nil && hc.Password != "" {
			out = append(out, secret{path: "spec.healthCheck.password", value: &hc.Password})
		}
		fe, prefix = v.Spec.Frontend, "spec.frontend"
	case *api.Listener:
		fe = &v.Spec.Frontend
	}
	if fe == nil || fe.TLS == nil {
		return out
	}
	for i := range fe.TLS.Certificates {
		c := &fe.TLS.Certificates[i]
		if c.Key != "" {
			out = append(out, secret{path: fmt.Sprintf("%s.tls.certificates[%d].key", prefix, i), value: &c.Key, cert: c.Cert + c.CertFile})
		}
	}
	return out
}

// restoreSecrets puts the stored secret back wherever a request carries
// api.Redacted, so that what `fulcrum get -o yaml` printed applies again
// unchanged. The stored object's revision becomes the write's
// precondition (unless the request gave one), so the secret cannot be
// taken from a version that was replaced in the meantime.
func (s *Server) restoreSecrets(ctx context.Context, d *decoded) (api.ErrorList, error) {
	var list api.ErrorList
	for _, o := range d.objects {
		var redacted []secret
		for _, sec := range secretsOf(o) {
			if *sec.value == api.Redacted {
				redacted = append(redacted, sec)
			}
		}
		if len(redacted) == 0 {
			continue
		}
		md := o.GetMetadata()
		stored, err := s.st.Get(ctx, o.GetKind(), md.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fromStore(err, false)
		}
		var have []secret
		if stored != nil {
			have = secretsOf(stored)
		}
		for _, sec := range redacted {
			v, ok := matchSecret(sec, have)
			if !ok {
				list = append(list, &api.FieldError{Source: d.sources[o], Ref: api.Ref(o), Path: sec.path,
					Reason: fmt.Sprintf("is %s, and there is no stored value to keep: give the real value", api.Redacted)})
				continue
			}
			*sec.value = v
		}
		if stored != nil && md.Revision == 0 {
			md.Revision = stored.GetMetadata().Revision
		}
	}
	return list, nil
}

// matchSecret finds the stored value of a redacted field: the password,
// or the key stored with the same certificate (else at the same path).
func matchSecret(want secret, have []secret) (string, bool) {
	for _, h := range have {
		if want.cert != "" && h.cert == want.cert && h.path != "spec.healthCheck.password" {
			return *h.value, true
		}
	}
	for _, h := range have {
		if h.path == want.path {
			return *h.value, true
		}
	}
	return "", false
}
