//go:build linux

package l4

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"unsafe"
)

const (
	spliceMove     = 0x1  // SPLICE_F_MOVE
	spliceNonblock = 0x2  // SPLICE_F_NONBLOCK
	fSetPipeSize   = 1031 // F_SETPIPE_SZ
	// pipeSize is what one splice moves at most; like Go's own splice it
	// is 1 MiB, so a bulk transfer makes about two system calls per MiB.
	// Pipe pages are allocated as they fill, so an empty pipe costs
	// little.
	pipeSize = 1 << 20
	// maxIdlePipes bounds the pipes kept for reuse.
	maxIdlePipes = 256
)

// pipe is a kernel pipe used as the splice buffer of one direction while
// it transfers.
type pipe struct{ r, w int }

// pipePool lends pipes to directions that have data to move: a direction
// waiting for data holds none, so idle connections cost no pipe file
// descriptors (Go's io.Copy holds one per direction for the whole wait).
type pipePool struct {
	mu   sync.Mutex
	free []*pipe
}

var pipes pipePool

func (pp *pipePool) get() (*pipe, error) {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	// A smaller pipe still works, with more system calls: ignore errors.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fSetPipeSize, pipeSize)
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// put returns an empty pipe.
func (pp *pipePool) put(p *pipe) {
	pp.mu.Lock()
	if len(pp.free) < maxIdlePipes {
		pp.free = append(pp.free, p)
		pp.mu.Unlock()
		return
	}
	pp.mu.Unlock()
	p.close()
}

func (p *pipe) close() {
	syscall.Close(p.r)
	syscall.Close(p.w)
}

// splicer is one direction's state; its methods are the callbacks given
// to RawConn.Read and Write, bound once per direction so the loop
// allocates nothing.
type splicer struct {
	p      *pipe
	n      int64
	err    error
	inPipe int
	eof    bool

	// Small transfers are copied through buf: for a few hundred bytes a
	// read and a write cost the kernel less than two splices through a
	// pipe. A read that fills buf switches the direction to splice, a
	// splice that moves less than a buffer switches it back.
	spliced  bool
	buf      *[]byte
	off, end int
	copied   int64
	dstRaw   syscall.RawConn
	sk       *sink
	cb       callbacks
}

// callbacks are the splicer's methods bound once per direction, so the
// loop allocates nothing.
type callbacks struct{ drain, pump, relay, write, writeNow func(uintptr) bool }

// smallBufSize is the copy buffer; a read that fills it means bulk.
const smallBufSize = 16 << 10

var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}

// relay is the copy mode's read callback. It reads, writes what it read
// to the destination at once (without waiting), and after a short read
// parks without another read: a short read took everything the socket
// had, and new data raises a new readiness edge within this RawConn.Read
// call (nginx does the same), which saves a read that would only return
// EAGAIN. It returns true at end of stream, on an error, when the
// destination is full, or when a full buffer says the flow is bulk.
func (s *splicer) relay(fd uintptr) bool {
	if s.buf == nil {
		s.buf = smallBufs.Get().(*[]byte)
	}
	for {
		s.n, s.err = rawIO(syscall.SYS_READ, int(fd), *s.buf)
		if s.err != syscall.EINTR {
			break
		}
	}
	switch {
	case s.err == syscall.EAGAIN:
		s.err = nil
		s.putBuf()
		return false
	case s.err != nil:
		return true
	case s.n == 0:
		s.eof = true
		return true
	}
	s.sk.add(s.n)
	s.off, s.end = 0, int(s.n)
	if err := s.dstRaw.Write(s.cb.writeNow); err != nil {
		s.err = err
	}
	if s.err != nil || s.off < s.end || s.end == smallBufSize {
		if s.end == smallBufSize {
			s.spliced = true
		}
		return true
	}
	s.putBuf()
	return false
}

func (s *splicer) putBuf() {
	if s.buf != nil {
		smallBufs.Put(s.buf)
		s.buf = nil
	}
}

// writeNow writes buf[off:end] as far as the socket takes it now.
func (s *splicer) writeNow(fd uintptr) bool { return s.writeBuf(fd, false) }

// write is writeNow that waits for writability (returns false on EAGAIN).
func (s *splicer) write(fd uintptr) bool { return s.writeBuf(fd, true) }

// writeBuf writes buf[off:end]. On EAGAIN it returns !wait: false asks
// RawConn.Write to wait for writability and call again, true stops here.
func (s *splicer) writeBuf(fd uintptr, wait bool) bool {
	for s.off < s.end {
		n, err := rawIO(syscall.SYS_WRITE, int(fd), (*s.buf)[s.off:s.end])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return !wait
		case err != nil:
			s.err = err
			return true
		}
		s.off += int(n)
		s.copied += n
	}
	return true
}

// rawIO is read(2) or write(2) on a non-blocking descriptor, without the
// scheduler's system-call bookkeeping (see splice).
func rawIO(trap uintptr, fd int, b []byte) (int64, error) {
	r, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int64(r), nil
}

// drain moves what the socket has into the pipe. It returns false to wait
// for readability, giving the pipe back meanwhile.
func (s *splicer) drain(fd uintptr) bool {
	if s.p == nil {
		if s.p, s.err = pipes.get(); s.err != nil {
			return true
		}
	}
	for {
		s.n, s.err = splice(int(fd), s.p.w, pipeSize)
		if s.err != syscall.EINTR {
			break
		}
	}
	if s.err == syscall.EAGAIN {
		pipes.put(s.p)
		s.p = nil
		return false
	}
	return true
}

// pump moves the pipe's bytes to the socket; false waits for writability.
func (s *splicer) pump(fd uintptr) bool {
	for {
		s.n, s.err = splice(s.p.r, int(fd), s.inPipe)
		if s.err != syscall.EINTR {
			break
		}
	}
	return s.err != syscall.EAGAIN
}

// splice is splice(2) without the scheduler's system-call bookkeeping:
// every descriptor involved is non-blocking, so the call cannot block, and
// letting the runtime hand the P to another thread during it (as
// syscall.Splice may when a loopback send runs the peer's receive path
// inline) only adds context switches.
func splice(from, to, n int) (int64, error) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_SPLICE, uintptr(from), 0, uintptr(to), 0, uintptr(n), spliceMove|spliceNonblock)
	if errno != 0 {
		return int64(r), errno
	}
	return int64(r), nil
}

var errSpliceStalled = errors.New("splice moved no byte")

// spliceCopy relays src to dst until src reaches end of stream (nil
// error) or something fails: bulk data through a pipe, in the kernel;
// small messages through a pooled buffer. It returns the bytes spliced and
// copied. Deadlines and Close on either connection interrupt it.
func spliceCopy(dst, src *net.TCPConn, sk *sink) (spliced, copied int64, err error) {
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	s := &splicer{dstRaw: dstRaw, sk: sk}
	s.cb = callbacks{drain: s.drain, pump: s.pump, relay: s.relay, write: s.write, writeNow: s.writeNow}
	defer s.release(&err)
	for {
		var eof bool
		if s.spliced {
			var n int64
			n, eof, err = s.spliceOnce(srcRaw, dstRaw, &s.cb, sk)
			spliced += n
			s.spliced = n >= smallBufSize
		} else {
			eof, err = s.copyOnce(srcRaw, dstRaw)
		}
		if err != nil || eof {
			return spliced, s.copied, err
		}
	}
}

// release gives back the pipe and the buffer. A pipe that may still hold
// bytes (after an error) is closed instead.
func (s *splicer) release(err *error) {
	s.putBuf()
	if s.p == nil {
		return
	}
	if *err == nil && s.inPipe == 0 {
		pipes.put(s.p)
	} else {
		s.p.close()
	}
	s.p = nil
}

// spliceOnce moves what src has (up to a pipe) to dst.
func (s *splicer) spliceOnce(srcRaw, dstRaw syscall.RawConn, cb *callbacks, sk *sink) (int64, bool, error) {
	if err := srcRaw.Read(cb.drain); err != nil {
		return 0, false, err
	}
	if s.err != nil {
		return 0, false, s.err
	}
	if s.n == 0 {
		return 0, true, nil // end of stream
	}
	sk.add(s.n)
	s.inPipe = int(s.n)
	var moved int64
	for s.inPipe > 0 {
		if err := dstRaw.Write(cb.pump); err != nil {
			return moved, false, err
		}
		if s.err != nil {
			return moved, false, s.err
		}
		if s.n == 0 {
			return moved, false, errSpliceStalled
		}
		s.inPipe -= int(s.n)
		moved += s.n
	}
	return moved, false, nil
}

// copyOnce relays in copy mode until end of stream, an error, or bulk
// data; it finishes a write the destination could not take at once.
func (s *splicer) copyOnce(srcRaw, dstRaw syscall.RawConn) (bool, error) {
	if err := srcRaw.Read(s.cb.relay); err != nil {
		return false, err
	}
	if s.err != nil {
		return false, s.err
	}
	if s.eof {
		return true, nil
	}
	if s.off < s.end {
		if err := dstRaw.Write(s.cb.write); err != nil {
			return false, err
		}
		if s.err != nil {
			return false, s.err
		}
	}
	s.putBuf()
	return false, nil
}
