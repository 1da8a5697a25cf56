package l7

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/dataplane/l7/http1"
)

// h1conn is one downstream HTTP/1.1 connection. Its goroutine reads a
// request, routes it, runs the filters, exchanges it with a member and
// writes the response, then reads the next request (pipelined requests are
// answered in order). Everything per request lives in this struct and its
// pooled buffers, so a steady-state exchange allocates nothing.
type h1conn struct {
	s  *Server
	c  net.Conn
	rd connReader
	dl deadlines
	ip netip.Addr
	// ipText is the client address as written in X-Forwarded-For; ipRaw
	// its 4 or 16 bytes, for source-IP hashing.
	ipText []byte
	ipRaw  []byte

	bp   *iobuf
	buf  []byte
	r, w int // unread request bytes are buf[r:w]

	req   http1.Request
	resp  http1.Response
	chunk http1.ChunkedParser
	out   []byte // heads being written
	// scratch holds computed header values (request id, forwarding
	// headers, Set-Cookie) for the current request.
	scratch []byte
	set     []http1.Header
	addBuf  []http1.Header
	// removeBuf backs the Remove list when Expect is dropped.
	removeBuf [][]byte
	bodyErr   error
	edits     http1.Edits
	rEdits    http1.Edits
	carry     []byte // pipelined bytes read past a chunked body

	rs        reqState
	view      reqView
	uc        *upConn // the upstream connection of the current try
	bodyState h1body
	// bodyDone says the request body was read entirely from the client, so
	// the connection is in sync for another request.
	bodyDone bool
	nreq     int

	// idle is 1 while waiting for the first byte of a request; Drain wakes
	// idle connections so they close at once.
	idle atomic.Int32
	mu   sync.Mutex // guards closed and uc for forceClose
	dead bool
}

func newH1conn(s *Server, c net.Conn, ip netip.Addr) *h1conn {
	h := &h1conn{s: s, c: c, ip: ip}
	h.rd.init(c)
	h.bp = getBuf()
	h.buf = h.bp[:]
	h.ipText = ip.AppendTo(make([]byte, 0, 46))
	if ip.Is4() {
		a := ip.As4()
		h.ipRaw = a[:]
	} else {
		a := ip.As16()
		h.ipRaw = a[:]
	}
	h.out = make([]byte, 0, 4096)
	h.scratch = make([]byte, 0, 1024)
	h.set = make([]http1.Header, 0, 16)
	return h
}

// first reads the connection's first bytes (an HTTP/2 preface sends the
// connection to the HTTP/2 server instead). Drain may wake it.
func (h *h1conn) first() bool {
	h.idle.Store(1)
	defer h.idle.Store(0)
	if h.s.draining.Load() {
		return false
	}
	ht := h.s.cfg.Load().headerTimeout()
	h.dl.setRead(h.c, time.Now().Add(ht), tolerance(ht))
	return h.fill()
}

// isH2Preface reports whether the connection starts with the HTTP/2
// client preface (prior knowledge, h2c).
func (h *h1conn) isH2Preface() bool {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	for h.w-h.r < len(preface) && string(h.buf[h.r:h.w]) == preface[:h.w-h.r] {
		if !h.fill() {
			return false
		}
	}
	return string(h.buf[h.r:min(h.w, h.r+len(preface))]) == preface
}

// fill reads more request bytes into buf, compacting it first if it is
// full. It returns false on error or EOF.
func (h *h1conn) fill() bool {
	if h.w == len(h.buf) {
		if h.r == 0 {
			return false
		}
		h.w = copy(h.buf, h.buf[h.r:h.w])
		h.r = 0
	}
	n, err := h.rd.Read(h.buf[h.w:])
	h.w += n
	return n > 0 || err == nil
}

func (h *h1conn) free() {
	if h.bp != nil {
		putBuf(h.bp)
		h.bp = nil
		h.buf = nil
	}
}

// wakeIfIdle makes a connection that waits for a request give up now
// (Drain); a busy connection closes after its current response.
func (h *h1conn) wakeIfIdle() {
	if h.idle.Load() == 1 {
		// Only the connection's goroutine tracks h.dl; it ends after this.
		h.c.SetReadDeadline(aLongTimeAgo)
	}
}

// forceClose closes the connection and its upstream connection (Drain
// after its deadline).
func (h *h1conn) forceClose() {
	h.mu.Lock()
	h.dead = true
	if h.uc != nil {
		h.uc.c.Close()
	}
	h.mu.Unlock()
	h.c.Close()
}

func (h *h1conn) setUpstream(uc *upConn) {
	h.mu.Lock()
	h.uc = uc
	dead := h.dead
	h.mu.Unlock()
	if dead && uc != nil {
		uc.c.Close()
	}
}

// serve is the connection's request loop.
func (h *h1conn) serve() {
	defer h.c.Close()
	defer h.free()
	for {
		cfg := h.s.cfg.Load()
		headLen, err := h.readHead(cfg)
		if err != nil {
			h.readFailed(err)
			return
		}
		if !h.handle(h.s.cfg.Load(), headLen) {
			return
		}
		h.nreq++
	}
}

// readHead reads until a complete request head is buffered. It waits for
// the first byte up to the idle timeout and for the rest of the head up to
// the header timeout (slowloris).
func (h *h1conn) readHead(cfg *lconfig) (int, error) {
	if h.r == h.w {
		h.r, h.w = 0, 0
		h.idle.Store(1)
		h.s.nIdle.Add(1)
		if h.s.draining.Load() {
			h.s.nIdle.Add(-1)
			return 0, io.EOF
		}
		idle := cfg.idleTimeout()
		h.dl.setRead(h.c, time.Now().Add(idle), tolerance(idle))
		yieldBeforeRead()
		ok := h.fill()
		h.s.nIdle.Add(-1)
		h.idle.Store(0)
		if !ok {
			return 0, io.EOF
		}
	}
	deadline := false
	for {
		n, err := http1.ParseRequest(h.buf[h.r:h.w], &h.req, &cfg.limits)
		if err != http1.ErrNeedMore {
			return n, err
		}
		if !deadline {
			ht := cfg.headerTimeout()
			h.dl.setRead(h.c, time.Now().Add(ht), tolerance(ht))
			deadline = true
		}
		if h.w == len(h.buf) && h.r == 0 && !h.grow(cfg) {
			return 0, errHeadTooLarge
		}
		if !h.fill() {
			if h.r == h.w {
				return 0, io.EOF
			}
			return 0, errHeadTimeout
		}
	}
}

var (
	errHeadTooLarge = &http1.Error{Status: 431, Reason: "request head too large"}
	errHeadTimeout  = &http1.Error{Status: 408, Reason: "request head not received in time"}
)

// grow replaces the pooled buffer by a larger private one for a head that
// does not fit, up to the listener's maximum head size.
func (h *h1conn) grow(cfg *lconfig) bool {
	limit := cfg.limits.MaxHeadBytes
	if limit <= 0 {
		limit = http1.DefaultLimits.MaxHeadBytes
	}
	if len(h.buf) >= limit+bufSize {
		return false
	}
	nb := make([]byte, min(2*len(h.buf), limit+bufSize))
	h.w = copy(nb, h.buf[h.r:h.w])
	h.r = 0
	putBuf(h.bp)
	h.bp = nil
	h.buf = nb
	return true
}

// readFailed answers a request that could not be read: a parser *Error
// gets its status (400, 413, 414, 417, 431, 501, 505), a header timeout
// with bytes received gets 408; then the connection closes.
func (h *h1conn) readFailed(err error) {
	var pe *http1.Error
	if !errors.As(err, &pe) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || h.r == h.w {
			return
		}
		pe = errHeadTimeout
	}
	h.dl.setWrite(h.c, time.Now().Add(time.Second), 0)
	h.out = http1.AppendError(h.out[:0], pe.Status)
	h.c.Write(h.out)
	h.s.cfg.Load().notFound.codes[0][classOf(pe.Status)].Inc()
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
