package translator

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fulcrumlb/fulcrum/api"
)

// FuzzTranslate decodes, defaults and validates arbitrary input with
// api.Load; whatever api accepts must translate (only missing allocations
// may fail), every resource must pass Validate, and rendering must work.
// The seed corpus is the golden inputs, whole and cut into documents:
// small inputs keep more of the fuzzer's mutations valid.
func FuzzTranslate(f *testing.F) {
	for _, data := range goldenInputs(f) {
		f.Add(data)
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			f.Add(doc)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, errs := api.Load([]api.Input{{Name: "fuzz.yaml", Data: data}}, api.ValidateOptions{})
		if len(errs) > 0 {
			return
		}
		for _, opt := range []Options{standalone, {}} {
			res, err := Translate(l.Config, opt)
			if err != nil {
				if onlyUnallocated(err) {
					continue
				}
				t.Fatalf("Translate(%+v) of a valid configuration: %v", opt, err)
			}
			if err := res.Validate(); err != nil {
				t.Fatalf("Validate(%+v): %v", opt, err)
			}
			if _, err := res.JSON(RenderOptions{Redact: true}); err != nil {
				t.Fatalf("JSON: %v", err)
			}
		}
	})
}

// onlyUnallocated reports whether every joined error is about a frontend
// still waiting for an allocation.
func onlyUnallocated(err error) bool {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		if !errors.Is(e, ErrUnallocated) {
			return false
		}
	}
	return true
}
