package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
)

// formStatus is the status of a form shown again with its errors: 200,
// as for any page, because browsers log a document answered 4xx as an
// error in the console, and the errors are in the page for people to read.
const formStatus = http.StatusOK

// blankMemberRows are offered below the members of the pool form, so that
// members can be added without the script.
const blankMemberRows = 2

// maxFormMembers bounds the member rows a form may post.
const maxFormMembers = 10000

// memberField is one member row of the form, as typed.
type memberField struct{ Address, Weight, Zone, State string }

// poolForm is the pool form: every field as text, as typed, so that a
// refused form comes back exactly as it was sent, with its errors. The
// HTML names of the fields are their JSON paths in the Pool
// (spec.members[2].address), so that the API's error paths find them.
type poolForm struct {
	Editing  bool
	Name     string
	Revision int64

	Protocol, Address, Port string
	Algorithm, HashOn       string
	Members                 []memberField

	HCType, HCPath, HCInterval, HCTimeout, HCRise, HCFall string
	Connect, Idle, Request, Retries                       string

	// Errors are the reasons by field path; Summary the ones no field of
	// the form shows (other objects, the object as a whole).
	Errors  map[string][]string
	Summary []apiclient.Detail
	// Changes is the dry run's diff, after "Preview".
	Changes   []apiclient.Change
	Previewed bool
}

// Option lists of the form's selects.
var (
	formProtocols = []string{"", api.ProtocolHTTP, api.ProtocolHTTPS, api.ProtocolGRPC, api.ProtocolTCP, api.ProtocolUDP}
	formChecks    = []string{"", api.CheckHTTP, api.CheckTCP, api.CheckGRPC, api.CheckMySQL, api.CheckNone}
	formStates    = []string{api.StateEnabled, api.StateDrain, api.StateDisabled}
)

// Options are the select lists, for the template.
func (f *poolForm) Options() map[string][]string {
	return map[string][]string{"protocols": formProtocols, "algorithms": append([]string{""}, api.Algorithms...), "checks": formChecks, "states": formStates}
}

// Err returns the errors of one field, joined.
func (f *poolForm) Err(path string) string { return strings.Join(f.Errors[path], "; ") }

// ErrCount is the number of errors the form shows.
func (f *poolForm) ErrCount() int {
	n := len(f.Summary)
	for _, e := range f.Errors {
		n += len(e)
	}
	return n
}

// FieldErrors lists every placed error, in field order, for the summary
// at the top of the form (each links to its field).
func (f *poolForm) FieldErrors() []apiclient.Detail {
	var out []apiclient.Detail
	for _, p := range f.fields() {
		for _, reason := range f.Errors[p] {
			out = append(out, apiclient.Detail{Path: p, Reason: reason})
		}
	}
	return out
}

// Rows returns the member rows to show: the members, then blank rows.
func (f *poolForm) Rows() []memberField {
	return append(append([]memberField(nil), f.Members...), make([]memberField, blankMemberRows)...)
}

// fields lists every field path the form renders, groups included.
func (f *poolForm) fields() []string {
	out := []string{"metadata.name", "spec.frontend", "spec.frontend.protocol", "spec.frontend.address", "spec.frontend.port",
		"spec.algorithm", "spec.hashOn", "spec.members"}
	for i := range len(f.Members) + blankMemberRows {
		p := "spec.members[" + strconv.Itoa(i) + "]"
		out = append(out, p+".address", p+".weight", p+".zone", p+".state")
	}
	return append(out, "spec.healthCheck", "spec.healthCheck.type", "spec.healthCheck.path", "spec.healthCheck.interval",
		"spec.healthCheck.timeout", "spec.healthCheck.rise", "spec.healthCheck.fall",
		"spec.timeouts", "spec.timeouts.connect", "spec.timeouts.idle", "spec.timeouts.request", "spec.retries", "spec.retries.attempts")
}

// newPoolFormDefaults is what the form offers for a new pool.
func newPoolFormDefaults() *poolForm {
	return &poolForm{Protocol: api.ProtocolHTTP, Algorithm: api.RoundRobin, HCType: api.CheckHTTP, HCPath: "/healthz",
		HCInterval: "2s", HCTimeout: "1s", HCRise: "2", HCFall: "3"}
}

// formOf fills the form from a stored pool.
func formOf(p *api.Pool) *poolForm {
	f := &poolForm{Editing: true, Name: p.Metadata.Name, Revision: p.Metadata.Revision, Algorithm: p.Spec.Algorithm, HashOn: p.Spec.HashOn}
	if fe := p.Spec.Frontend; fe != nil {
		f.Protocol, f.Address, f.Port = fe.Protocol, fe.Address, itoaNonZero(fe.Port)
	}
	for _, m := range p.Spec.Members {
		addr := m.Address
		if m.Port != 0 {
			addr = joinHostPort(m.Address, m.Port)
		}
		f.Members = append(f.Members, memberField{Address: addr, Weight: itoaNonZero(m.Weight), Zone: m.Zone, State: m.State})
	}
	if hc := p.Spec.HealthCheck; hc != nil {
		f.HCType, f.HCPath = hc.Type, hc.Path
		f.HCInterval, f.HCTimeout = durText(hc.Interval), durText(hc.Timeout)
		f.HCRise, f.HCFall = itoaNonZero(hc.Rise), itoaNonZero(hc.Fall)
	}
	if t := p.Spec.Timeouts; t != nil {
		f.Connect, f.Idle, f.Request = durText(t.Connect), durText(t.Idle), durText(t.Request)
	}
	if rp := p.Spec.Retries; rp != nil {
		f.Retries = strconv.Itoa(rp.Attempts)
	}
	return f
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func itoaNonZero(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func durText(d api.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

var memberKey = regexp.MustCompile(`^spec\.members\[(\d{1,5})\]\.(address|weight|zone|state)$`)

// parsePoolForm reads a posted form. Member rows are renumbered without
// the blank ones, so that row i is spec.members[i] of the object sent to
// the API and the API's error paths point at the right row.
func parsePoolForm(v url.Values) *poolForm {
	t := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	f := &poolForm{Name: t("metadata.name"), Protocol: t("spec.frontend.protocol"), Address: t("spec.frontend.address"),
		Port: t("spec.frontend.port"), Algorithm: t("spec.algorithm"), HashOn: t("spec.hashOn"),
		HCType: t("spec.healthCheck.type"), HCPath: t("spec.healthCheck.path"), HCInterval: t("spec.healthCheck.interval"),
		HCTimeout: t("spec.healthCheck.timeout"), HCRise: t("spec.healthCheck.rise"), HCFall: t("spec.healthCheck.fall"),
		Connect: t("spec.timeouts.connect"), Idle: t("spec.timeouts.idle"), Request: t("spec.timeouts.request"),
		Retries: t("spec.retries.attempts")}
	f.Revision, _ = strconv.ParseInt(t("revision"), 10, 64)
	rows := map[int]*memberField{}
	for k, vals := range v {
		m := memberKey.FindStringSubmatch(k)
		if m == nil || len(vals) == 0 {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		if i >= maxFormMembers {
			continue
		}
		row := rows[i]
		if row == nil {
			row = &memberField{}
			rows[i] = row
		}
		val := strings.TrimSpace(vals[0])
		switch m[2] {
		case "address":
			row.Address = val
		case "weight":
			row.Weight = val
		case "zone":
			row.Zone = val
		case "state":
			row.State = val
		}
	}
	idx := make([]int, 0, len(rows))
	for i := range rows {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		if r := rows[i]; r.Address != "" || r.Weight != "" || r.Zone != "" {
			f.Members = append(f.Members, *r)
		}
	}
	return f
}

// build makes the Pool the form describes, on top of base (the stored
// pool, redacted, for an edit: fields the form does not show are kept,
// and "<redacted>" keeps the stored secrets). Values that are not even
// numbers or durations are reported here, with the field's path; the API
// reports everything else.
func (f *poolForm) build(base *api.Pool) (*api.Pool, api.ErrorList) {
	p := &api.Pool{TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindPool}}
	if base != nil {
		p = api.Redact(base).(*api.Pool)
	}
	p.Status = nil
	p.Metadata.Name, p.Metadata.Revision = f.Name, f.Revision
	var errs api.ErrorList
	ref := api.KindPool + "/" + f.Name
	num := func(path, s string) int {
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, &api.FieldError{Ref: ref, Path: path, Reason: "must be a whole number"})
		}
		return n
	}
	dur := func(path, s string) api.Duration {
		var d api.Duration
		if s == "" {
			return 0
		}
		if err := json.Unmarshal([]byte(strconv.Quote(s)), &d); err != nil {
			errs = append(errs, &api.FieldError{Ref: ref, Path: path, Reason: "must be a duration such as 500ms, 2s or 1m"})
		}
		return d
	}
	if f.Name == "" {
		errs = append(errs, &api.FieldError{Ref: ref, Path: "metadata.name", Reason: "is required"})
	}
	if f.Protocol == "" {
		p.Spec.Frontend = nil
	} else {
		if p.Spec.Frontend == nil {
			p.Spec.Frontend = &api.Frontend{}
		}
		fe := p.Spec.Frontend
		fe.Protocol, fe.Address, fe.Port = f.Protocol, f.Address, num("spec.frontend.port", f.Port)
	}
	p.Spec.Algorithm, p.Spec.HashOn = f.Algorithm, f.HashOn
	p.Spec.Members = make([]api.Member, 0, len(f.Members))
	for i, m := range f.Members {
		path := "spec.members[" + strconv.Itoa(i) + "]"
		p.Spec.Members = append(p.Spec.Members, api.Member{Address: m.Address, Weight: num(path+".weight", m.Weight), Zone: m.Zone, State: m.State})
	}
	f.buildCheck(p, num, dur)
	if f.Connect != "" || f.Idle != "" || f.Request != "" || p.Spec.Timeouts != nil {
		if p.Spec.Timeouts == nil {
			p.Spec.Timeouts = &api.Timeouts{}
		}
		t := p.Spec.Timeouts
		t.Connect, t.Idle, t.Request = dur("spec.timeouts.connect", f.Connect), dur("spec.timeouts.idle", f.Idle), dur("spec.timeouts.request", f.Request)
	}
	if f.Retries != "" {
		if p.Spec.Retries == nil {
			p.Spec.Retries = &api.RetryPolicy{}
		}
		p.Spec.Retries.Attempts = num("spec.retries.attempts", f.Retries)
	}
	return p, errs
}

func (f *poolForm) buildCheck(p *api.Pool, num func(string, string) int, dur func(string, string) api.Duration) {
	if f.HCType == "" {
		p.Spec.HealthCheck = nil
		return
	}
	hc := p.Spec.HealthCheck
	if hc == nil || hc.Type != f.HCType {
		hc = &api.HealthCheck{} // another type: its settings do not carry over
	}
	hc.Type = f.HCType
	if f.HCType == api.CheckHTTP {
		hc.Path = f.HCPath
	}
	hc.Interval, hc.Timeout = dur("spec.healthCheck.interval", f.HCInterval), dur("spec.healthCheck.timeout", f.HCTimeout)
	hc.Rise, hc.Fall = num("spec.healthCheck.rise", f.HCRise), num("spec.healthCheck.fall", f.HCFall)
	p.Spec.HealthCheck = hc
}

var memberPort = regexp.MustCompile(`^(spec\.members\[\d+\])\.port$`)

// place puts each error next to the field its path names: the field
// itself, else (a member's port) the member's address, else the nearest
// enclosing field or group. Errors of other objects, or of the object as
// a whole, go to the summary. Errors on a field that already has one
// from the form's own checks are dropped as repeats.
func (f *poolForm) place(details []apiclient.Detail) {
	if f.Errors == nil {
		f.Errors = map[string][]string{}
	}
	fields := map[string]bool{}
	for _, p := range f.fields() {
		fields[p] = true
	}
	local := map[string]bool{}
	for p := range f.Errors {
		local[p] = true
	}
	for _, d := range details {
		if d.Ref != "" && !strings.HasPrefix(d.Ref, api.KindPool+"/") {
			f.Summary = append(f.Summary, d)
			continue
		}
		at, reason := nearestField(d.Path, fields), d.Reason
		if at == "" {
			f.Summary = append(f.Summary, d)
			continue
		}
		if local[at] {
			continue
		}
		if at != d.Path {
			reason = strings.TrimPrefix(d.Path, at+".") + ": " + reason
		}
		f.Errors[at] = append(f.Errors[at], reason)
	}
}

func nearestField(path string, fields map[string]bool) string {
	if m := memberPort.FindStringSubmatch(path); m != nil {
		return m[1] + ".address"
	}
	for p := path; p != ""; {
		if fields[p] {
			return p
		}
		if fields[p+".address"] { // spec.members[2] as a whole
			return p + ".address"
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return ""
}

func asAPIError(err error, target **apiclient.Error) bool { return errors.As(err, target) }

// detailsText joins details for a short message.
func detailsText(ds []apiclient.Detail) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, "; ")
}

func (c *Console) newPoolForm(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "poolform", "New pool", newPoolFormDefaults())
	return nil
}

func (c *Console) editPoolForm(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.view(r)
	if err != nil {
		return err
	}
	p := v.pool(r.PathValue("name"))
	if p == nil {
		return &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: "There is no pool " + strconv.Quote(r.PathValue("name")) + "."}
	}
	c.render(w, r, s, http.StatusOK, "poolform", "Edit pool "+p.Metadata.Name, formOf(p))
	return nil
}

// submitPoolForm previews (dry run with the diff) or saves the form,
// through the API; a refused form comes back with each error at its field.
func (c *Console) submitPoolForm(w http.ResponseWriter, r *http.Request, s *session) error {
	f := parsePoolForm(r.PostForm)
	v, err := c.view(r)
	if err != nil {
		return err
	}
	var base *api.Pool
	if name := r.PathValue("name"); name != "" {
		f.Name, f.Editing = name, true
		if base = v.pool(name); base == nil {
			return &apiclient.Error{Status: http.StatusNotFound, Code: apiclient.CodeNotFound, Message: "There is no pool " + strconv.Quote(name) + " any more."}
		}
	}
	p, local := f.build(base)
	if !f.Editing && f.Name != "" && v.pool(f.Name) != nil {
		local = append(local, &api.FieldError{Path: "metadata.name", Reason: "a pool with this name exists already: edit it instead"})
	}
	f.Errors = map[string][]string{}
	f.place(apiclient.DetailsOf(local))
	title := "New pool"
	if f.Editing {
		title = "Edit pool " + f.Name
	}
	cl := c.client(r, s)
	if len(local) > 0 || r.PostFormValue("action") == "preview" {
		res, err := cl.ApplyObjects(r.Context(), []api.Object{p}, apiclient.ApplyOptions{DryRun: true})
		if err := f.absorb(err); err != nil {
			return err
		}
		if f.ErrCount() == 0 {
			f.Changes, f.Previewed = res.Changes, true
		}
		c.render(w, r, s, formStatus, "poolform", title, f)
		return nil
	}
	o, err := cl.Put(r.Context(), p, apiclient.PutOptions{IfMatch: f.Revision})
	if err != nil {
		if err := f.absorb(err); err != nil {
			return err
		}
		c.render(w, r, s, formStatus, "poolform", title, f)
		return nil
	}
	rev := o.GetMetadata().Revision
	c.hub.waitFor(r.Context(), rev, 3*time.Second)
	http.Redirect(w, r, "/pools/"+url.PathEscape(f.Name)+"?rev="+strconv.FormatInt(rev, 10), http.StatusSeeOther)
	return nil
}

// absorb places the API's refusal on the form; errors the form cannot
// show (the store unavailable, a forbidden role) are returned.
func (f *poolForm) absorb(err error) error {
	var ae *apiclient.Error
	switch {
	case err == nil:
		return nil
	case !asAPIError(err, &ae):
		return err
	case ae.Code == apiclient.CodeInvalid || ae.Code == apiclient.CodeBadRequest:
		f.place(ae.Details)
		if len(ae.Details) == 0 {
			f.Summary = append(f.Summary, apiclient.Detail{Reason: ae.Message})
		}
		return nil
	case ae.Code == apiclient.CodeConflict || ae.Code == apiclient.CodePreconditionFailed:
		f.Summary = append(f.Summary, apiclient.Detail{Reason: "Someone changed this pool since the form was opened (" + ae.Message +
			"). Open the form again to start from the current pool."})
		return nil
	}
	return err
}

// formField is one labelled input or select of the form, for the
// "input" template.
type formField struct {
	Path, Label, Value, Type, Hint, Placeholder, Empty, Err string
	Options                                                 []string
}

// Input describes a text input of the form.
func (f *poolForm) Input(path, label, value, hint string) formField {
	return formField{Path: path, Label: label, Value: value, Type: "text", Hint: hint, Err: f.Err(path)}
}

// Select describes a select of the form; empty labels the "" option.
func (f *poolForm) Select(path, label, value, empty string, options []string) formField {
	return formField{Path: path, Label: label, Value: value, Empty: empty, Options: options, Err: f.Err(path)}
}

// Member returns the path of a member row's field.
func (f *poolForm) Member(i int, field string) string {
	return "spec.members[" + strconv.Itoa(i) + "]." + field
}
