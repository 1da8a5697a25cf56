package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/bench/internal/stats"
)

// Bulk sends perConn bytes on each of conns TCP connections to addr and
// waits until the member has read them all (it closes after the end of
// the stream, which the proxy relays back).
func Bulk(addr string, conns int, perConn int64) error {
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
			errs <- bulkOne(addr, block, perConn)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func bulkOne(addr string, block []byte, perConn int64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	for left := perConn; left > 0; {
		n := min(left, int64(len(block)))
		if _, err := c.Write(block[:n]); err != nil {
			return err
		}
		left -= n
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("loadgen: bulk: waiting for the member's close: %v", err)
	}
	return nil
}

// RRResult is what a request/response run measured.
type RRResult struct {
	Tx, Lost int64
	Latency  stats.Latencies
	Elapsed  time.Duration
}

// TCPRR runs conns TCP connections to addr, each writing size bytes and
// reading the echo back, as fast as it can for d.
func TCPRR(addr string, conns, size int, d time.Duration) (*RRResult, error) {
	return runClients(conns, d, func() (roundTripper, error) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return &tcpRT{c: c, msg: make([]byte, size), buf: make([]byte, size)}, nil
	})
}

// UDPRR is TCPRR over UDP: one socket per client; a reply that does not
// come within 200 ms counts as lost.
func UDPRR(addr string, clients, size int, d time.Duration) (*RRResult, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return runClients(clients, d, func() (roundTripper, error) {
		c, err := net.DialUDP("udp", nil, ua)
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
	_ = t.c.SetDeadline(time.Now().Add(5 * time.Second))
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

func runClients(n int, d time.Duration, dial func() (roundTripper, error)) (*RRResult, error) {
	rts := make([]roundTripper, 0, n)
	defer func() {
		for _, rt := range rts {
			rt.close()
		}
	}()
	for range n {
		rt, err := dial()
		if err != nil {
			return nil, err
		}
		rts = append(rts, rt)
	}
	var stop atomic.Bool
	res := &RRResult{}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for _, rt := range rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat stats.Latencies
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
				lat.Add(time.Since(t0))
			}
			mu.Lock()
			res.Latency.Merge(&lat)
			res.Lost += lost
			if err != nil && firstErr == nil && !stop.Load() {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Tx = int64(res.Latency.Len())
	return res, firstErr
}
