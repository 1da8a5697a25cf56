// Package proxycmd is `fulcrum proxy`: a data plane configured from files
// (reloaded when they change or on SIGHUP) or, later, from a control plane.
// It imports no control-plane package, so the slim fulcrum-proxy binary
// stays free of etcd.
package proxycmd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/fulcrumlb/fulcrum/api"
	"github.com/fulcrumlb/fulcrum/dataplane/proxy"
	"github.com/fulcrumlb/fulcrum/translator"
)

// FileSource feeds a proxy from configuration files: the same path the
// control plane uses (decode, validate, translate), then Apply.
type FileSource struct {
	Files []string
	Proxy *proxy.Proxy
	Log   *slog.Logger
	// Stdin is read for the file "-" (read once: it cannot change).
	Stdin io.Reader

	mu      sync.Mutex
	applied string // digest of the inputs in force
}

// ErrInvalid wraps configuration errors that were logged one per line.
var ErrInvalid = errors.New("invalid configuration")

// Reload reads the files and applies them if they changed since the last
// successful apply (or if force is set, e.g. on SIGHUP, which also re-reads
// certificate files that the configuration names). An invalid configuration
// is logged with every error and its path, and the running one stays.
func (s *FileSource) Reload(force bool) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inputs, err := api.ReadInputs(s.Files, s.Stdin)
	if err != nil {
		return false, fmt.Errorf("reading configuration: %w", err)
	}
	digest := digestOf(inputs)
	if digest == s.applied && !force {
		return false, nil
	}
	version := digest[:12]
	loaded, list := api.Load(inputs, api.ValidateOptions{CheckFiles: true})
	if len(list) > 0 {
		for _, e := range list {
			s.Log.Error("configuration error: "+e.Error(), "version", version)
		}
		s.Proxy.Reject(version, list)
		return false, fmt.Errorf("%w: %d error(s); the running configuration stays", ErrInvalid, len(list))
	}
	for _, w := range loaded.Warnings {
		s.Log.Warn("configuration warning: "+w.Error(), "version", version)
	}
	res, err := translator.Translate(loaded.Config, translator.Options{ActiveHealthChecks: true, DefaultAddress: "127.0.0.1"})
	if err != nil {
		s.Log.Error("configuration error: "+err.Error(), "version", version)
		s.Proxy.Reject(version, err)
		return false, fmt.Errorf("%w: the running configuration stays", ErrInvalid)
	}
	if err := s.Proxy.Apply(version, res); err != nil {
		s.Log.Error(err.Error(), "version", version)
		return false, fmt.Errorf("%w: the running configuration stays", ErrInvalid)
	}
	s.applied = digest
	return true, nil
}

// digestOf hashes the inputs, names included, so that any edit is seen.
func digestOf(inputs []api.Input) string {
	h := sha256.New()
	for _, in := range inputs {
		fmt.Fprintf(h, "%s\x00%d\x00", in.Name, len(in.Data))
		h.Write(in.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stdinOnly reports whether every file is standard input (nothing to watch).
func stdinOnly(files []string) bool {
	for _, f := range files {
		if f != "-" {
			return false
		}
	}
	return true
}

// statAll returns a cheap change signature of the files (size and mtime),
// so the watcher reads contents only when something moved.
func statAll(files []string) string {
	h := sha256.New()
	for _, f := range files {
		if f == "-" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(h, "%s missing\x00", f)
			continue
		}
		fmt.Fprintf(h, "%s %d %d\x00", f, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))
}
