// Package version reports the build's version, stamped by the Makefile with
// -ldflags "-X github.com/fulcrumlb/fulcrum/internal/version.Version=...".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release or `git describe` of this build.
var Version = "dev"

// Commit is the git commit of this build, when known.
var Commit = ""

// String describes the build in one line.
func String() string {
	commit := Commit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("fulcrum %s (commit %s, %s, %s/%s)", Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
