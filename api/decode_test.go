package api

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func load(t *testing.T, yaml string) (*Loaded, ErrorList) {
	t.Helper()
	return Load([]Input{{Name: "test.yaml", Data: []byte(yaml)}}, ValidateOptions{})
}

func mustLoad(t *testing.T, yaml string) *Loaded {
	t.Helper()
	l, errs := load(t, yaml)
	if len(errs) > 0 {
		t.Fatalf("unexpected errors:\n%v", errs)
	}
	return l
}

const minimalPool = `
apiVersion: fulcrum/v1
kind: Pool
metadata: {name: web}
spec:
  members: [{address: "127.0.0.1:9001"}]
`

func TestDecodeYAML12Scalars(t *testing.T) {
	// `on` is the name of a real field; YAML 1.1 would read it as true.
	l := mustLoad(t, minimalPool+`  retries: {attempts: 1, on: [reset]}
  stickySession: {cookie: "yes", sameSite: Lax}
`)
	p := l.Config.Pools[0]
	if got := p.Spec.Retries.On; !cmp.Equal(got, []string{"reset"}) {
		t.Errorf("retries.on = %v", got)
	}
	if p.Spec.StickySession.Cookie != "yes" {
		t.Errorf("cookie = %q", p.Spec.StickySession.Cookie)
	}
}

func TestDecodeJSONForms(t *testing.T) {
	obj := `{"apiVersion":"fulcrum/v1","kind":"Pool","metadata":{"name":"%s"},"spec":{"members":[{"address":"127.0.0.1:1"}]}}`
	for name, input := range map[string]string{
		"object": fmt.Sprintf(obj, "a"),
		"array":  "[" + fmt.Sprintf(obj, "a") + "," + fmt.Sprintf(obj, "b") + "]",
		"stream": fmt.Sprintf(obj, "a") + "\n" + fmt.Sprintf(obj, "b"),
		"list":   `{"apiVersion":"v1","kind":"List","items":[` + fmt.Sprintf(obj, "a") + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			l, errs := Load([]Input{{Name: "x.json", Data: []byte(input)}}, ValidateOptions{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if len(l.Config.Pools) == 0 {
				t.Fatal("no pools decoded")
			}
		})
	}
}

func TestDecodeRejectsDuplicateKeys(t *testing.T) {
	for name, input := range map[string]string{
		"yaml": "apiVersion: fulcrum/v1\nkind: Pool\nkind: Pool\nmetadata: {name: a}\nspec: {members: []}\n",
		"json": `{"apiVersion":"fulcrum/v1","kind":"Pool","metadata":{"name":"a","name":"b"},"spec":{"members":[]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, errs := Load([]Input{{Name: "f", Data: []byte(input)}}, ValidateOptions{})
			if len(errs) != 1 || !strings.Contains(errs[0].Reason, "already defined") && !strings.Contains(errs[0].Reason, "duplicate key") {
				t.Fatalf("want one duplicate-key error, got %v", errs)
			}
		})
	}
}

func TestDocumentNumbering(t *testing.T) {
	input := "# leading comment\n---\n" + minimalPool + "---\n# only a comment\n---\n" +
		strings.Replace(minimalPool, "name: web", "name: api", 1) + "  bogus: 1\n"
	_, errs := load(t, input)
	if len(errs) != 1 {
		t.Fatalf("want 1 error, got %v", errs)
	}
	want := "test.yaml: document 2: Pool/api: spec.bogus: unknown field"
	if got := errs[0].Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestAliasBombRejectedQuickly(t *testing.T) {
	// The classic "billion laughs": nine levels of nine-fold aliases.
	var b strings.Builder
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		fmt.Fprintf(&b, "%c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = string(c)
	}
	bomb := "apiVersion: fulcrum/v1\nkind: Pool\nmetadata: {name: bomb}\nspec:\n  members: []\n" +
		"  x:\n" + indent(b.String(), "    ")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, errs := load(t, bomb)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if len(errs) == 0 || !strings.Contains(errs.Error(), "alias bomb") {
		t.Fatalf("alias bomb not rejected: %v", errs)
	}
	if elapsed > time.Second {
		t.Errorf("rejection took %v; want < 1s", elapsed)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 50<<20 {
		t.Errorf("allocated %d MiB; want < 50 MiB", grown>>20)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestSizeLimits(t *testing.T) {
	lim := InputLimits{MaxFileBytes: 1000, MaxDocumentBytes: 200, MaxObjects: 2}
	big := minimalPool + "  # " + strings.Repeat("x", 300) + "\n"
	_, errs := Load([]Input{{Name: "f", Data: []byte(big)}}, ValidateOptions{Limits: lim})
	if len(errs) != 1 || !strings.Contains(errs[0].Reason, "the limit is 200") {
		t.Errorf("document limit: %v", errs)
	}
	_, errs = Load([]Input{{Name: "f", Data: []byte(strings.Repeat(" ", 1001))}}, ValidateOptions{Limits: lim})
	if len(errs) != 1 || !strings.Contains(errs[0].Reason, "the limit is 1000") {
		t.Errorf("file limit: %v", errs)
	}
	three := minimalPool + "---" + strings.Replace(minimalPool, "web", "b", 1) + "---" + strings.Replace(minimalPool, "web", "c", 1)
	_, errs = Load([]Input{{Name: "f", Data: []byte(three)}}, ValidateOptions{Limits: InputLimits{MaxFileBytes: 1 << 20, MaxDocumentBytes: 1 << 20, MaxObjects: 2}})
	if len(errs) != 1 || !strings.Contains(errs[0].Reason, "3 objects; the limit is 2") {
		t.Errorf("object limit: %v", errs)
	}
}

func TestDeepNestingRejected(t *testing.T) {
	deep := minimalPool + "  x: " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\n"
	_, errs := load(t, deep)
	if len(errs) != 1 || !strings.Contains(errs[0].Reason, "nested more than") {
		t.Errorf("got %v", errs)
	}
}

func TestNotAnObject(t *testing.T) {
	_, errs := load(t, "- a\n- b\n")
	if len(errs) != 1 || !strings.Contains(errs[0].Reason, "must be an object") {
		t.Errorf("got %v", errs)
	}
}
