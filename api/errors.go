package api

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Source says where an object came from: a file (or "-" for standard input,
// or "request" for an API body) and its 1-based document number.
type Source struct {
	File     string
	Document int
}

// FieldError is one problem with one field of one object.
type FieldError struct {
	Source Source
	// Ref is "Kind/name" of the object, or empty when the document has no kind.
	Ref string
	// Path is the JSON path of the field, e.g. "spec.members[2].port".
	Path string
	// Reason says what is wrong, in words a person can act on.
	Reason string
	// Warning marks advice that does not make the configuration invalid.
	Warning bool
}

// Error formats the error as "FILE: document N: Kind/name: field.path: reason",
// leaving out the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Source.File != "" {
		b.WriteString(e.Source.File)
		b.WriteString(": ")
	}
	if e.Source.Document > 0 {
		b.WriteString("document ")
		b.WriteString(strconv.Itoa(e.Source.Document))
		b.WriteString(": ")
	}
	if e.Ref != "" {
		b.WriteString(e.Ref)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// ErrorList collects every error found, not only the first.
type ErrorList []*FieldError

// Error joins the errors, one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Split separates warnings from errors.
func (l ErrorList) Split() (errors, warnings ErrorList) {
	for _, e := range l {
		if e.Warning {
			warnings = append(warnings, e)
		} else {
			errors = append(errors, e)
		}
	}
	return errors, warnings
}

// Err returns nil for an empty list, so callers can `return list.Err()`.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Sort orders errors by file, document, object and path, so output is
// stable, and drops exact repeats.
func (l *ErrorList) Sort() {
	l.sort()
	out := (*l)[:0]
	for i, e := range *l {
		if i > 0 && *e == *(*l)[i-1] {
			continue
		}
		out = append(out, e)
	}
	*l = out
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Source.File != b.Source.File {
			return a.Source.File < b.Source.File
		}
		if a.Source.Document != b.Source.Document {
			return a.Source.Document < b.Source.Document
		}
		if a.Ref != b.Ref {
			return a.Ref < b.Ref
		}
		return a.Path < b.Path
	})
}

// errs accumulates the errors of one object: it knows the object's source and
// reference so checks only give the path and the reason.
type errs struct {
	src  Source
	ref  string
	list *ErrorList
}

func (e errs) add(path, format string, args ...any) {
	*e.list = append(*e.list, &FieldError{Source: e.src, Ref: e.ref, Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (e errs) warn(path, format string, args ...any) {
	*e.list = append(*e.list, &FieldError{Source: e.src, Ref: e.ref, Path: path, Reason: fmt.Sprintf(format, args...), Warning: true})
}

// child and index build JSON paths.
func child(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func key(path, k string) string {
	if isIdentifier(k) {
		return child(path, k)
	}
	return path + "[" + strconv.Quote(k) + "]"
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
