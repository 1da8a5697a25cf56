package runtime

import (
	"errors"
	"fmt"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

func durOf(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// unpack decodes a typed config, naming the extension in the error.
func unpack(name string, a *anypb.Any, m proto.Message) error {
	if a == nil {
		return fmt.Errorf("%s: missing typed_config", name)
	}
	if err := a.UnmarshalTo(m); err != nil {
		return fmt.Errorf("%s: unsupported typed_config %s: %w", name, a.GetTypeUrl(), err)
	}
	return nil
}

// dataSource reads a file, inline bytes or an inline string.
func dataSource(ds *corev3.DataSource) ([]byte, error) {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_Filename:
		return os.ReadFile(s.Filename)
	case *corev3.DataSource_InlineBytes:
		return s.InlineBytes, nil
	case *corev3.DataSource_InlineString:
		return []byte(s.InlineString), nil
	}
	return nil, errors.New("empty data source")
}
