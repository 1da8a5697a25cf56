package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/fulcrumlb/fulcrum/api"
)

// WriteObjects prints objects as multi-document YAML or as a JSON list, with
// secrets redacted.
func WriteObjects(w io.Writer, format string, objs []api.Object) error {
	red := make([]api.Object, len(objs))
	for i, o := range objs {
		red[i] = api.Redact(o)
	}
	switch format {
	case "yaml":
		for i, o := range red {
			if i > 0 {
				fmt.Fprintln(w, "---")
			}
			b, err := yaml.Marshal(o)
			if err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(red)
	}
	return fmt.Errorf("unknown output format %q: use yaml or json", format)
}
