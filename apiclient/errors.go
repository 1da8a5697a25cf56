package apiclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes of the API's JSON errors, one per HTTP status (403 has two).
const (
	CodeBadRequest           = "bad_request"            // 400: malformed request
	CodeUnauthorized         = "unauthorized"           // 401: no token, or an invalid or expired one
	CodeForbidden            = "forbidden"              // 403: the token's role may not do this
	CodeCSRF                 = "csrf_failed"            // 403: a cookie session's mutation without its X-CSRF-Token
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409: a metadata.revision precondition, an existing token name
	CodePreconditionFailed   = "precondition_failed"    // 412: If-Match does not match
	CodeTooLarge             = "too_large"              // 413: body or change too large
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInvalid              = "invalid"                // 422: validation failed; Details has every error
	CodeUnavailable          = "unavailable"            // 503: the store did not confirm; retry
	CodeInternal             = "internal"               // 500
)

// StatusOf returns the HTTP status of an error code.
func StatusOf(code string) int {
	switch code {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden, CodeCSRF:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeConflict:
		return http.StatusConflict
	case CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeInvalid:
		return http.StatusUnprocessableEntity
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is the API's JSON error, {code, message, details}; the client
// returns it for every non-2xx answer.
type Error struct {
	// Status is the HTTP status code (not part of the JSON body).
	Status  int      `json:"-"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

// Error returns the message and, one per line, every detail.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if b.Len() == 0 {
		fmt.Fprintf(&b, "HTTP %d %s", e.Status, e.Code)
	}
	for _, d := range e.Details {
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	return b.String()
}

// HasCode reports whether err is an *Error with the given code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool { return HasCode(err, CodeNotFound) }
