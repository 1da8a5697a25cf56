package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// maxTCPReply is how much of a reply the expect regex sees.
const maxTCPReply = 4 << 10

// tcpProber connects and, when configured, sends a payload and matches the
// reply.
type tcpProber struct {
	send   []byte
	expect *regexp.Regexp
}

func newTCPProber(t *TCPCheck) (*tcpProber, error) {
	p := &tcpProber{}
	if t == nil {
		return p, nil
	}
	p.send = []byte(t.Send)
	if t.Expect != "" {
		re, err := regexp.Compile(t.Expect)
		if err != nil {
			return nil, fmt.Errorf("health: tcp.expect: %w", err)
		}
		p.expect = re
	}
	return p, nil
}

func (p *tcpProber) probe(ctx context.Context, addr string) error {
	conn, done, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	if len(p.send) > 0 {
		if _, err := conn.Write(p.send); err != nil {
			return inPhase("sending", err)
		}
	}
	if p.expect == nil {
		return nil
	}
	// Read until the reply matches, the peer closes, the buffer is full or
	// the deadline passes: a reply may arrive in several segments.
	buf := make([]byte, 0, 512)
	for len(buf) < maxTCPReply {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):min(cap(buf), maxTCPReply)])
		buf = buf[:len(buf)+n]
		if p.expect.Match(buf) {
			return nil
		}
		if err != nil {
			if len(buf) == 0 {
				if errors.Is(err, io.EOF) {
					return failf("connection closed by peer before replying")
				}
				return inPhase("waiting for the reply", err)
			}
			if errors.Is(err, io.EOF) {
				return failf("reply did not match %q (got %s)", p.expect.String(), excerpt(buf))
			}
			return inPhase(fmt.Sprintf("reply so far %s did not match %q", excerpt(buf), p.expect.String()), err)
		}
	}
	return failf("reply did not match %q in its first %d bytes (got %s)", p.expect.String(), maxTCPReply, excerpt(buf))
}
