package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// yamlData is the YAML editor.
type yamlData struct {
	Kind, Name string // the object opened for editing, if any
	Text       string
	// Mode is "", "validated" or "preview": what the last dry run was.
	Mode    string
	Result  *apiclient.ApplyResult
	Errors  []apiclient.Detail
	Message string
	// Digest identifies the previewed text: Apply is offered only for
	// exactly the text whose diff was shown.
	Digest string
}

// CanApply reports whether the preview showed changes that may be applied.
func (d *yamlData) CanApply() bool {
	if d.Mode != "preview" || d.Result == nil || len(d.Errors) > 0 {
		return false
	}
	for _, ch := range d.Result.Changes {
		if ch.Op != "unchanged" {
			return true
		}
	}
	return false
}

// skeletons start a new object in the editor.
var skeletons = map[string]string{
	api.KindPool: `apiVersion: fulcrum/v1
kind: Pool
metadata:
  name: example
spec:
  frontend: {protocol: http}
  members:
  - {address: "127.0.0.1:9001"}
`,
	api.KindListener: `apiVersion: fulcrum/v1
kind: Listener
metadata:
  name: example
spec:
  protocol: http
  port: 8080
`,
	api.KindRoute: `apiVersion: fulcrum/v1
kind: Route
metadata:
  name: example
spec:
  listener: LISTENER
  match: {path: {prefix: /}}
  backends:
  - {pool: POOL}
`,
}

// objectYAML is an object as the editor shows it: redacted (sending
// "<redacted>" back keeps the stored secret), without status and the
// metadata the store maintains, but with metadata.revision, which makes
// the apply fail if someone changed the object meanwhile.
func objectYAML(o api.Object) (string, error) {
	c := api.Redact(o)
	md := c.GetMetadata()
	md.CreatedAt, md.UpdatedAt, md.UpdatedBy = "", "", ""
	switch v := c.(type) {
	case *api.Pool:
		v.Status = nil
	case *api.Listener:
		v.Status = nil
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		return "", err
	}
	return "# metadata.revision: the apply fails if someone changed " + api.Ref(o) + " since.\n" + string(data), nil
}

func (c *Console) yamlPage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := &yamlData{}
	kind, ok := apiclient.ParseKind(q.Get("kind"))
	switch name := q.Get("name"); {
	case ok && name != "":
		v, err := c.view(r)
		if err != nil {
			return err
		}
		o := v.object(kind, name)
		if o == nil {
			return &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: "There is no " + kind + " " + strconv.Quote(name) + "."}
		}
		d.Kind, d.Name = kind, name
		if d.Text, err = objectYAML(o); err != nil {
			return err
		}
	case ok:
		d.Kind, d.Text = kind, skeletons[kind]
	}
	c.render(w, r, s, http.StatusOK, "yaml", yamlTitle(d), d)
	return nil
}

func yamlTitle(d *yamlData) string {
	switch {
	case d.Name != "":
		return "Edit " + d.Kind + " " + d.Name + " as YAML"
	case d.Kind != "":
		return "New " + d.Kind + " (YAML)"
	}
	return "Apply YAML"
}

func digest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// yamlSubmit validates (dry run), previews (dry run with the diff) or
// applies the editor's text through the API.
func (c *Console) yamlSubmit(w http.ResponseWriter, r *http.Request, s *session) error {
	d := &yamlData{Kind: r.PostFormValue("kind"), Name: r.PostFormValue("name"),
		Text: strings.ReplaceAll(r.PostFormValue("yaml"), "\r\n", "\n")}
	act := r.PostFormValue("action")
	if act == "apply" && r.PostFormValue("digest") != digest(d.Text) {
		act = "preview"
		d.Message = "The text changed after the preview: check the diff below again, then apply."
	}
	cl := c.client(r, s)
	if act != "apply" {
		d.Mode = "validated"
		if act == "preview" {
			d.Mode, d.Digest = "preview", digest(d.Text)
		}
		res, err := cl.Apply(r.Context(), []byte(d.Text), apiclient.ApplyOptions{DryRun: true})
		status, err := d.absorb(res, err)
		if err != nil {
			return err
		}
		c.render(w, r, s, status, "yaml", yamlTitle(d), d)
		return nil
	}
	res, err := cl.Apply(r.Context(), []byte(d.Text), apiclient.ApplyOptions{})
	if err != nil {
		status, err := d.absorb(nil, err)
		if err != nil {
			return err
		}
		c.render(w, r, s, status, "yaml", yamlTitle(d), d)
		return nil
	}
	if res.Revision == 0 {
		d.Mode, d.Result, d.Message = "validated", res, "Nothing changed: the objects are already as written."
		c.render(w, r, s, http.StatusOK, "yaml", yamlTitle(d), d)
		return nil
	}
	c.hub.waitFor(r.Context(), res.Revision, 3*time.Second)
	http.Redirect(w, r, "/history/"+strconv.FormatInt(res.Revision, 10)+"?rev="+strconv.FormatInt(res.Revision, 10), http.StatusSeeOther)
	return nil
}

// absorb records a dry run's result or the API's refusal, and returns the
// page's status; errors the page cannot show are returned.
func (d *yamlData) absorb(res *apiclient.ApplyResult, err error) (int, error) {
	d.Result = res
	if err == nil {
		return http.StatusOK, nil
	}
	var ae *apiclient.Error
	if !asAPIError(err, &ae) {
		return 0, err
	}
	switch ae.Code {
	case apiclient.CodeInvalid, apiclient.CodeBadRequest, apiclient.CodeConflict, apiclient.CodePreconditionFailed,
		apiclient.CodeTooLarge, apiclient.CodeNotFound:
		d.Errors = ae.Details
		if len(d.Errors) == 0 {
			d.Errors = []apiclient.Detail{{Reason: ae.Message}}
		}
		d.Message = ae.Message
		d.Digest = ""
		return formStatus, nil
	}
	return 0, err
}
