package api

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// checkSchema walks a decoded JSON value (maps, slices, json.Number, string,
// bool, nil) against the Go type that will receive it, and reports every
// unknown field and every wrong type with its path. encoding/json stops at the
// first problem and matches field names case-insensitively; this walk finds
// them all and is exact. It returns the value with every bad part removed, so
// the rest of the document can still be decoded and validated and the user
// sees all of their mistakes at once. With strict false, unknown fields are
// allowed (Kubernetes objects carry many fields Fulcrum does not use).
func checkSchema(e errs, path string, v any, t reflect.Type, strict bool) (clean any, ok bool) {
	if v == nil {
		return nil, true // null means unset, for every field
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		raw, _ := json.Marshal(v)
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			e.add(path, "%s", err.Error())
			return nil, false
		}
		return v, true
	}
	switch t.Kind() {
	case reflect.Struct:
		return checkStruct(e, path, v, t, strict)
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			e.add(path, "must be a list, not %s", jsonKind(v))
			return nil, false
		}
		out := make([]any, len(list))
		for i, item := range list {
			out[i], _ = checkSchema(e, index(path, i), item, t.Elem(), strict)
		}
		return out, true
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			e.add(path, "must be an object, not %s", jsonKind(v))
			return nil, false
		}
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			if c, ok := checkSchema(e, key(path, k), m[k], t.Elem(), strict); ok {
				out[k] = c
			}
		}
		return out, true
	case reflect.String:
		if _, ok := v.(string); !ok {
			e.add(path, "must be a string, not %s%s", jsonKind(v), quoteHint(v))
			return nil, false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			e.add(path, "must be true or false, not %s", jsonKind(v))
			return nil, false
		}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32:
		return v, checkInteger(e, path, v, t)
	case reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			e.add(path, "must be a number, not %s", jsonKind(v))
			return nil, false
		}
	case reflect.Interface:
	default:
		panic(fmt.Sprintf("api: schema check of unsupported kind %s at %s", t.Kind(), path))
	}
	return v, true
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func checkStruct(e errs, path string, v any, t reflect.Type, strict bool) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		e.add(path, "must be an object, not %s", jsonKind(v))
		return nil, false
	}
	fields := fieldsOf(t)
	out := make(map[string]any, len(m))
	for _, k := range sortedKeys(m) {
		f, ok := fields[k]
		if !ok {
			if strict {
				e.add(child(path, k), "unknown field%s", suggest(k, fields))
			}
			continue
		}
		c, ok := checkSchema(e, child(path, k), m[k], f.Type, strict)
		if ok && f.Tag.Get("fulcrum") == "nonzero" && isZeroValue(c, f.Type) {
			e.add(child(path, k), "must not be 0: leave it out to get the default")
			ok = false
		}
		if ok {
			out[k] = c
		}
	}
	return out, true
}

// isZeroValue reports whether a (type-checked) JSON value decodes to the
// zero value. Fields whose zero value means "use the default" are tagged
// `fulcrum:"nonzero"`: writing 0 explicitly is then a mistake worth
// reporting, not a request for the default.
func isZeroValue(v any, t reflect.Type) bool {
	if v == nil {
		return false
	}
	raw, _ := json.Marshal(v)
	p := reflect.New(t)
	if err := json.Unmarshal(raw, p.Interface()); err != nil {
		return false
	}
	return p.Elem().IsZero()
}

func checkInteger(e errs, path string, v any, t reflect.Type) bool {
	n, ok := v.(json.Number)
	if !ok {
		e.add(path, "must be an integer, not %s%s", jsonKind(v), quoteHint(v))
		return false
	}
	i, err := n.Int64()
	if err != nil {
		e.add(path, "must be an integer, not %s", n.String())
		return false
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	switch t.Kind() {
	case reflect.Int32:
		lo, hi = math.MinInt32, math.MaxInt32
	case reflect.Uint32:
		lo, hi = 0, math.MaxUint32
	}
	if i < lo || i > hi {
		e.add(path, "%d is out of range", i)
		return false
	}
	return true
}

// fieldsOf maps JSON names to fields, with inlined embedded structs.
func fieldsOf(t reflect.Type) map[string]reflect.StructField {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.StructField)
	}
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) && f.Type.Kind() == reflect.Struct {
			for k, v := range fieldsOf(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	fieldCache.Store(t, out)
	return out
}

var fieldCache sync.Map

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// quoteHint explains YAML's surprising scalars, such as `on` being a boolean.
func quoteHint(v any) string {
	switch x := v.(type) {
	case bool:
		return fmt.Sprintf(" (%v: quote it if you meant a string)", x)
	case json.Number:
		return fmt.Sprintf(" (%s: quote it if you meant a string)", x)
	case string:
		return fmt.Sprintf(" (%q)", x)
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest proposes a known field close to a misspelt one.
func suggest(k string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(strings.ToLower(k), strings.ToLower(name)); d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
