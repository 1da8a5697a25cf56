package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// servers are the members every contender proxies to: a discard sink for
// bulk transfers and echo servers for request/response, TCP and UDP.
type servers struct {
	bulk, rr net.Listener
	udp      net.PacketConn
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func startServers() (*servers, error) {
	s := &servers{conns: map[net.Conn]bool{}}
	var err error
	if s.bulk, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.rr, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
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

func (s *servers) addrs() backends {
	return backends{bulk: s.bulk.Addr().String(), rr: s.rr.Addr().String(), udp: s.udp.LocalAddr().String()}
}

func (s *servers) serve(ln net.Listener, handle func(net.Conn)) {
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

func (s *servers) close() {
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

// bulkLoad sends perConn bytes on each of conns connections and waits
// until the member has read them all (it closes after end of stream).
func bulkLoad(port, conns int, perConn int64) error {
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for left := perConn; left > 0; {
				n := min(left, int64(len(block)))
				if _, err := c.Write(block[:n]); err != nil {
					errs <- err
					return
				}
				left -= n
			}
			_ = c.(*net.TCPConn).CloseWrite()
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				errs <- fmt.Errorf("bulk: waiting for the member's close: %v", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// rrResult is what a request/response run measured.
type rrResult struct {
	tx       int64
	p50, p99 time.Duration
	lost     int64
}

// rrLoad runs conns TCP connections, each sending size bytes and reading
// the echo back, as fast as it can for d.
func rrLoad(port, conns, size int, d time.Duration) (rrResult, error) {
	return runClients(conns, d, func() (roundTripper, error) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return nil, err
		}
		return &tcpRT{c: c, msg: make([]byte, size), buf: make([]byte, size)}, nil
	})
}

// udpLoad is rrLoad over UDP: one socket per client.
func udpLoad(port, clients, size int, d time.Duration) (rrResult, error) {
	return runClients(clients, d, func() (roundTripper, error) {
		c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return nil, err
		}
		return &udpRT{c: c, msg: make([]byte, size), buf: make([]byte, 2048)}, nil
	})
}

type roundTripper interface {
	// roundTrip returns false for a lost datagram, an error for a broken
	// connection.
	roundTrip() (bool, error)
	close()
}

type tcpRT struct {
	c        net.Conn
	msg, buf []byte
}

func (t *tcpRT) roundTrip() (bool, error) {
	if _, err := t.c.Write(t.msg); err != nil {
		return false, err
	}
	_, err := io.ReadFull(t.c, t.buf)
	return err == nil, err
}

func (t *tcpRT) close() { t.c.Close() }

type udpRT struct {
	c        *net.UDPConn
	msg, buf []byte
}

func (u *udpRT) roundTrip() (bool, error) {
	if _, err := u.c.Write(u.msg); err != nil {
		return false, err
	}
	_ = u.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := u.c.Read(u.buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil
	}
	return err == nil, err
}

func (u *udpRT) close() { u.c.Close() }

func runClients(n int, d time.Duration, dial func() (roundTripper, error)) (rrResult, error) {
	rts := make([]roundTripper, 0, n)
	defer func() {
		for _, rt := range rts {
			rt.close()
		}
	}()
	for range n {
		rt, err := dial()
		if err != nil {
			return rrResult{}, err
		}
		rts = append(rts, rt)
	}
	var stop atomic.Bool
	var res rrResult
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for _, rt := range rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			var lost int64
			var err error
			for !stop.Load() {
				t0 := time.Now()
				var ok bool
				if ok, err = rt.roundTrip(); err != nil {
					break
				}
				if !ok {
					lost++
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			res.lost += lost
			if err != nil && firstErr == nil && !stop.Load() {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	res.tx = int64(len(lat))
	if len(lat) > 0 {
		slices.Sort(lat)
		res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return res, firstErr
}
