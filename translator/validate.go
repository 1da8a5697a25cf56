package translator

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// validator is implemented by every message protoc-gen-validate generated.
type validator interface {
	ValidateAll() error
}

// Validate checks every resource against its protoc-gen-validate rules,
// and, since those rules stop at google.protobuf.Any, every typed config
// packed inside, recursively. It returns every failure, joined.
func (r *Resources) Validate() error {
	var errs []error
	check := func(kind, name string, m proto.Message) {
		if err := ValidateMessage(m); err != nil {
			errs = append(errs, fmt.Errorf("translator: %s %q: %w", kind, name, err))
		}
	}
	for _, x := range r.Listeners {
		check("Listener", x.GetName(), x)
	}
	for _, x := range r.Routes {
		check("RouteConfiguration", x.GetName(), x)
	}
	for _, x := range r.Clusters {
		check("Cluster", x.GetName(), x)
	}
	for _, x := range r.Endpoints {
		check("ClusterLoadAssignment", x.GetClusterName(), x)
	}
	return errors.Join(errs...)
}

// ValidateMessage runs ValidateAll on m and on every message packed in an
// Any anywhere inside it. An Any whose type is not linked into the binary is
// an error: Envoy would refuse it too.
func ValidateMessage(m proto.Message) error {
	var errs []error
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, err)
		}
	}
	walkAnys(m.ProtoReflect(), func(a *anypb.Any) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.GetTypeUrl(), err))
			return
		}
		if err := ValidateMessage(inner); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.GetTypeUrl(), err))
		}
	})
	return errors.Join(errs...)
}

// walkAnys calls f for every Any directly or indirectly inside m, but not
// inside those Anys (f recurses itself).
func walkAnys(m protoreflect.Message, f func(*anypb.Any)) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		f(a)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkAnys(l.Get(i).Message(), f)
			}
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				walkAnys(mv.Message(), f)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			walkAnys(v.Message(), f)
		}
		return true
	})
}
