package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/apiclient"
)

// configTypes are the media types of configuration bodies. Requiring one
// of them (or JSON for the other routes) is also a CSRF defence in depth:
// an HTML form can only send form encodings and text/plain.
var configTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/json"}

// maxJSONBody bounds the small JSON bodies (rollback, tokens, login).
const maxJSONBody = 64 << 10

func mediaTypeOf(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// requireMediaType answers 415 unless the body is one of types.
func requireMediaType(r *http.Request, types ...string) error {
	if slices.Contains(types, mediaTypeOf(r)) {
		return nil
	}
	got := r.Header.Get("Content-Type")
	if got == "" {
		got = "none"
	}
	return errorf(apiclient.CodeUnsupportedMediaType, "Content-Type %s is not accepted here: use %s", got, strings.Join(types, " or "))
}

// readBody reads at most limit bytes of the body; more is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errorf(apiclient.CodeTooLarge, "the body is larger than %d bytes", limit)
	case err != nil:
		return nil, errorf(apiclient.CodeBadRequest, "reading the body: %v", err)
	}
	return data, nil
}

// readConfig reads a YAML or JSON configuration body.
func (s *Server) readConfig(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := requireMediaType(r, configTypes...); err != nil {
		return nil, err
	}
	return readBody(w, r, s.maxBody)
}

// readJSON decodes a small JSON body strictly: unknown fields are errors,
// as they are in configuration.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireMediaType(r, "application/json"); err != nil {
		return err
	}
	data, err := readBody(w, r, maxJSONBody)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(apiclient.CodeBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(apiclient.CodeBadRequest, "invalid JSON body: more than one value")
	}
	return nil
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string, max int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, errorf(apiclient.CodeBadRequest, "query parameter %s=%q: want an integer from 0 to %d", name, v, max)
	}
	return n, nil
}

// queryBool parses an optional boolean query parameter.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(apiclient.CodeBadRequest, "query parameter %s=%q: want true or false", name, v)
	}
	return b, nil
}

// principal returns the request's principal; routes with a role always
// have one.
func principal(r *http.Request) *Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}
