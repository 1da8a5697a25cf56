package api

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fence matches a fenced code block whose info string starts with yaml; the
// rest of the info string may say "invalid" for examples of mistakes.
var fence = regexp.MustCompile("(?ms)^```yaml([^\\n]*)\\n(.*?)^```")

// TestDocumentationExamples decodes and validates every YAML example in the
// README, docs/ and the product design: a documented example that does not
// validate is a bug in the docs or in the code. Blocks fenced as
// "```yaml invalid" must be rejected instead.
func TestDocumentationExamples(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md", "../../shared/design/product.md")
	checked := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if os.IsNotExist(err) && strings.Contains(file, "shared") {
			continue // the design folder sits beside the checkout in CI, not in every clone
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range fence.FindAllStringSubmatch(string(data), -1) {
			info, body := strings.TrimSpace(m[1]), m[2]
			if !strings.Contains(body, "apiVersion:") {
				continue // a fragment of a field, not a resource
			}
			checked++
			name := filepath.Base(file) + "#" + string(rune('0'+i%10))
			_, errs := Load([]Input{{Name: name, Data: []byte(body)}}, ValidateOptions{})
			switch {
			case info == "invalid" && len(errs) == 0:
				t.Errorf("%s: example %d is marked invalid but validates:\n%s", file, i+1, body)
			case info != "invalid" && len(errs) > 0:
				t.Errorf("%s: example %d does not validate:\n%v\n%s", file, i+1, errs, body)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no YAML examples found: the test is not looking in the right place")
	}
	t.Logf("checked %d examples", checked)
}
