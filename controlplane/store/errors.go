package store

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fulcrumlb/fulcrum/api"
)

// Sentinel errors. Every error the store returns wraps at most one of them,
// so the REST API can map it to a status code with errors.Is.
var (
	// ErrNotFound: the object, revision, member or token does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a precondition failed — a metadata.revision (If-Match)
	// that is not the stored one, or a token that already exists (409/412).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request is invalid. When the change would make the
	// configuration invalid the error is a *ValidationError carrying an
	// api.ErrorList with every error and its path (422); otherwise the
	// request itself is malformed — an unknown kind, a bad continue token
	// (400).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: etcd did not confirm the operation — unreachable, no
	// quorum, no leader, timed out, or too contended. A write that fails
	// this way may or may not have been committed: re-read before retrying
	// anything that is not idempotent (503).
	ErrUnavailable = errors.New("unavailable")
	// ErrTooLarge: the change does not fit in one etcd transaction
	// (--max-request-bytes, --max-txn-ops) (413).
	ErrTooLarge = errors.New("too large")
	// ErrFenced: a health write whose fence (the election key's create
	// revision) no longer holds — the writer is not the leader any more.
	ErrFenced = errors.New("fenced: not the leader any more")
)

// ValidationError is a change rejected whole: every error with its object
// and field path. errors.As(err, &list) with an api.ErrorList also works.
type ValidationError struct {
	Errors api.ErrorList
}

// Error lists every error, one per line.
func (e *ValidationError) Error() string {
	return "store: invalid configuration:\n" + e.Errors.Error()
}

// Unwrap makes errors.Is(err, ErrInvalid) and errors.As(err, &api.ErrorList{}) work.
func (e *ValidationError) Unwrap() []error { return []error{ErrInvalid, e.Errors} }

func invalid(list api.ErrorList) error {
	list.Sort()
	return &ValidationError{Errors: list}
}

// ConflictError is a failed revision precondition on one object.
type ConflictError struct {
	// Ref is "Kind/name".
	Ref string
	// Expected is the revision the caller gave; Actual the stored one (0
	// when the object does not exist).
	Expected, Actual int64
}

// Error names the object and both revisions.
func (e *ConflictError) Error() string {
	if e.Actual == 0 {
		return fmt.Sprintf("store: %s: revision %d expected, but the object does not exist", e.Ref, e.Expected)
	}
	return fmt.Sprintf("store: %s: revision %d expected, but the stored object is at revision %d", e.Ref, e.Expected, e.Actual)
}

// Unwrap makes errors.Is(err, ErrConflict) work.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func notFound(format string, args ...any) error {
	return fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), ErrNotFound)
}

// etcdErr classifies an error from the etcd client. Anything that is not
// recognisably the caller's fault means etcd did not confirm the request,
// so it wraps ErrUnavailable: the API must never report success, and 503
// invites a retry.
func etcdErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		isCode(err, codes.ResourceExhausted) && !errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("store: %s: %w: %w", op, ErrTooLarge, err)
	case isCode(err, codes.PermissionDenied), isCode(err, codes.Unauthenticated), isCode(err, codes.InvalidArgument):
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return fmt.Errorf("store: %s: %w: %w", op, ErrUnavailable, err)
}

func isCode(err error, c codes.Code) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == c
	}
	if s, ok := status.FromError(err); ok {
		return s.Code() == c
	}
	return false
}
