package api

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// deepCopy copies an object through JSON: objects are small and copied only
// on configuration changes, so clarity beats speed here.
func deepCopy[T any](v *T) *T {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("api: deep copy: %v", err))
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		panic(fmt.Sprintf("api: deep copy: %v", err))
	}
	return out
}

// Redacted replaces secret values in printed output.
const Redacted = "<redacted>"

// Redact returns a copy of an object with private keys and passwords
// replaced by Redacted, for output that people or logs will see.
func Redact(o Object) Object {
	o = o.DeepCopyObject()
	var fe *Frontend
	switch v := o.(type) {
	case *Pool:
		fe = v.Spec.Frontend
		if hc := v.Spec.HealthCheck; hc != nil && hc.Password != "" {
			hc.Password = Redacted
		}
	case *Listener:
		fe = &v.Spec.Frontend
	}
	if fe != nil && fe.TLS != nil {
		for i := range fe.TLS.Certificates {
			if fe.TLS.Certificates[i].Key != "" {
				fe.TLS.Certificates[i].Key = Redacted
			}
		}
	}
	return o
}

// readLimited reads at most limit+1 bytes, so that Decode can report an
// oversized input with its name instead of the reader running out of memory.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, int64(limit)+1))
}

func readFileLimited(name string, limit int) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, limit)
}
