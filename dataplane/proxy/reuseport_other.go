//go:build !linux

package proxy

import "syscall"

// reusePort does nothing where SO_REUSEPORT is not known to behave like
// Linux's: one data plane per host and port there.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
