package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// checkError is a probe that reached the target and got the wrong answer:
// its text is the whole reason ("status 503 from /healthz").
type checkError struct{ reason string }

func (e *checkError) Error() string { return e.reason }

func failf(format string, args ...any) error {
	return &checkError{reason: fmt.Sprintf(format, args...)}
}

// phaseError records which step of a probe failed, so that a timeout or a
// reset can say where it happened.
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

func inPhase(phase string, err error) error {
	if err == nil {
		return nil
	}
	var ce *checkError
	if errors.As(err, &ce) {
		return err
	}
	return &phaseError{phase: phase, err: err}
}

// isTimeout reports whether err is a deadline or I/O timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// describe turns a probe error into the reason an operator reads in the
// state ("connection refused", "timeout after 1s (reading the greeting)").
// timedOut says that the probe's own deadline expired, which beats whatever
// error the interrupted I/O produced.
func describe(err error, timeout time.Duration, timedOut bool) string {
	var ce *checkError
	if errors.As(err, &ce) {
		return ce.reason
	}
	phase := ""
	var pe *phaseError
	if errors.As(err, &pe) {
		phase = " (" + pe.phase + ")"
	}
	if timedOut || isTimeout(err) {
		return "timeout after " + timeout.String() + phase
	}
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	var verifyErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dnsErr):
		return "dns: " + dnsErr.Err + " (" + dnsErr.Name + ")"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer" + phase
	case errors.Is(err, syscall.EPIPE):
		return "connection closed by peer" + phase
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by peer" + phase
	case errors.As(err, &unknownCA):
		return "tls: certificate signed by unknown authority"
	case errors.As(err, &hostErr):
		return "tls: " + hostErr.Error()
	case errors.As(err, &invalidCert):
		return "tls: " + invalidCert.Error()
	case errors.As(err, &verifyErr):
		return "tls: " + verifyErr.Err.Error()
	case errors.As(err, &recordErr):
		return "tls: server did not answer with TLS (plain-text service?)"
	case errors.As(err, &alert):
		return "tls: handshake refused by server: " + alert.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error() + phase
	}
	if pe != nil {
		return pe.phase + ": " + pe.err.Error()
	}
	return err.Error()
}
