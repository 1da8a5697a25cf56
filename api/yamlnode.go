package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// yamlToValue parses one YAML document into the generic values that JSON
// decoding produces (map[string]any, []any, json.Number, string, bool, nil).
//
// It walks the node tree itself instead of letting the YAML library build
// Go values, for three reasons: scalars follow YAML 1.2 (so `on`, `yes` and
// `no` stay strings — the retries field is literally named `on`); every node
// produced counts against a budget, so an alias bomb ("billion laughs") is
// stopped after maxNodes nodes instead of expanding in memory; and duplicate
// keys are reported with their line numbers.
func yamlToValue(text []byte, maxNodes int) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 {
		return nil, nil
	}
	c := &nodeConverter{budget: maxNodes}
	return c.convert(&doc, 0)
}

type nodeConverter struct {
	budget int
}

var errAliasBomb = errors.New("document expands to too many values (an alias bomb?)")

const maxDepth = 256

func (c *nodeConverter) convert(n *yaml.Node, depth int) (any, error) {
	c.budget--
	if c.budget < 0 {
		return nil, errAliasBomb
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested more than %d levels deep", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func (c *nodeConverter) mapping(n *yaml.Node, depth int) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: mapping keys must be plain strings", k.Line)
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			merges = append(merges, vn)
			continue
		}
		if prev, dup := lines[k.Value]; dup {
			return nil, fmt.Errorf("line %d: key %q already defined at line %d", k.Line, k.Value, prev)
		}
		v, err := c.convert(vn, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
		lines[k.Value] = k.Line
	}
	// Merge keys (<<: *base) fill in only what the mapping does not set.
	for _, m := range merges {
		v, err := c.convert(m, depth+1)
		if err != nil {
			return nil, err
		}
		srcs, ok := v.([]any)
		if !ok {
			srcs = []any{v}
		}
		for _, s := range srcs {
			sm, ok := s.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("line %d: << must merge a mapping", m.Line)
			}
			for k, v := range sm {
				if _, set := out[k]; !set {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

// scalarValue resolves a scalar by its (YAML 1.2 core schema) tag.
func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: %q is not an integer that fits in 64 bits", n.Line, n.Value)
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("line %d: %q is not a finite number", n.Line, n.Value)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.Tag)
}
