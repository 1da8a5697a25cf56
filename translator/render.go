package translator

import (
	"bytes"
	"encoding/json"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/fulcrumlb/fulcrum/api"
)

// RenderOptions tune JSON rendering.
type RenderOptions struct {
	// Redact replaces inline private keys and every "password" field of a
	// google.protobuf.Struct (the MySQL health check's typed config and its
	// metadata) with api.Redacted, for output people or logs will see.
	Redact bool
}

// protoJSON renders Envoy's field names (snake_case), as docs/xds.md and
// Envoy's own config dumps do; Any types resolve through the global registry,
// where this package's imports register every type it emits.
var protoJSON = protojson.MarshalOptions{UseProtoNames: true}

// MarshalJSON renders the resources without redaction; see JSON.
func (r *Resources) MarshalJSON() ([]byte, error) { return r.JSON(RenderOptions{}) }

// JSON renders every resource as stable, indented JSON: an object with the
// lists "listeners", "routes", "clusters" and "endpoints". protojson
// deliberately varies its whitespace, so its output is re-indented with
// encoding/json, which makes the bytes depend on the resources only.
func (r *Resources) JSON(opt RenderOptions) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	lists := []struct {
		key  string
		msgs []proto.Message
	}{
		{"listeners", messages(r.Listeners)},
		{"routes", messages(r.Routes)},
		{"clusters", messages(r.Clusters)},
		{"endpoints", messages(r.Endpoints)},
	}
	for i, l := range lists {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "%q:[", l.key)
		for j, m := range l.msgs {
			if j > 0 {
				buf.WriteByte(',')
			}
			if opt.Redact {
				m = proto.Clone(m)
				if err := redact(m.ProtoReflect()); err != nil {
					return nil, err
				}
			}
			js, err := protoJSON.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("translator: rendering %s: %w", l.key, err)
			}
			buf.Write(js)
		}
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("translator: rendering: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func messages[T proto.Message](list []T) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

// redact walks a message, unpacking every Any, and blanks secrets in place.
func redact(m protoreflect.Message) error {
	switch msg := m.Interface().(type) {
	case *anypb.Any:
		inner, err := msg.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("translator: redacting %s: %w", msg.GetTypeUrl(), err)
		}
		if err := redact(inner.ProtoReflect()); err != nil {
			return err
		}
		return anypb.MarshalFrom(msg, inner, deterministic)
	case *tlsv3.TlsCertificate:
		switch msg.GetPrivateKey().GetSpecifier().(type) {
		case *corev3.DataSource_InlineString, *corev3.DataSource_InlineBytes:
			msg.PrivateKey = inlineOrFile(api.Redacted, "")
		}
	case *structpb.Struct:
		if v, ok := msg.Fields["password"]; ok && v.GetStringValue() != "" {
			msg.Fields["password"] = structpb.NewStringValue(api.Redacted)
		}
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = redactValue(fd, v)
		return err == nil
	})
	return err
}

// redactValue recurses into message, list and map fields.
func redactValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsList():
		if fd.Kind() != protoreflect.MessageKind {
			return nil
		}
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			if err := redact(l.Get(i).Message()); err != nil {
				return err
			}
		}
	case fd.IsMap():
		if fd.MapValue().Kind() != protoreflect.MessageKind {
			return nil
		}
		var err error
		v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
			err = redact(mv.Message())
			return err == nil
		})
		return err
	case fd.Kind() == protoreflect.MessageKind:
		return redact(v.Message())
	}
	return nil
}
