package translator

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// deterministic marshals maps (google.protobuf.Struct) in key order, so
// that packed typed configs are byte-identical across runs.
var deterministic = proto.MarshalOptions{Deterministic: true}

// typed packs a message in an Any. Marshalling a generated message cannot
// fail; a failure would be a bug in the protobuf runtime, hence the panic.
func typed(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, deterministic); err != nil {
		panic(fmt.Sprintf("translator: packing %T: %v", m, err))
	}
	return a
}

// dur converts a duration; durations are never negative in a valid config.
func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// u32 converts a validated, bounded int to a UInt32Value.
func u32(n int) *wrapperspb.UInt32Value { return wrapperspb.UInt32(clampU32(n)) }

// clampU32 keeps a validated int inside uint32, so that even a value the
// validator let through cannot wrap around.
func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case int64(n) > int64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(n)
}

// adsSource is the ConfigSource of every EDS and RDS reference: the same
// ADS stream, API version 3.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// header builds a header to add with the given append action.
func header(key, value string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, Value: value},
		AppendAction: action,
	}
}

// dataSource is an inline string or a file name.
func inlineOrFile(inline, file string) *corev3.DataSource {
	if inline != "" {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: inline}}
	}
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: file}}
}
