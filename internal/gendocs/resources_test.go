package gendocs

import (
	"bytes"
	"os"
	"testing"
)

// TestResourcesUpToDate fails when docs/resources.md no longer matches the
// api package: regenerate it with `go run ./internal/gendocs/cmd`.
func TestResourcesUpToDate(t *testing.T) {
	want, err := Resources("../../api")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/resources.md")
	if err != nil {
		t.Fatalf("%v: run `go run ./internal/gendocs/cmd`", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/resources.md is stale: run `go run ./internal/gendocs/cmd` and commit the result")
	}
	for _, s := range []string{"`spec.members[].weight`", "`spec.healthCheck.interval`", "`2s`", "`spec.frontend.limits.maxHeaderBytes`"} {
		if !bytes.Contains(want, []byte(s)) {
			t.Errorf("reference lacks %s", s)
		}
	}
}
