package api

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
)

// ValidateOptions tune validation.
type ValidateOptions struct {
	// CheckFiles reads certificate, key and CA files named by the
	// configuration and checks them; the control plane, which receives
	// inline PEM, leaves it off.
	CheckFiles bool
	// Limits bound the input; zero means DefaultLimits.
	Limits InputLimits
}

func (o ValidateOptions) limits() InputLimits {
	if o.Limits == (InputLimits{}) {
		return DefaultLimits
	}
	return o.Limits
}

// Input is one named file (or "-" for standard input, or "request").
type Input struct {
	Name string
	Data []byte
}

// Loaded is the result of Load: the configuration, where each object came
// from, the objects in the order the files gave them, and warnings.
type Loaded struct {
	Config   *Config
	Sources  map[Object]Source
	Objects  []Object
	Warnings ErrorList
}

// Load decodes every input, turns Kubernetes Service + Endpoints pairs into
// Pools, applies defaults, and validates the whole set, collecting every
// error. The configuration is returned only when there is no error.
func Load(inputs []Input, opt ValidateOptions) (*Loaded, ErrorList) {
	dec, list := DecodeInputs(inputs, opt)
	out := &Loaded{Config: &Config{}, Sources: dec.Sources, Objects: dec.Objects}
	for _, o := range dec.Objects {
		out.Config.Add(o)
	}
	if len(out.Objects) == 0 && len(list) == 0 {
		list = append(list, &FieldError{Source: Source{File: inputNames(inputs)}, Reason: "no objects found: expected YAML or JSON documents with apiVersion, kind, metadata and spec"})
	}
	SetDefaults(out.Config)
	list = append(list, DropRepeats(validate(out.Config, out.Sources, opt), dec.BadPaths)...)
	list.Sort()
	list, out.Warnings = list.Split()
	if len(list) > 0 {
		return nil, list
	}
	out.Config.Sort()
	return out, nil
}

// Decoded is what DecodeInputs found.
type Decoded struct {
	// Objects in the order the inputs gave them, Kubernetes pairs last.
	Objects []Object
	// Sources says where each object came from.
	Sources map[Object]Source
	// BadPaths lists, per object, the fields that failed decoding and were
	// left out (see DropRepeats).
	BadPaths map[Object][]string
}

// DecodeInputs decodes every input strictly and turns Kubernetes Service +
// Endpoints pairs into Pools, without defaults or validation: for callers
// that validate the objects together with others, as the control plane
// validates an apply against the stored configuration. It returns every
// decoding error; an object with bad fields is kept without them.
func DecodeInputs(inputs []Input, opt ValidateOptions) (*Decoded, ErrorList) {
	var list ErrorList
	var docs []Document
	for _, in := range inputs {
		d, errs := Decode(in.Name, in.Data, opt.limits())
		if in.Name != "" && in.Name != "-" && in.Name != "request" {
			absolutizeFiles(d, filepath.Dir(in.Name))
		}
		docs = append(docs, d...)
		list = append(list, errs...)
	}
	docs = append(docs, convertKube(docs, &list)...)
	out := &Decoded{Sources: map[Object]Source{}, BadPaths: map[Object][]string{}}
	for _, d := range docs {
		if d.Object != nil {
			out.Objects = append(out.Objects, d.Object)
			out.Sources[d.Object] = d.Source
			out.BadPaths[d.Object] = d.BadPaths
		}
	}
	return out, list
}

// Validate checks a whole configuration: every object on its own, then the
// references between them and the frontends they claim. Objects missing from
// sources are reported by reference only. It returns errors and warnings
// separately.
func Validate(c *Config, sources map[Object]Source, opt ValidateOptions) (errors, warnings ErrorList) {
	list := validate(c, sources, opt)
	list.Sort()
	return list.Split()
}

// DropRepeats removes validation errors about fields that already failed
// decoding: "address: required" after "address: must be a string" says
// nothing new.
func DropRepeats(list ErrorList, bad map[Object][]string) ErrorList {
	badByRef := map[string][]string{}
	for o, paths := range bad {
		badByRef[Ref(o)] = append(badByRef[Ref(o)], paths...)
	}
	out := list[:0]
	for _, e := range list {
		if !underAny(e.Path, badByRef[e.Ref]) {
			out = append(out, e)
		}
	}
	return out
}

func underAny(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

func validate(c *Config, sources map[Object]Source, opt ValidateOptions) ErrorList {
	var list ErrorList
	errsOf := func(o Object) errs {
		return errs{src: sources[o], ref: Ref(o), list: &list}
	}
	if n := len(c.Pools) + len(c.Listeners) + len(c.Routes); n > opt.limits().MaxObjects {
		list = append(list, &FieldError{Reason: fmt.Sprintf("%d objects; the limit is %d", n, opt.limits().MaxObjects)})
		return list
	}
	checkDuplicates(c, sources, &list)
	for _, p := range c.Pools {
		validatePool(errsOf(p), p, opt)
		validatePoolFiles(errsOf(p), p, opt)
	}
	for _, l := range c.Listeners {
		e := errsOf(l)
		validateListener(e, l, opt)
		if name := l.Spec.DefaultPool; name != "" {
			checkPoolRef(e, "spec.defaultPool", name, c)
		}
	}
	for _, r := range c.Routes {
		e := errsOf(r)
		proto := ""
		if l := c.Listener(r.Spec.Listener); l != nil {
			proto = l.Spec.Protocol
		} else if r.Spec.Listener != "" {
			e.add("spec.listener", "unknown Listener %q", r.Spec.Listener)
		}
		validateRoute(e, r, proto)
		for i, b := range r.Spec.Backends {
			checkPoolRef(e, index("spec.backends", i)+".pool", b.Pool, c)
		}
		if r.Spec.Mirror != nil {
			checkPoolRef(e, "spec.mirror.pool", r.Spec.Mirror.Pool, c)
		}
	}
	checkFrontendConflicts(c, errsOf)
	checkSNIListeners(c, errsOf)
	return list
}

// checkSNIListeners makes sure every tls (passthrough) listener has
// somewhere to send connections, and that no SNI name is claimed twice: the
// proxy could only pick one of the routes, silently.
func checkSNIListeners(c *Config, errsOf func(Object) errs) {
	for _, l := range c.Listeners {
		if l.Spec.Protocol != ProtocolTLS {
			continue
		}
		owner := map[string]string{}
		routes := 0
		for _, r := range c.Routes {
			if r.Spec.Listener != l.Metadata.Name {
				continue
			}
			routes++
			for i, h := range r.Spec.Hosts {
				h = strings.ToLower(h)
				if prev, dup := owner[h]; dup {
					errsOf(r).add(index("spec.hosts", i), "%s is already routed by Route/%s on this listener", h, prev)
					continue
				}
				owner[h] = r.Metadata.Name
			}
		}
		if routes == 0 && l.Spec.DefaultPool == "" {
			errsOf(l).add("spec.defaultPool", "a tls listener needs routes or a defaultPool")
		}
	}
}

func checkPoolRef(e errs, path, name string, c *Config) {
	if name == "" || c.Pool(name) != nil {
		return
	}
	e.add(path, "unknown Pool %q", name)
}

func checkDuplicates(c *Config, sources map[Object]Source, list *ErrorList) {
	seen := map[string]Object{}
	for _, o := range c.Objects() {
		ref := Ref(o)
		if first, dup := seen[ref]; dup {
			where := "another object"
			if s, ok := sources[first]; ok {
				where = fmt.Sprintf("%s document %d", s.File, s.Document)
			}
			*list = append(*list, &FieldError{Source: sources[o], Ref: ref, Path: "metadata.name",
				Reason: fmt.Sprintf("duplicate name: %s is also defined in %s", ref, where)})
			continue
		}
		seen[ref] = o
	}
}

// checkFrontendConflicts rejects two frontends on one address and port of
// the same transport; a wildcard address conflicts with every address of
// its family. Frontends whose address or port is still to be allocated
// cannot conflict yet.
func checkFrontendConflicts(c *Config, errsOf func(Object) errs) {
	type claim struct {
		owner Object
		path  string
		addr  netip.Addr
		port  int
		udp   bool
	}
	var claims []claim
	add := func(o Object, path string, f *Frontend) {
		a, err := netip.ParseAddr(f.Address)
		if err != nil || f.Port == 0 || f.Protocol == "" {
			return
		}
		claims = append(claims, claim{o, path, a, f.Port, f.Protocol == ProtocolUDP})
	}
	for _, p := range c.Pools {
		if p.Spec.Frontend != nil {
			add(p, "spec.frontend", p.Spec.Frontend)
		}
	}
	for _, l := range c.Listeners {
		add(l, "spec", &l.Spec.Frontend)
	}
	for i, a := range claims {
		for _, b := range claims[:i] {
			if a.port != b.port || a.udp != b.udp || a.addr.Is4() != b.addr.Is4() {
				continue
			}
			if a.addr == b.addr || a.addr.IsUnspecified() || b.addr.IsUnspecified() {
				errsOf(a.owner).add(a.path+".port", "%s port %d is already taken by %s", a.addr, a.port, Ref(b.owner))
				break
			}
		}
	}
}

func validatePoolFiles(e errs, p *Pool, opt ValidateOptions) {
	if u := p.Spec.Upstream; u != nil && u.TLS != nil {
		validateCAFile(e, "spec.upstream.tls.caFile", u.TLS.CAFile, opt)
	}
	if hc := p.Spec.HealthCheck; hc != nil && hc.TLS != nil {
		validateCAFile(e, "spec.healthCheck.tls.caFile", hc.TLS.CAFile, opt)
	}
}

// absolutizeFiles makes file names in objects relative to the configuration
// file's directory absolute, so every later stage (and every data plane
// process) reads the same file whatever its working directory.
func absolutizeFiles(docs []Document, dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			if d, err := filepath.Abs(dir); err == nil {
				*p = filepath.Join(d, *p)
			}
		}
	}
	for _, d := range docs {
		var fe *Frontend
		switch o := d.Object.(type) {
		case *Pool:
			fe = o.Spec.Frontend
			if u := o.Spec.Upstream; u != nil && u.TLS != nil {
				abs(&u.TLS.CAFile)
			}
			if hc := o.Spec.HealthCheck; hc != nil && hc.TLS != nil {
				abs(&hc.TLS.CAFile)
			}
		case *Listener:
			fe = &o.Spec.Frontend
		}
		if fe != nil && fe.TLS != nil {
			for i := range fe.TLS.Certificates {
				abs(&fe.TLS.Certificates[i].CertFile)
				abs(&fe.TLS.Certificates[i].KeyFile)
			}
		}
	}
}

// ReadInputs reads files by name; "-" is stdin.
func ReadInputs(names []string, stdin io.Reader) ([]Input, error) {
	var out []Input
	for _, n := range names {
		var data []byte
		var err error
		if n == "-" {
			data, err = readLimited(stdin, DefaultLimits.MaxFileBytes)
		} else {
			data, err = readFileLimited(n, DefaultLimits.MaxFileBytes)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Input{Name: n, Data: data})
	}
	return out, nil
}

func inputNames(inputs []Input) string {
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	return strings.Join(names, ", ")
}
