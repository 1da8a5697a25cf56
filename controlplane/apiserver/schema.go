package apiserver

import (
	"reflect"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/api"
)

// schemas builds OpenAPI schemas from the Go types the API encodes, so the
// document describes exactly what the JSON encoder writes. Named structs
// become components; everything else is inlined.
type schemas struct {
	defs map[string]any
}

var (
	durationType = reflect.TypeFor[api.Duration]()
	byteSizeType = reflect.TypeFor[api.ByteSize]()
	timeType     = reflect.TypeFor[time.Time]()
	intOrString  = reflect.TypeFor[api.IntOrString]()
	objectType   = reflect.TypeFor[api.Object]()
	apiPkg       = reflect.TypeFor[api.Pool]().PkgPath()
)

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// add registers a named type's schema and returns a reference to it.
func (s *schemas) add(name string, t reflect.Type) map[string]any {
	if _, ok := s.defs[name]; !ok {
		s.defs[name] = nil // reserve: recursive types refer to themselves
		s.defs[name] = s.structSchema(t)
	}
	return ref(name)
}

// of returns the schema of a type.
func (s *schemas) of(t reflect.Type) any {
	switch t {
	case durationType:
		return map[string]any{"type": "string", "description": "a duration such as 1.5s, 500ms or 2m", "example": "2s"}
	case byteSizeType:
		return map[string]any{"type": "string", "description": "a size such as 64KiB or 1MiB", "example": "1MiB"}
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case intOrString:
		return map[string]any{"oneOf": []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}}
	case objectType:
		return map[string]any{"oneOf": []any{ref(api.KindPool), ref(api.KindListener), ref(api.KindRoute)},
			"discriminator": map[string]any{"propertyName": "kind"}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return s.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		if t.Name() != "" {
			return s.add(t.Name(), t)
		}
		return s.structSchema(t)
	}
	return map[string]any{}
}

// structSchema lists a struct's JSON fields; embedded structs without a
// JSON name are flattened, as encoding/json does. Configuration types are
// closed (the decoder rejects unknown fields); answers are left open.
func (s *schemas) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	s.fields(t, props, &required)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	if t.PkgPath() == apiPkg {
		out["additionalProperties"] = false
	}
	return out
}

func (s *schemas) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			s.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = s.of(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}
