// Package api defines Fulcrum's resources (Pool, Listener, Route), their
// strict decoding from YAML and JSON, validation with field paths, explicit
// defaults, and the import of Kubernetes Service + Endpoints pairs.
//
// Every resource has the Kubernetes shape: apiVersion, kind, metadata, spec
// and a read-only status. One set of Go structs serves YAML and JSON: YAML is
// converted to JSON first (sigs.k8s.io/yaml), so the json tags are the schema.
package api

import (
	"fmt"
	"slices"
	"sort"
)

// APIVersion is the apiVersion of every Fulcrum resource.
const APIVersion = "fulcrum/v1"

// The kinds of Fulcrum resources.
const (
	KindPool     = "Pool"
	KindListener = "Listener"
	KindRoute    = "Route"
)

// Kinds lists the Fulcrum kinds in the order in which they are applied and
// printed: pools first, because listeners' routes refer to them.
var Kinds = []string{KindPool, KindListener, KindRoute}

// TypeMeta names the schema of a document.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Metadata identifies an object. Revision and the Updated* fields are
// maintained by the control plane and ignored when a file is applied, except
// that a non-zero Revision given to the API is a precondition (like an
// If-Match header): the write fails if the stored object has moved on.
type Metadata struct {
	// Name identifies the object among its kind: lower-case letters, digits, '-' and '.'.
	Name string `json:"name"`
	// Labels are free-form key/value pairs for selecting and grouping objects.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations carry free-form notes and tool data; they change nothing.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Revision is the revision of the object's last change.
	Revision int64 `json:"revision,omitempty"`
	// CreatedAt is when the object was created (RFC 3339).
	CreatedAt string `json:"createdAt,omitempty"`
	// UpdatedAt is when the object last changed (RFC 3339).
	UpdatedAt string `json:"updatedAt,omitempty"`
	// UpdatedBy is the token name that made the last change.
	UpdatedBy string `json:"updatedBy,omitempty"`
}

// Object is implemented by every Fulcrum resource.
type Object interface {
	// GetKind returns Pool, Listener or Route.
	GetKind() string
	// GetMetadata returns the object's metadata for reading and writing.
	GetMetadata() *Metadata
	// DeepCopyObject returns an independent copy.
	DeepCopyObject() Object
}

// Ref is a "Kind/name" reference used in errors, history and the CLI.
func Ref(o Object) string { return o.GetKind() + "/" + o.GetMetadata().Name }

// Config is a consistent set of resources: what a file describes, what the
// store holds, and what the translator turns into xDS.
type Config struct {
	Pools     []*Pool
	Listeners []*Listener
	Routes    []*Route
}

// Objects returns every object in apply order (pools, listeners, routes),
// each kind sorted by name so output is deterministic. The Config itself is
// not reordered.
func (c *Config) Objects() []Object {
	sorted := &Config{Pools: slices.Clone(c.Pools), Listeners: slices.Clone(c.Listeners), Routes: slices.Clone(c.Routes)}
	sorted.Sort()
	out := make([]Object, 0, len(c.Pools)+len(c.Listeners)+len(c.Routes))
	for _, p := range sorted.Pools {
		out = append(out, p)
	}
	for _, l := range sorted.Listeners {
		out = append(out, l)
	}
	for _, r := range sorted.Routes {
		out = append(out, r)
	}
	return out
}

// Add appends an object of any Fulcrum kind.
func (c *Config) Add(o Object) {
	switch v := o.(type) {
	case *Pool:
		c.Pools = append(c.Pools, v)
	case *Listener:
		c.Listeners = append(c.Listeners, v)
	case *Route:
		c.Routes = append(c.Routes, v)
	default:
		panic(fmt.Sprintf("api: Config.Add of unknown object type %T", o))
	}
}

// Sort orders every kind by name.
func (c *Config) Sort() {
	sort.Slice(c.Pools, func(i, j int) bool { return c.Pools[i].Metadata.Name < c.Pools[j].Metadata.Name })
	sort.Slice(c.Listeners, func(i, j int) bool { return c.Listeners[i].Metadata.Name < c.Listeners[j].Metadata.Name })
	sort.Slice(c.Routes, func(i, j int) bool { return c.Routes[i].Metadata.Name < c.Routes[j].Metadata.Name })
}

// Pool returns the pool with the given name, or nil.
func (c *Config) Pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Metadata.Name == name {
			return p
		}
	}
	return nil
}

// Listener returns the listener with the given name, or nil.
func (c *Config) Listener(name string) *Listener {
	for _, l := range c.Listeners {
		if l.Metadata.Name == name {
			return l
		}
	}
	return nil
}

// DeepCopy returns an independent copy of the whole configuration.
func (c *Config) DeepCopy() *Config {
	out := &Config{}
	for _, o := range c.Objects() {
		out.Add(o.DeepCopyObject())
	}
	return out
}
