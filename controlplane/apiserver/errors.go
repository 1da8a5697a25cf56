package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/apiclient"
	"github.com/fulcrumlb/fulcrum/controlplane/store"
)

// apiError is an answer other than success: a status, the JSON error body,
// and the cause, which is logged (never sent) for internal errors.
type apiError struct {
	body  apiclient.Error
	cause error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.body.Message + ": " + e.cause.Error()
	}
	return e.body.Message
}

// errorf makes an error answer with a code and a message.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{body: apiclient.Error{Status: apiclient.StatusOf(code), Code: code, Message: fmt.Sprintf(format, args...)}}
}

// invalid is a 422 carrying every field error.
func invalid(message string, list api.ErrorList) *apiError {
	e := errorf(apiclient.CodeInvalid, "%s", message)
	e.body.Details = details(list)
	return e
}

// details converts field errors, scrubbing values of secret fields out of
// the reasons: a decoding error may quote what it could not decode, and
// no answer may carry a password or a private key.
func details(list api.ErrorList) []apiclient.Detail {
	out := apiclient.DetailsOf(list)
	for i := range out {
		if isSecretPath(out[i].Path) {
			out[i].Reason = scrubReason(out[i].Reason)
		}
	}
	return out
}

var secretPath = regexp.MustCompile(`(^|\.)(password|certificates\[\d+\]\.key)$`)

func isSecretPath(path string) bool { return secretPath.MatchString(path) }

// scrubReason cuts a reason at its first quotation or parenthesised hint,
// which is where decoding errors quote the offending value.
func scrubReason(reason string) string {
	if i := strings.IndexAny(reason, `("`); i >= 0 {
		return strings.TrimSpace(reason[:i]) + " (value not shown: secret field)"
	}
	return reason
}

// fromStore maps a store error to its answer. ifMatch says whether the
// request's precondition came from an If-Match header (412) rather than
// from metadata.revision in the body (409).
func fromStore(err error, ifMatch bool) *apiError {
	var verr *store.ValidationError
	var cerr *store.ConflictError
	var aerr *apiError
	switch {
	case errors.As(err, &aerr):
		return aerr
	case errors.As(err, &verr):
		return invalid(fmt.Sprintf("the configuration has %d error(s): nothing was written", len(verr.Errors)), verr.Errors)
	case errors.As(err, &cerr):
		code := apiclient.CodeConflict
		if ifMatch {
			code = apiclient.CodePreconditionFailed
		}
		e := errorf(code, "%s", strings.TrimPrefix(cerr.Error(), "store: "))
		e.body.Details = []apiclient.Detail{{Ref: cerr.Ref, Path: "metadata.revision",
			Reason: fmt.Sprintf("revision %d expected, stored revision is %d", cerr.Expected, cerr.Actual)}}
		return e
	case errors.Is(err, store.ErrConflict):
		return errorf(apiclient.CodeConflict, "%s", strings.TrimPrefix(err.Error(), "store: "))
	case errors.Is(err, store.ErrNotFound):
		return errorf(apiclient.CodeNotFound, "%s", strings.TrimPrefix(err.Error(), "store: "))
	case errors.Is(err, store.ErrTooLarge):
		return errorf(apiclient.CodeTooLarge, "the change is too large for one transaction: split it")
	case errors.Is(err, store.ErrInvalid):
		return errorf(apiclient.CodeBadRequest, "%s", strings.TrimPrefix(err.Error(), "store: "))
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e := errorf(apiclient.CodeUnavailable, "the configuration store did not confirm the operation; if it was a change, read before retrying")
		e.cause = err
		return e
	}
	e := errorf(apiclient.CodeInternal, "internal error")
	e.cause = err
	return e
}

// setCommonHeaders marks every answer as private and not to be sniffed.
func setCommonHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writeJSON writes v as the answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

// writeError writes any error as the API's JSON error; errors that are
// not *apiError are internal and their text stays in the log.
func writeError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	var e *apiError
	if !errors.As(err, &e) {
		e = fromStore(err, false)
	}
	switch e.body.Code {
	case apiclient.CodeUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="fulcrum"`)
	case apiclient.CodeUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if e.body.Code == apiclient.CodeInternal || e.body.Code == apiclient.CodeUnavailable {
		log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "code", e.body.Code, "err", e.cause)
	}
	writeJSON(w, apiclient.StatusOf(e.body.Code), e.body)
}
