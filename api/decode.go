package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// InputLimits guard the decoder against hostile input.
type InputLimits struct {
	// MaxFileBytes bounds one input file.
	MaxFileBytes int
	// MaxDocumentBytes bounds one YAML or JSON document, before and after
	// alias expansion.
	MaxDocumentBytes int
	// MaxObjects bounds the objects in one input set.
	MaxObjects int
}

// DefaultLimits are generous for real configurations and small enough that a
// hostile file cannot exhaust memory.
var DefaultLimits = InputLimits{MaxFileBytes: 16 << 20, MaxDocumentBytes: 1 << 20, MaxObjects: 10000}

// Document is one decoded document: a Fulcrum object or a Kubernetes object.
type Document struct {
	Source Source
	// Object is set for Fulcrum kinds.
	Object Object
	// Kube is set for Kubernetes Service and Endpoints.
	Kube KubeObject
	// BadPaths are the fields that failed decoding and were left out; later
	// errors about these fields (or inside them) would only repeat the news.
	BadPaths []string
}

// Decode splits a file into documents (YAML separated by "---", or JSON: one
// object, an array of objects, or a stream of them) and decodes each strictly.
// It returns every document and every error it found. A document with field
// errors is still returned, without the bad fields, so that validation can
// find the rest of its mistakes.
func Decode(file string, data []byte, lim InputLimits) ([]Document, ErrorList) {
	var list ErrorList
	top := errs{src: Source{File: file}, list: &list}
	if len(data) > lim.MaxFileBytes {
		top.add("", "file is %d bytes; the limit is %d", len(data), lim.MaxFileBytes)
		return nil, list
	}
	raws, err := splitDocuments(data)
	if err != nil {
		top.add("", "%v", err)
		return nil, list
	}
	var docs []Document
	for i, raw := range raws {
		src := Source{File: file, Document: i + 1}
		docs = append(docs, decodeDocument(src, raw, lim, &list)...)
	}
	return docs, list
}

// rawDoc is one document's text and whether it is JSON.
type rawDoc struct {
	text   []byte
	isJSON bool
}

// splitDocuments cuts YAML at document markers and JSON at value boundaries.
// Empty documents (only blanks and comments) are dropped and not numbered.
func splitDocuments(data []byte) ([]rawDoc, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return splitJSON(trimmed)
	}
	var docs []rawDoc
	var cur bytes.Buffer
	flush := func() {
		if !isBlankYAML(cur.Bytes()) {
			docs = append(docs, rawDoc{text: bytes.Clone(cur.Bytes())})
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	for sc.Scan() {
		line := sc.Bytes()
		if isDocumentMarker(line) {
			flush()
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				cur.Write(rest) // "--- {a: 1}" starts a document inline
				cur.WriteByte('\n')
			}
			continue
		}
		if bytes.Equal(bytes.TrimRight(line, " \t\r"), []byte("...")) {
			flush()
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading documents: %w", err)
	}
	flush()
	return docs, nil
}

func isDocumentMarker(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r'
}

func isBlankYAML(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' && t[0] != '%' {
			return false
		}
	}
	return true
}

// splitJSON reads a stream of JSON values; an array contributes one document
// per element.
func splitJSON(data []byte) ([]rawDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []rawDoc
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return docs, nil
		} else if err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		if v[0] != '[' {
			docs = append(docs, rawDoc{text: v, isJSON: true})
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		for _, it := range items {
			docs = append(docs, rawDoc{text: it, isJSON: true})
		}
	}
}

// decodeDocument turns one document into zero or more Documents (a
// Kubernetes List holds several).
func decodeDocument(src Source, raw rawDoc, lim InputLimits, list *ErrorList) []Document {
	e := errs{src: src, list: list}
	if len(raw.text) > lim.MaxDocumentBytes {
		e.add("", "document is %d bytes; the limit is %d", len(raw.text), lim.MaxDocumentBytes)
		return nil
	}
	var v any
	var err error
	if raw.isJSON {
		if err = checkDuplicateKeys(raw.text); err == nil {
			dec := json.NewDecoder(bytes.NewReader(raw.text))
			dec.UseNumber()
			err = dec.Decode(&v)
		}
		if err != nil {
			e.add("", "invalid JSON: %v", err)
			return nil
		}
	} else if v, err = yamlToValue(raw.text, lim.MaxDocumentBytes/8); err != nil {
		e.add("", "invalid YAML: %v", err)
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		e.add("", "a document must be an object with apiVersion, kind, metadata and spec, not %s", jsonKind(v))
		return nil
	}
	return decodeObject(e, "", m)
}

func decodeObject(e errs, path string, m map[string]any) []Document {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	e.ref = refOf(kind, m)
	if kind == "" {
		e.add(child(path, "kind"), "required: one of Pool, Listener, Route (apiVersion %s) or Service, Endpoints (apiVersion v1)", APIVersion)
		return nil
	}
	typ, strict, err := typeFor(apiVersion, kind)
	if err != nil {
		e.add(child(path, err.field), "%s", err.reason)
		return nil
	}
	if kind == "List" {
		items, ok := m["items"].([]any)
		if !ok {
			e.add(child(path, "items"), "must be a list of objects")
			return nil
		}
		var docs []Document
		for i, it := range items {
			im, ok := it.(map[string]any)
			if !ok {
				e.add(index(child(path, "items"), i), "must be an object, not %s", jsonKind(it))
				continue
			}
			docs = append(docs, decodeObject(errs{src: e.src, list: e.list}, index(child(path, "items"), i), im)...)
		}
		return docs
	}
	before := len(*e.list)
	clean, _ := checkSchema(e, path, m, typ, strict)
	doc := Document{Source: e.src}
	for _, fe := range (*e.list)[before:] {
		doc.BadPaths = append(doc.BadPaths, strings.TrimPrefix(strings.TrimPrefix(fe.Path, path), "."))
	}
	js, _ := json.Marshal(clean)
	ptr := reflect.New(typ)
	if err := json.Unmarshal(js, ptr.Interface()); err != nil {
		e.add(path, "%v", err) // unreachable when checkSchema is complete; kept as a safety net
		return nil
	}
	switch o := ptr.Interface().(type) {
	case Object:
		doc.Object = o
	case KubeObject:
		doc.Kube = o
	}
	return []Document{doc}
}

type typeError struct{ field, reason string }

func typeFor(apiVersion, kind string) (reflect.Type, bool, *typeError) {
	switch apiVersion {
	case APIVersion:
		switch kind {
		case KindPool:
			return reflect.TypeFor[Pool](), true, nil
		case KindListener:
			return reflect.TypeFor[Listener](), true, nil
		case KindRoute:
			return reflect.TypeFor[Route](), true, nil
		}
		return nil, false, &typeError{"kind", fmt.Sprintf("unknown kind %q for apiVersion %s: expected Pool, Listener or Route", kind, APIVersion)}
	case "v1":
		switch kind {
		case "Service":
			return reflect.TypeFor[KubeService](), false, nil
		case "Endpoints":
			return reflect.TypeFor[KubeEndpoints](), false, nil
		case "List":
			return nil, false, nil
		}
		return nil, false, &typeError{"kind", fmt.Sprintf("unsupported Kubernetes kind %q: Fulcrum imports v1 Service and v1 Endpoints", kind)}
	case "":
		return nil, false, &typeError{"apiVersion", fmt.Sprintf("required: %s (or v1 for Kubernetes Service and Endpoints)", APIVersion)}
	}
	return nil, false, &typeError{"apiVersion", fmt.Sprintf("unknown apiVersion %q: expected %s or v1", apiVersion, APIVersion)}
}

func refOf(kind string, m map[string]any) string {
	if kind == "" {
		return ""
	}
	name := "(no name)"
	if md, ok := m["metadata"].(map[string]any); ok {
		if n, ok := md["name"].(string); ok && n != "" {
			name = n
		}
	}
	return kind + "/" + name
}

// checkDuplicateKeys rejects JSON objects that repeat a key: encoding/json
// silently keeps the last, and a reviewer reading the first would be misled.
func checkDuplicateKeys(js []byte) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: t == '{', keys: map[string]bool{}, key: true})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.key {
				if top.keys[t] {
					return errors.New("duplicate key " + fmt.Sprintf("%q", t))
				}
				top.keys[t] = true
				top.key = false
				continue
			}
			if top != nil && top.obj {
				top.key = true
			}
		default:
			if top != nil && top.obj {
				top.key = true
			}
		}
	}
}
