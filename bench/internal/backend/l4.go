// Package backend holds the Go members the benchmarks proxy to, the same
// for every contender: L4 discard and echo servers (run inside the
// harness, next to the load), an HTTP server that answers "ok" and echoes
// WebSockets, and a gRPC server with the standard health service (both
// run as child processes so they can be pinned and killed).
package backend

import (
	"io"
	"net"
	"sync"
)

// L4 are the members of the L4 benchmark: a discard sink for bulk
// transfers, and TCP and UDP echo servers for request/response.
type L4 struct {
	bulk, rr net.Listener
	udp      net.PacketConn
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

// StartL4 listens on three loopback ports and serves until Close.
func StartL4() (*L4, error) {
	s := &L4{conns: map[net.Conn]bool{}}
	var err error
	if s.bulk, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.rr, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.bulk.Close()
		return nil, err
	}
	if s.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		s.bulk.Close()
		s.rr.Close()
		return nil, err
	}
	s.serve(s.bulk, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	s.serve(s.rr, echo)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := s.udp.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = s.udp.WriteTo(buf[:n], from)
		}
	}()
	return s, nil
}

// BulkAddr, RRAddr and UDPAddr are the members' addresses.
func (s *L4) BulkAddr() string { return s.bulk.Addr().String() }

// RRAddr is the TCP echo member.
func (s *L4) RRAddr() string { return s.rr.Addr().String() }

// UDPAddr is the UDP echo member.
func (s *L4) UDPAddr() string { return s.udp.LocalAddr().String() }

func (s *L4) serve(ln net.Listener, handle func(net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
}

// Close stops the servers and every connection.
func (s *L4) Close() {
	s.bulk.Close()
	s.rr.Close()
	s.udp.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo answers each read with the same bytes, through a user-space
// buffer as an ordinary server would.
func echo(c net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
